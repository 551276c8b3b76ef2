//! The TLS part of the weekly summary, on the DMARC fixtures of `fixtures/summary/` plus the
//! SMTP TLS reports of `fixtures/tlsrpt/` (synthetic):
//!
//! | File                          | Week | Domain      | Sessions ok / failed | Failures                          |
//! |-------------------------------|------|-------------|----------------------|-----------------------------------|
//! | google-2026-11-10.json        | W46  | example.com | 4,000 / 4            | validation-failure at mx1         |
//! | google-2026-11-17.json        | W47  | example.com | 5,000 / 120          | certificate-expired at mx1 (100), |
//! |                               |      |             |                      | starttls-not-supported at mx2 (20)|
//! | microsoft-2026-11-18.eml      | W47  | example.com | 3,000 / 3            | sts-policy-fetch-error (3)        |
//! | (same report, second policy)  | W47  | example.org | 40 / 0               | — (no-policy-found)               |

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_store::{MessageSource, Store, StoreOptions};
use ruadb_summary::{Summary, render_html, render_markdown, render_text, summarise};
use std::path::{Path, PathBuf};

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(dir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    paths
}

fn store_with(dirs: &[&str]) -> Store {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let mut batch = store.begin_batch().unwrap();
    for path in dirs.iter().flat_map(|dir| fixtures(dir)) {
        let name = path.display().to_string();
        let outcome = batch
            .ingest_bytes(
                &std::fs::read(&path).unwrap(),
                &MessageSource::File { path: name.clone() },
            )
            .unwrap();
        assert!(outcome.errors.is_empty(), "{name}: {:?}", outcome.errors);
    }
    batch.commit().unwrap();
    store
}

fn w47(store: &Store) -> Summary {
    summarise(store, "2026-W47".parse().unwrap(), None).unwrap()
}

/// The TLS part of a rendering: from its heading to the next blank line before a heading.
fn tls_section(rendered: &str, heading: &str) -> String {
    rendered
        .split(heading)
        .skip(1)
        .map(|rest| {
            let end = rest
                .find("\nReporters")
                .or_else(|| rest.find("\n### Reporters"));
            format!("{heading}{}", &rest[..end.unwrap_or(rest.len())])
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[test]
fn tls_totals_failures_and_advice() {
    let summary = w47(&store_with(&["summary", "tlsrpt"]));
    let com = summary
        .domains
        .iter()
        .find(|d| d.domain == "example.com")
        .unwrap();
    let tls = com.tls.as_ref().unwrap();
    assert_eq!(tls.totals.reports, 2);
    assert_eq!(
        (tls.totals.successful_sessions, tls.totals.failed_sessions),
        (8_000, 123)
    );
    assert_eq!(tls.totals.failure_rate, Some(0.0151));
    assert_eq!(
        (
            tls.previous.reports,
            tls.previous.successful_sessions,
            tls.previous.failed_sessions
        ),
        (1, 4_000, 4)
    );
    assert_eq!(tls.policy_types, ["sts"]);
    let by_type: Vec<(&str, u64)> = tls
        .by_result_type
        .iter()
        .map(|c| (c.name.as_str(), c.sessions))
        .collect();
    assert_eq!(
        by_type,
        [
            ("certificate-expired", 100),
            ("starttls-not-supported", 20),
            ("sts-policy-fetch-error", 3)
        ]
    );
    let by_mx: Vec<(&str, u64)> = tls
        .by_receiving_mx
        .iter()
        .map(|c| (c.name.as_str(), c.sessions))
        .collect();
    assert_eq!(
        by_mx,
        [
            ("mx1.example.com", 100),
            ("mx2.example.com", 20),
            ("unknown MX", 3)
        ]
    );
    assert!(tls.advice[0].starts_with("Renew the certificate of mx1.example.com"));
    assert!(tls.advice[2].contains("https://mta-sts.example.com/.well-known/mta-sts.txt"));

    let org = summary
        .domains
        .iter()
        .find(|d| d.domain == "example.org")
        .unwrap();
    let tls = org.tls.as_ref().unwrap();
    assert_eq!(tls.policy_types, ["no-policy-found"]);
    assert_eq!(
        (tls.totals.successful_sessions, tls.totals.failed_sessions),
        (40, 0)
    );
    assert!(tls.advice.is_empty() && tls.by_result_type.is_empty());
}

#[test]
fn tls_sections_render_in_every_format() {
    let summary = w47(&store_with(&["summary", "tlsrpt"]));
    let text = render_text(&summary);
    insta::assert_snapshot!("w47_tls_text", tls_section(&text, "TLS (SMTP TLS reports)"));
    assert!(
        text.lines().all(|line| line.chars().count() <= 80),
        "{text}"
    );
    let markdown = render_markdown(&summary);
    insta::assert_snapshot!(
        "w47_tls_markdown",
        tls_section(&markdown, "### TLS (SMTP TLS reports)")
    );
    let json = serde_json::to_value(&summary).unwrap();
    let tls: Vec<&serde_json::Value> = json["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|domain| &domain["tls"])
        .collect();
    insta::assert_snapshot!("w47_tls_json", serde_json::to_string_pretty(&tls).unwrap());
    // HTML: the TLS tables of the first domain (example.com), between its sources and its
    // reporters.
    let html = render_html(&summary);
    let start = html.find("TLS (SMTP TLS reports)</h3>").unwrap();
    let end = html[start..].find(">Reporters</h3>").unwrap();
    insta::assert_snapshot!(
        "w47_tls_html",
        html[start..start + end].replace("<tr>", "\n<tr>")
    );
}

#[test]
fn a_domain_without_tls_reports_shows_nothing_extra() {
    let summary = w47(&store_with(&["summary"]));
    let json = serde_json::to_value(&summary).unwrap();
    for domain in json["domains"].as_array().unwrap() {
        assert!(domain.get("tls").is_none(), "{domain}");
    }
    assert!(!render_text(&summary).contains("TLS"));
    assert!(!render_markdown(&summary).contains("TLS"));
    assert!(!render_html(&summary).contains("TLS"));
}

#[test]
fn a_domain_with_only_tls_reports_is_listed() {
    let summary = w47(&store_with(&["tlsrpt"]));
    let names: Vec<&str> = summary.domains.iter().map(|d| d.domain.as_str()).collect();
    assert_eq!(names, ["example.com", "example.org"]);
    assert_eq!(summary.domains[0].totals.reports, 0);
    assert!(summary.domains[0].tls.is_some());
}
