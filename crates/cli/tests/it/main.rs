//! End-to-end tests of the `ruadb` binary on temporary databases, one binary for all modules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

// `ruadb summary --alerts`: one scenario per alert code, exit statuses.
mod alerts;
// The real-world corpus beside the repository, when present.
mod corpus;
// Configuration files, defaults and their errors.
mod config;
// Reverse DNS against the local test server: confirmation, caching, budgets, kills.
mod dns;
// `ruadb identify` and the identities in sources, summary and SQL.
mod identify;
// `[identify] ip_database`: network owner and country from MMDB files the tests write.
mod ip_database;
// `ruadb dns-check` against the local DNS server.
mod dns_check;
// `ruadb ingest`: inputs of every kind, idempotence, failures, domains, locking.
mod ingest;
// A mail service provider's 5,000 domains: exact answers for each.
mod many_domains;
// Stdin and mbox messages over `limits.max_message_mib`.
mod oversized;
// `ruadb parse`: the JSON Lines contract, the text summary, exit codes.
mod parse;
// `ruadb sql` and `ruadb sources`: formats and filters.
mod query;
// `ruadb summary --format html` and `--format email` end to end.
mod summary_formats;
// Controls and bidi overrides from outside escaped on human-facing output.
mod terminal;
// SMTP TLS reports: parse, ingest, views, dedupe, domains, reparse.
mod tlsrpt;
// Running the binary in an isolated environment.
mod util;
// Running the binary under GNU time for its peak memory.
#[path = "../proof/mod.rs"]
mod proof;
// Finding the DNS test server (shared with the DNS crates' tests).
#[path = "../../../dns/tests/support/mod.rs"]
mod dns_server;
