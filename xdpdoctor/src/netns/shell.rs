//! Words of the shell commands xdpdoctor prints for operators to paste (a plan's equivalent
//! commands, manual fixes): namespace and interface names come from whoever created them,
//! and an interface may legally be called `$(reboot)` (the kernel refuses only `/`, `:`,
//! whitespace and NUL). [`quote`] makes such a word one literal argument.

use std::borrow::Cow;

/// `s` as one shell word: unchanged when it holds only characters no shell treats specially
/// (letters, digits, `_ - . / : = @ % + ,`), else in single quotes (a `'` inside written
/// `'\''`).
pub fn quote(s: &str) -> Cow<'_, str> {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if plain {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("'{}'", s.replace('\'', "'\\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_words_stay_bare() {
        assert_eq!(quote("ve-m1"), "ve-m1");
        assert_eq!(quote("/proc/12/ns/net"), "/proc/12/ns/net");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(quote("a'b"), "'a'\\''b'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("x;rm -rf /"), "'x;rm -rf /'");
    }
}
