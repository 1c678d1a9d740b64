//! Doctors: who publishes slots, with their specialization, home time zone and profile.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::doctor_profile::DoctorProfile;
use crate::error::{Error, Result};
use crate::ids::DoctorId;
use crate::page::Cursor;
use crate::text;

/// The longest accepted name or specialization, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A doctor as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doctor {
    /// The doctor's id.
    pub id: DoctorId,
    /// Display name, trimmed and non-empty.
    pub name: String,
    /// Specialization, trimmed and non-empty (for example "Cardiology").
    pub specialization: String,
    /// The IANA time zone the doctor works in; slot times are shown in it.
    pub timezone: Tz,
    /// What patients read about the doctor before booking; empty unless one was given.
    #[serde(default)]
    pub profile: DoctorProfile,
    /// When the doctor was created.
    pub created_at: DateTime<Utc>,
}

/// A validated request to create a doctor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDoctor {
    name: String,
    specialization: String,
    timezone: Tz,
    profile: DoctorProfile,
}

impl NewDoctor {
    /// Validates a new doctor's fields.
    ///
    /// # Errors
    /// [`Error::Validation`] naming `name`, `specialization` or `timezone` when one is empty, too
    /// long, holds a control character (see [`text`](crate::text)), or (for the zone) is not an
    /// IANA time zone name such as `Europe/Paris`.
    pub fn new(name: &str, specialization: &str, timezone: &str) -> Result<Self> {
        Ok(Self {
            name: non_empty("name", name)?,
            specialization: non_empty("specialization", specialization)?,
            timezone: parse_timezone(timezone)?,
            profile: DoctorProfile::default(),
        })
    }

    /// The same request, creating the doctor with this profile (validated by
    /// [`DoctorProfile::new`]) instead of the empty one.
    pub fn with_profile(self, profile: DoctorProfile) -> Self {
        Self { profile, ..self }
    }

    /// The profile the doctor is created with.
    pub fn profile(&self) -> &DoctorProfile {
        &self.profile
    }

    /// The trimmed name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The trimmed specialization.
    pub fn specialization(&self) -> &str {
        &self.specialization
    }

    /// The doctor's time zone.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The doctor this request creates, with a fresh id.
    pub fn into_doctor(self, created_at: DateTime<Utc>) -> Doctor {
        Doctor {
            id: DoctorId::new(),
            name: self.name,
            specialization: self.specialization,
            timezone: self.timezone,
            profile: self.profile,
            created_at,
        }
    }
}

/// Parses an IANA time zone name.
///
/// # Errors
/// [`Error::Validation`] on `timezone` when the name is unknown.
pub fn parse_timezone(timezone: &str) -> Result<Tz> {
    timezone.trim().parse::<Tz>().map_err(|_| {
        Error::validation(
            "timezone",
            format!("{timezone:?} is not an IANA time zone name (for example Europe/Paris)"),
        )
    })
}

fn non_empty(field: &'static str, value: &str) -> Result<String> {
    text::required_line(field, value, MAX_NAME_CHARS)
}

/// Which doctors to list. Empty filters match every doctor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DoctorFilter {
    /// Only doctors with exactly this specialization (ignoring case).
    pub specialization: Option<String>,
    /// Only doctors whose name contains this text (ignoring case).
    pub name_contains: Option<String>,
    /// Only doctors after this one in listing order (the next page).
    pub after: Option<DoctorCursor>,
    /// At most this many doctors, the first in listing order; `None` lists every match.
    pub limit: Option<u32>,
}

/// Where a page of doctors ends: doctors are listed by name (byte order), then id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DoctorCursor {
    /// Name of the last doctor on the previous page.
    pub name: String,
    /// Id of the last doctor on the previous page.
    pub id: DoctorId,
}

impl DoctorCursor {
    /// The cursor that continues after `doctor`.
    pub fn after(doctor: &Doctor) -> Self {
        Self {
            name: doctor.name.clone(),
            id: doctor.id,
        }
    }

    /// Whether `doctor` comes after this cursor in listing order.
    pub fn precedes(&self, doctor: &Doctor) -> bool {
        (doctor.name.as_str(), doctor.id) > (self.name.as_str(), self.id)
    }
}

impl Cursor for DoctorCursor {
    /// The id, then the name's UTF-8 bytes in hex (a name may hold any character).
    fn encode(&self) -> String {
        let hex: String = self.name.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{}_{hex}", self.id)
    }

    fn decode(text: &str) -> Option<Self> {
        let (id, hex) = text.split_once('_')?;
        if hex.len() % 2 != 0 || !hex.is_ascii() {
            return None;
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(Self {
            name: String::from_utf8(bytes).ok()?,
            id: id.parse().ok()?,
        })
    }
}

impl DoctorFilter {
    /// Checks that both filters are text every store can search with (see
    /// [`text`](crate::text)). The engine calls it before listing.
    ///
    /// # Errors
    /// [`Error::Validation`] on `specialization` or `q` (the name filter's name in the API) when
    /// one holds a control character.
    pub fn validate(&self) -> Result<()> {
        text::check_filter("specialization", self.specialization.as_deref())?;
        text::check_filter("q", self.name_contains.as_deref())
    }

    /// Whether `doctor` passes the filter and comes after its cursor ([`Self::limit`] is the
    /// caller's to apply). Stores that filter in memory use this; SQL stores express the same
    /// rule in their query.
    pub fn matches(&self, doctor: &Doctor) -> bool {
        let specialization_ok = self
            .specialization
            .as_deref()
            .is_none_or(|s| doctor.specialization.eq_ignore_ascii_case(s.trim()));
        let name_ok = self.name_contains.as_deref().is_none_or(|q| {
            doctor
                .name
                .to_lowercase()
                .contains(&q.trim().to_lowercase())
        });
        let after_ok = self.after.as_ref().is_none_or(|c| c.precedes(doctor));
        specialization_ok && name_ok && after_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_doctor_trims_and_validates_each_field() {
        let d = NewDoctor::new("  Dr Ada ", "Cardiology", "Europe/Paris").unwrap();
        assert_eq!(d.name(), "Dr Ada");
        assert_eq!(d.timezone(), chrono_tz::Europe::Paris);
        for (args, field) in [
            (("", "x", "UTC"), "name"),
            (("a", "  ", "UTC"), "specialization"),
            (("a", "x", "Mars/Olympus"), "timezone"),
            (("Dr \0Ada", "x", "UTC"), "name"),
            (("a", "Card\niology", "UTC"), "specialization"),
        ] {
            match NewDoctor::new(args.0, args.1, args.2) {
                Err(Error::Validation { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected a validation error on {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn filter_matches_specialization_and_name_ignoring_case() {
        let d = NewDoctor::new("Dr Ada Lovelace", "Cardiology", "UTC")
            .unwrap()
            .into_doctor(Utc::now());
        let f = DoctorFilter {
            specialization: Some("cardiology".into()),
            name_contains: Some("LOVE".into()),
            ..DoctorFilter::default()
        };
        assert!(f.matches(&d));
        let f = DoctorFilter {
            specialization: Some("Dermatology".into()),
            ..DoctorFilter::default()
        };
        assert!(!f.matches(&d));
    }

    #[test]
    fn a_doctor_cursor_survives_its_text_and_orders_by_name_then_id() {
        let d = NewDoctor::new("Dr Zoë_Ünal %", "Cardiology", "UTC")
            .unwrap()
            .into_doctor(Utc::now());
        let cursor = DoctorCursor::after(&d);
        assert_eq!(DoctorCursor::decode(&cursor.encode()), Some(cursor.clone()));
        assert_eq!(DoctorCursor::decode("nonsense"), None);
        assert_eq!(DoctorCursor::decode(&format!("{}_zz", d.id)), None);
        assert!(!cursor.precedes(&d));
        let later = Doctor {
            name: "Dr Zz".into(),
            ..d.clone()
        };
        assert!(cursor.precedes(&later));
        let filter = DoctorFilter {
            after: Some(cursor),
            ..DoctorFilter::default()
        };
        assert!(!filter.matches(&d) && filter.matches(&later));
    }
}
