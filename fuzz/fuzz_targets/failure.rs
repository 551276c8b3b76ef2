//! The failure report reader alone: a message read as an ARF report or a text-only notice,
//! then made private.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ruadb_report::fuzz::failure(data));
