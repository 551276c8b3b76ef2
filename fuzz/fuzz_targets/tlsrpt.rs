//! The SMTP TLS report (JSON) parser alone, on one document.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ruadb_report::fuzz::tlsrpt(data));
