//! Fetch throughput against the loopback Dovecot: 1,000 report mails (gzip, zip and XML
//! attachments), fetched in batches of 200 with `BODY.PEEK[]`.
//!
//! Ignored by default (it seeds 1,000 messages); run it with
//! `cargo test --release -p ruadb-fetch --test throughput -- --ignored --nocapture`
//! after `eval "$(scripts/imap-test-server.sh env)"`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

mod support;

use std::time::Instant;

use ruadb_fetch::Session;
use support::mail::{Packing, report_message};
use support::server::{TestServer, fresh_user};

const MESSAGES: u32 = 1_000;
const BATCH: usize = 200;

#[test]
#[ignore = "seeds 1,000 messages; run explicitly to measure"]
fn fetch_throughput_1000_report_mails() {
    let Some(server) = TestServer::from_env("fetch_throughput_1000_report_mails") else {
        return;
    };
    let user = fresh_user("throughput");
    let config = server.config(&user);
    let mut session = Session::connect(&config).unwrap();
    let seeding = Instant::now();
    for index in 0..MESSAGES {
        let packing = match index % 3 {
            0 => Packing::Gzip,
            1 => Packing::Zip,
            _ => Packing::Xml,
        };
        let ip = format!("198.51.100.{}", index % 250 + 1);
        let message = report_message(
            packing,
            "example.net",
            &format!("tp-{index}"),
            "example.com",
            &ip,
            index % 7 + 1,
        );
        session.append("INBOX", &message).unwrap();
    }
    let seeded = seeding.elapsed();
    session.logout().unwrap();

    let started = Instant::now();
    let mut session = Session::connect(&config).unwrap();
    session.select("INBOX").unwrap();
    let uids = session.uids_after(0).unwrap();
    assert_eq!(uids.len(), MESSAGES as usize);
    let mut bytes = 0usize;
    let mut fetched = 0usize;
    for chunk in uids.chunks(BATCH) {
        for message in session.fetch(chunk).unwrap().messages() {
            bytes += message.bytes.len();
            fetched += 1;
        }
    }
    session.logout().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(fetched, MESSAGES as usize);
    println!(
        "seeded {MESSAGES} messages with APPEND in {:.2} s; fetched {fetched} messages ({:.1} KiB) in {elapsed:.3} s: {:.0} messages/s, {:.1} MiB/s (connect + login + select + search included)",
        seeded.as_secs_f64(),
        bytes as f64 / 1024.0,
        fetched as f64 / elapsed,
        bytes as f64 / elapsed / 1024.0 / 1024.0
    );
}
