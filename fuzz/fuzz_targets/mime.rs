//! The MIME walker alone: split a message into parts, decode and name each.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ruadb_report::fuzz::mime(data));
