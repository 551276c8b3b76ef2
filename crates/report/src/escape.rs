//! Text from outside (reports, archive member and attachment names, file names, server
//! replies) made safe to show to a person.
//!
//! Anyone can mail a report, so an org name, a report id or a zip member name may hold ESC
//! sequences that clear or retitle a terminal, a carriage return that overwrites the start of
//! a line, or a right-to-left override that makes text read differently from what it is.
//! Every human-facing output (text, tables, error lines) passes such text through
//! [`escape_for_terminal`]; JSON and CSV output carry it exactly, for programs.

use std::borrow::Cow;

/// `text` with every character that could act on a terminal instead of being shown spelt
/// out, visibly and naming the character:
///
/// - line feed, carriage return and tab become `\n`, `\r`, `\t`;
/// - the other C0 controls and DEL become `\xHH` (ESC is `\x1b`, BEL `\x07`);
/// - C1 controls (U+0080–U+009F), bidirectional controls (U+202A–U+202E, U+2066–U+2069,
///   U+200E, U+200F, U+061C) and the other invisible format characters (zero-width spaces
///   and joiners, U+2028/U+2029 line and paragraph separators, the BOM, tag characters)
///   become `\u{HHHH}`.
///
/// Anything else, letters of any script included, is unchanged; text with nothing to escape
/// is returned as it is, without a copy. A backslash is left as it is, so escaping is
/// idempotent: text that a layer below already escaped (a server's reply, a value quoted
/// with `{:?}`) comes out the same, never as `\\x1b`. The price is that a name holding the
/// four characters `\x1b` looks like one holding ESC; either way nothing acts on the terminal.
///
/// ```
/// use ruadb_report::escape_for_terminal;
/// assert_eq!(escape_for_terminal("Example Org"), "Example Org");
/// assert_eq!(escape_for_terminal("a\x1b[2Jb\u{202e}c"), r"a\x1b[2Jb\u{202e}c");
/// ```
pub fn escape_for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str(r"\n"),
            '\r' => escaped.push_str(r"\r"),
            '\t' => escaped.push_str(r"\t"),
            '\0'..='\x1f' | '\x7f' => escaped.push_str(&format!(r"\x{:02x}", u32::from(c))),
            c if needs_escape(c) => escaped.push_str(&format!(r"\u{{{:x}}}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

/// Format characters (Unicode category Cf) and separators that change how the text around
/// them is shown without being seen themselves.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}' // soft hyphen
            | '\u{61c}' // Arabic letter mark
            | '\u{180e}' // Mongolian vowel separator
            | '\u{200b}'..='\u{200f}' // zero-width space, non-joiner, joiner; LRM, RLM
            | '\u{2028}'..='\u{202e}' // line and paragraph separators; LRE, RLE, PDF, LRO, RLO
            | '\u{2060}'..='\u{206f}' // word joiner, invisible operators; LRI, RLI, FSI, PDI
            | '\u{feff}' // zero-width no-break space (BOM)
            | '\u{fff9}'..='\u{fffb}' // interlinear annotation controls
            | '\u{e0000}'..='\u{e007f}' // tag characters
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in [
            "",
            "google.com",
            "Mail.Ru",
            "Почта",
            "例え.テスト",
            "a-b_c.d:e/f@g",
        ] {
            assert!(matches!(escape_for_terminal(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn controls_and_format_characters_are_spelt_out() {
        let cases = [
            ("\x1b[2J\x1b]0;title\x07", r"\x1b[2J\x1b]0;title\x07"),
            ("a\rb\nc\td", r"a\rb\nc\td"),
            ("\0\x7f", r"\x00\x7f"),
            ("\u{85}\u{9b}31m", r"\u{85}\u{9b}31m"),
            ("evil\u{202e}lmx.zip", r"evil\u{202e}lmx.zip"),
            ("\u{2066}x\u{2069}\u{200f}", r"\u{2066}x\u{2069}\u{200f}"),
            ("zero\u{200b}width\u{feff}", r"zero\u{200b}width\u{feff}"),
            ("tag\u{e0041}", r"tag\u{e0041}"),
            (r"back\slash", r"back\slash"),
        ];
        for (raw, shown) in cases {
            assert_eq!(escape_for_terminal(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn escaping_twice_changes_nothing() {
        for text in [
            "a\x1b[2J\u{202e}b",
            r"c:\dir\file",
            "\r\n\t\u{85}",
            r"\u{1b}",
        ] {
            let once = escape_for_terminal(text).into_owned();
            assert_eq!(escape_for_terminal(&once), once, "{text:?}");
        }
    }

    #[test]
    fn every_control_character_is_escaped() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let escaped = escape_for_terminal(c.encode_utf8(&mut [0; 4])).into_owned();
            if c.is_control() || is_invisible_format(c) {
                assert!(escaped.starts_with('\\'), "{c:?}");
                assert!(escaped.chars().all(|c| c.is_ascii_graphic()), "{c:?}");
            }
        }
    }
}
