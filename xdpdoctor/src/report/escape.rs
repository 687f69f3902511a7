//! Names that come from the system, made safe to show. Process names, interface names,
//! namespace names and file names are chosen by whoever created them, unprivileged users
//! included (a process in its own namespace can call itself `\e[31mEVIL\e[0m\a`; an
//! interface may be named `\e[2K`). Printed raw, their control characters drive the
//! operator's terminal (erase lines, move the cursor, retitle the window), a bidi override
//! (U+202E) reverses what follows, and a NUL or ESC makes XML invalid. Every renderer runs
//! such text through one of these:
//!
//! - [`text`]: for a line of text: each character that is not safe to print (C0 and C1
//!   controls, DEL, bidi overrides and isolates, zero-width and line/paragraph separators,
//!   the BOM) becomes a visible escape, `\x1b` or `\u{202e}`;
//! - [`lines`]: the same, keeping newlines and tabs (multi-line text we compose);
//! - [`json`]: a serialized JSON document in which what serde_json leaves raw (DEL, C1,
//!   bidi, separators) is written as `\uXXXX` (C0 it escapes itself);
//! - [`xml`]: XML character data or an attribute value: `& < > " '` as entities, and
//!   characters XML 1.0 cannot hold at all (C0 but tab, newline and CR; U+FFFE/U+FFFF) and
//!   the unsafe ones above as visible escapes.

use std::borrow::Cow;

/// Whether `s` is printable ASCII (with newline, tab and CR): then nothing in it is unsafe,
/// found with one byte scan (the common case, on every line a trace prints).
pub fn plain_ascii(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t' || b == b'\r')
}

/// Whether `c` must not reach a terminal raw.
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{FFFE}'
                | '\u{FFFF}'
        )
}

/// The visible escape of `c`: `\x1b` for ASCII and C1 controls, `\u{202e}` otherwise.
fn push_escape(out: &mut String, c: char) {
    use std::fmt::Write;
    let _ = if (c as u32) < 0x100 {
        write!(out, "\\x{:02x}", c as u32)
    } else {
        write!(out, "\\u{{{:04x}}}", c as u32)
    };
}

fn escaped(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if (plain_ascii(s) && !s.bytes().any(|b| b < 0x20 && !keep(b as char)))
        || !s.chars().any(|c| unsafe_char(c) && !keep(c))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) && !keep(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of text: every unsafe character escaped (newlines and tabs too).
pub fn text(s: &str) -> Cow<'_, str> {
    escaped(s, |_| false)
}

/// Text of several lines: like [`text`], but newlines and tabs stay.
pub fn lines(s: &str) -> Cow<'_, str> {
    escaped(s, |c| c == '\n' || c == '\t')
}

/// A serialized JSON document with every unsafe character serde_json leaves raw written as
/// `\uXXXX` (surrogate pairs above the BMP are not needed: none is unsafe). Such characters
/// occur only inside strings (the syntax is ASCII, and serde_json escapes C0 controls in
/// strings), so the document means the same; the whitespace between tokens (newline, tab,
/// CR) stays.
pub fn json(doc: String) -> String {
    let escape = |c: char| unsafe_char(c) && !matches!(c, '\n' | '\t' | '\r');
    if plain_ascii(&doc) || !doc.chars().any(escape) {
        return doc;
    }
    use std::fmt::Write;
    let mut out = String::with_capacity(doc.len() + 16);
    for c in doc.chars() {
        if escape(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// XML character data or attribute value (quotes included), valid XML 1.0 whatever `s`
/// holds.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            c if unsafe_char(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str = "\u{1b}[31mEVIL\u{1b}[0m\u{7}";

    #[test]
    fn terminal_escapes_become_visible() {
        assert_eq!(text(EVIL), "\\x1b[31mEVIL\\x1b[0m\\x07");
        assert_eq!(text("a\0b\u{202e}c\u{85}d"), "a\\x00b\\u{202e}c\\x85d");
        assert_eq!(text("x\ny"), "x\\x0ay");
        assert_eq!(lines("x\ny\tz\r"), "x\ny\tz\\x0d");
        assert!(matches!(text("ve-m1 é ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_stays_json_and_shows_no_raw_control() {
        let doc = serde_json::to_string_pretty(&serde_json::json!({
            "name": format!("{EVIL}\u{202e}\u{9b}x"),
        }))
        .unwrap();
        let safe = json(doc);
        assert!(safe.contains('\n'), "pretty layout kept: {safe}");
        assert!(!safe.chars().any(|c| unsafe_char(c) && c != '\n'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["name"], format!("{EVIL}\u{202e}\u{9b}x"));
    }

    #[test]
    fn xml_is_valid_whatever_the_name() {
        let x = xml(&format!("<a&\"'{EVIL}\0\u{fffe}"));
        assert_eq!(
            x,
            "&lt;a&amp;&quot;&apos;\\x1b[31mEVIL\\x1b[0m\\x07\\x00\\u{fffe}"
        );
        assert!(x.chars().all(|c| c == '\n' || c == '\t' || !unsafe_char(c)));
    }
}
