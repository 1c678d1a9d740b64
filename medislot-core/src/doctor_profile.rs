//! A doctor's profile: what a patient reads before booking (a short bio, the languages the
//! doctor speaks, and where the appointment happens).
//!
//! Every part is optional: a doctor created without one has the empty profile. Each part is
//! validated once, here, like every text (see [`text`](crate::text)).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::text::{self, Lines};

/// The longest accepted bio, in characters.
pub const MAX_BIO_CHARS: usize = 1000;
/// The longest accepted location (an address or a room), in characters.
pub const MAX_LOCATION_CHARS: usize = 200;
/// The longest accepted name of one language, in characters.
pub const MAX_LANGUAGE_CHARS: usize = 40;
/// The most languages a profile lists.
pub const MAX_LANGUAGES: usize = 10;

/// A validated doctor profile. The empty profile ([`DoctorProfile::default`]) says nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawProfile", into = "RawProfile")]
pub struct DoctorProfile {
    bio: String,
    languages: Vec<String>,
    location: String,
}

/// The unchecked shape of a profile, for serde: deserializing goes through
/// [`DoctorProfile::new`], so a profile that exists is valid however it was made.
#[derive(Serialize, Deserialize)]
struct RawProfile {
    bio: String,
    languages: Vec<String>,
    location: String,
}

impl TryFrom<RawProfile> for DoctorProfile {
    type Error = Error;

    fn try_from(raw: RawProfile) -> Result<Self> {
        Self::new(&raw.bio, &raw.languages, &raw.location)
    }
}

impl From<DoctorProfile> for RawProfile {
    fn from(profile: DoctorProfile) -> Self {
        Self {
            bio: profile.bio,
            languages: profile.languages,
            location: profile.location,
        }
    }
}

impl DoctorProfile {
    /// Validates a profile. Every part is trimmed; empty parts are allowed (the profile says
    /// nothing about them). Languages are kept in the order given; blank entries are dropped
    /// and a repeated language (ignoring case) is kept once.
    ///
    /// # Errors
    /// [`Error::Validation`] naming `bio` (longer than [`MAX_BIO_CHARS`], or a control
    /// character other than tab and line breaks), `languages` (more than [`MAX_LANGUAGES`],
    /// one longer than [`MAX_LANGUAGE_CHARS`], or a control character or comma in one) or
    /// `location` (longer than [`MAX_LOCATION_CHARS`], or a control character).
    pub fn new(bio: &str, languages: &[impl AsRef<str>], location: &str) -> Result<Self> {
        let bio = optional("bio", bio, MAX_BIO_CHARS, Lines::Multi)?;
        let location = optional("location", location, MAX_LOCATION_CHARS, Lines::Single)?;
        let mut kept: Vec<String> = Vec::new();
        for language in languages {
            let language = language.as_ref().trim();
            if language.is_empty() {
                continue;
            }
            let language = text::required_line("languages", language, MAX_LANGUAGE_CHARS)?;
            if language.contains(',') {
                return Err(Error::validation(
                    "languages",
                    "each language is one name, without commas",
                ));
            }
            if !kept
                .iter()
                .any(|k| k.to_lowercase() == language.to_lowercase())
            {
                kept.push(language);
            }
        }
        if kept.len() > MAX_LANGUAGES {
            return Err(Error::validation(
                "languages",
                format!("must name at most {MAX_LANGUAGES} languages"),
            ));
        }
        Ok(Self {
            bio,
            languages: kept,
            location,
        })
    }

    /// Validates a profile whose languages are written as one comma-separated list
    /// ("English, Hindi"), as a form's text field holds them.
    ///
    /// # Errors
    /// As [`DoctorProfile::new`].
    pub fn from_list(bio: &str, languages: &str, location: &str) -> Result<Self> {
        let languages: Vec<&str> = languages.split(',').collect();
        Self::new(bio, &languages, location)
    }

    /// The bio, trimmed; empty when there is none. May span several lines.
    pub fn bio(&self) -> &str {
        &self.bio
    }

    /// The languages the doctor speaks, in the order given, each once.
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// The languages as one comma-separated list ("English, Hindi"), as forms show them.
    pub fn languages_list(&self) -> String {
        self.languages.join(", ")
    }

    /// Where the appointment happens (an address or a room), trimmed; empty when unknown.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether the profile says nothing at all.
    pub fn is_empty(&self) -> bool {
        self.bio.is_empty() && self.languages.is_empty() && self.location.is_empty()
    }
}

fn optional(field: &'static str, value: &str, max_chars: usize, lines: Lines) -> Result<String> {
    let value = value.trim();
    if value.chars().count() > max_chars {
        return Err(Error::validation(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    text::check(field, value, lines)?;
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_field(result: Result<DoctorProfile>) -> &'static str {
        match result {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_profile_trims_its_parts_and_keeps_each_language_once() {
        let p = DoctorProfile::new(
            "  Twenty years in cardiology.\nSpeaks slowly. ",
            &[" English", "", "Hindi ", "english"],
            " Room 4, 2nd floor ",
        )
        .unwrap();
        assert_eq!(p.bio(), "Twenty years in cardiology.\nSpeaks slowly.");
        assert_eq!(p.languages(), ["English", "Hindi"]);
        assert_eq!(p.languages_list(), "English, Hindi");
        assert_eq!(p.location(), "Room 4, 2nd floor");
        assert!(!p.is_empty());
        assert!(DoctorProfile::new("", &[""; 0], " ").unwrap().is_empty());
    }

    #[test]
    fn a_comma_separated_list_is_read_as_languages() {
        let p = DoctorProfile::from_list("", "English, Hindi,, Tamil", "").unwrap();
        assert_eq!(p.languages(), ["English", "Hindi", "Tamil"]);
    }

    #[test]
    fn each_part_is_refused_naming_its_field() {
        let long_bio = "b".repeat(MAX_BIO_CHARS + 1);
        assert_eq!(
            refused_field(DoctorProfile::new(&long_bio, &[""; 0], "")),
            "bio"
        );
        assert_eq!(
            refused_field(DoctorProfile::new("a\0b", &[""; 0], "")),
            "bio"
        );
        let long_place = "r".repeat(MAX_LOCATION_CHARS + 1);
        assert_eq!(
            refused_field(DoctorProfile::new("", &[""; 0], &long_place)),
            "location"
        );
        assert_eq!(
            refused_field(DoctorProfile::new("", &[""; 0], "Room\n4")),
            "location"
        );
        let long_language = "l".repeat(MAX_LANGUAGE_CHARS + 1);
        assert_eq!(
            refused_field(DoctorProfile::new("", &[long_language], "")),
            "languages"
        );
        assert_eq!(
            refused_field(DoctorProfile::new("", &["Eng\tlish"], "")),
            "languages"
        );
        assert_eq!(
            refused_field(DoctorProfile::new("", &["English, Hindi"], "")),
            "languages"
        );
        let many: Vec<String> = (0..=MAX_LANGUAGES).map(|i| format!("L{i}")).collect();
        assert_eq!(
            refused_field(DoctorProfile::new("", &many, "")),
            "languages"
        );
        assert_eq!(
            DoctorProfile::new("ok\r\n\tfine", &["x"], "y")
                .unwrap()
                .bio(),
            "ok\r\n\tfine"
        );
    }
}
