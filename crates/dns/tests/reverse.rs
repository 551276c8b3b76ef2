//! Forward-confirmed reverse DNS against the real authoritative server that
//! `scripts/dns-test-server.sh` runs on 127.0.0.1 (its zones are described there), and a
//! port that never answers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on a broken setup"
)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

mod support;
use support::test_server;

use ruadb_dns::{DnsConfig, Resolver, Reverse};

fn resolver(server: SocketAddr) -> Resolver {
    Resolver::new(&DnsConfig {
        nameservers: vec![server],
        timeout: Duration::from_secs(2),
        concurrency: 8,
    })
    .unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn one(resolver: &Resolver, address: &str) -> Reverse {
    let answers =
        resolver.reverse_confirmed(&[ip(address)], Instant::now() + Duration::from_secs(10));
    assert_eq!(answers.len(), 1, "{answers:?}");
    answers.into_iter().next().unwrap().1
}

fn named(name: &str, confirmed: bool) -> Reverse {
    Reverse::Name {
        name: name.to_owned(),
        confirmed,
    }
}

#[test]
fn each_kind_of_answer() {
    let Some(server) = test_server("each_kind_of_answer") else {
        return;
    };
    let resolver = resolver(server);
    assert_eq!(
        one(&resolver, "192.0.2.10"),
        named("mail.example.com", true)
    );
    assert_eq!(
        one(&resolver, "192.0.2.17"),
        named("a17-1.smtp-out.amazonses.com", true)
    );
    // The PTR claims Amazon SES, but amazonses.com does not point the name back here.
    assert_eq!(
        one(&resolver, "192.0.2.11"),
        named("a11-1.smtp-out.amazonses.com", false)
    );
    assert_eq!(one(&resolver, "192.0.2.12"), Reverse::NoName);
    // PTR through a CNAME, forward through a chain of two CNAMEs.
    assert_eq!(
        one(&resolver, "192.0.2.13"),
        named("mx.cname.example.test", true)
    );
    assert_eq!(
        one(&resolver, "2001:db8::25"),
        named("mail6.example.test", true)
    );
    assert_eq!(
        one(&resolver, "198.51.100.5"),
        Reverse::Failed("Server Failure".to_owned())
    );
}

#[test]
fn hostile_names_come_back_as_data() {
    let Some(server) = test_server("hostile_names_come_back_as_data") else {
        return;
    };
    let resolver = resolver(server);
    // Control characters inside a label, and confirmed by its A record.
    assert_eq!(
        one(&resolver, "192.0.2.14"),
        named("evil\u{1b}[2j\u{7}.example.test", true)
    );
    let Reverse::Name { name, confirmed } = one(&resolver, "192.0.2.15") else {
        panic!("a 255-octet name is a name");
    };
    assert!(!confirmed);
    assert_eq!(name.len(), 253, "{name}");
    assert_eq!(
        one(&resolver, "192.0.2.16"),
        named("under_score.sp ace.do.t.example.test", false)
    );
}

#[test]
fn a_silent_server_costs_one_timeout_and_the_deadline_holds() {
    // Bound, never read: queries to it are never answered.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let resolver = Resolver::new(&DnsConfig {
        nameservers: vec![silent.local_addr().unwrap()],
        timeout: Duration::from_millis(300),
        concurrency: 4,
    })
    .unwrap();
    let started = Instant::now();
    assert_eq!(
        resolver.reverse_confirmed(&[ip("192.0.2.10")], started + Duration::from_secs(10)),
        vec![(ip("192.0.2.10"), Reverse::TimedOut)]
    );
    let one_query = started.elapsed();
    assert!(one_query < Duration::from_secs(2), "{one_query:?}");

    // 40 addresses, 4 at a time, 300 ms each would take 3 s; the deadline stops it at 0.5 s
    // and the unfinished addresses are left out.
    let many: Vec<IpAddr> = (1..=40).map(|n| ip(&format!("192.0.2.{n}"))).collect();
    let started = Instant::now();
    let answers = resolver.reverse_confirmed(&many, started + Duration::from_millis(500));
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert!(answers.len() < many.len(), "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(_, answer)| *answer == Reverse::TimedOut)
    );
}
