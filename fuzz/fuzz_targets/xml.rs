//! The XML report parser alone, on one document.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ruadb_report::fuzz::xml(data));
