//! The same bytes through the streaming entry point (`read_reports_from` on a seekable reader).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ruadb_report::fuzz::container(data));
