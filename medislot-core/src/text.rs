//! Text every store can hold: the one check that free text passes before it reaches a store.
//!
//! Stores differ in what they accept. PostgreSQL refuses the NUL character in `text` (SQLSTATE
//! 22021), while SQLite and memory keep it; other control characters are kept by all three but
//! break logs, terminals, HTML forms and CSV exports downstream. So the engine refuses them once,
//! here, with the same [`Error::Validation`] on every store, and every store only ever sees text
//! it can hold and give back unchanged.
//!
//! The rule: no character of Unicode's general category `Cc` (U+0000..=U+001F and
//! U+007F..=U+009F), which includes NUL, is allowed in a single line of text (names,
//! specializations, filters). Multi-line text (a cancellation reason typed in a text area) may
//! also hold tab, line feed and carriage return. Everything else in Unicode is allowed and must
//! round-trip exactly: letters of any script, right-to-left text and its direction marks, emoji
//! and their joiners, combining marks.

use crate::error::{Error, Result};

/// Which control characters a piece of text may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    /// One line: no control character at all (names, specializations, search filters).
    Single,
    /// Free text over several lines: tab, line feed and carriage return are allowed, every other
    /// control character is refused (cancellation reasons).
    Multi,
}

impl Lines {
    fn allows(self, c: char) -> bool {
        !c.is_control() || (self == Lines::Multi && matches!(c, '\t' | '\n' | '\r'))
    }
}

/// Checks that `text` holds only characters every store keeps (see the module docs).
///
/// # Errors
/// [`Error::Validation`] on `field`, naming the first refused character by its code point.
pub fn check(field: &'static str, text: &str, lines: Lines) -> Result<()> {
    match text.chars().find(|c| !lines.allows(*c)) {
        None => Ok(()),
        Some(c) => Err(Error::validation(
            field,
            format!(
                "must not contain control characters (found U+{:04X})",
                u32::from(c)
            ),
        )),
    }
}

/// A required single line of text, trimmed: what a name or a specialization must be.
///
/// # Errors
/// [`Error::Validation`] on `field` when the trimmed text is empty, longer than `max_chars`
/// characters, or holds a control character.
pub fn required_line(field: &'static str, text: &str, max_chars: usize) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::validation(field, "must not be empty"));
    }
    if text.chars().count() > max_chars {
        return Err(Error::validation(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    check(field, text, Lines::Single)?;
    Ok(text.to_owned())
}

/// An optional search filter: `None` passes, any text must be a single line.
///
/// # Errors
/// [`Error::Validation`] on `field` when the filter holds a control character.
pub fn check_filter(field: &'static str, filter: Option<&str>) -> Result<()> {
    filter.map_or(Ok(()), |text| check(field, text, Lines::Single))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_field(result: Result<impl std::fmt::Debug>) -> &'static str {
        match result {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn nul_and_every_other_control_character_is_refused_in_a_line() {
        let controls = ('\u{0}'..='\u{1f}').chain('\u{7f}'..='\u{9f}');
        for c in controls {
            let text = format!("Dr {c}Ada");
            assert_eq!(
                refused_field(required_line("name", &text, 200)),
                "name",
                "U+{:04X} should be refused",
                u32::from(c)
            );
            assert!(check("q", &text, Lines::Single).is_err());
        }
    }

    #[test]
    fn multi_line_text_allows_tab_and_line_breaks_but_never_nul() {
        assert!(check("reason", "moved\r\naway\tsoon", Lines::Multi).is_ok());
        for bad in ["a\0b", "a\u{7}b", "a\u{1b}[31mb", "a\u{85}b"] {
            assert_eq!(refused_field(check("reason", bad, Lines::Multi)), "reason");
        }
    }

    #[test]
    fn unusual_but_printable_text_is_kept_as_is() {
        let text = "Dr Zoë 👩🏽‍⚕️ \u{202B}د. عائشة\u{202C} \u{200D}e\u{301} 𝔄";
        assert_eq!(required_line("name", text, 200).unwrap(), text);
        assert!(check_filter("q", Some(text)).is_ok());
        assert!(check_filter("q", None).is_ok());
    }

    #[test]
    fn the_message_names_the_code_point() {
        match check("q", "x\0", Lines::Single) {
            Err(Error::Validation { message, .. }) => assert!(message.contains("U+0000")),
            other => panic!("got {other:?}"),
        }
    }
}
