//! The byte budget under the IMAP client: any server bytes, cut into any chunks, lex to the
//! same result, and what is passed on never exceeds what came in by more than the markers of
//! dropped literals.
#![no_main]

use ruadb_fetch::{Lexer, ReplyLimits};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let limits = ReplyLimits {
        max_line: 64,
        max_text: 256,
        max_literal: 32,
        max_reply: 512,
        max_literals_per_response: 3,
        max_lines: 8,
        drop_oversized_literals: control & 1 == 1,
    };
    let chunk = usize::from(control >> 1).max(1);

    let mut whole = Lexer::new(limits);
    let mut whole_out = Vec::new();
    let whole_result = whole.feed(input, &mut whole_out);

    let mut split = Lexer::new(limits);
    let mut split_out = Vec::new();
    let mut split_result = Ok(());
    for piece in input.chunks(chunk) {
        split_result = split.feed(piece, &mut split_out);
        if split_result.is_err() {
            break;
        }
    }
    assert_eq!(whole_result, split_result);
    if whole_result.is_ok() {
        whole.finish(&mut whole_out);
        split.finish(&mut split_out);
        assert_eq!(whole_out, split_out);
        assert_eq!(whole.dropped(), split.dropped());
        if whole.dropped().is_empty() {
            assert_eq!(whole_out, input);
        }
        assert!(whole_out.len() <= input.len() + 2 * whole.dropped().len());
    }
});
