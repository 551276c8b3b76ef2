//! Bytes of a message, archive or XML file → reports, all in memory (`read_reports`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ruadb_report::fuzz::whole(data));
