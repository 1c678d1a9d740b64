//! Instants every store can represent: the one range an instant from outside must fall in.
//!
//! Stores and formats differ in how far their time reaches: PostgreSQL's `timestamptz` spans
//! 4713 BC to 294276 AD, SQLite here stores microseconds since the epoch in an `i64` (about
//! ±292,000 years), chrono about ±262,000 years, and RFC 3339 (the API's JSON and every client
//! parsing it) only four-digit years. The engine accepts the range they all share, and a little
//! less, so that an accepted instant shown in any time zone (offsets are under 24 hours) still has
//! a four-digit year:
//!
//! from [`EARLIEST`] = `0001-01-02T00:00:00Z` to [`LATEST`] = `9999-12-31T00:00:00Z`, both
//! included.
//!
//! [`TimeRange::new`](crate::TimeRange::new) and the engine's listing filters (`from`, `to`)
//! check it; cursors that decode outside it are not cursors.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// The earliest instant the engine accepts: `0001-01-02T00:00:00Z`.
pub const EARLIEST: DateTime<Utc> = match DateTime::from_timestamp(-62_135_510_400, 0) {
    Some(at) => at,
    None => panic!("0001-01-02 is within chrono's range"),
};

/// The latest instant the engine accepts: `9999-12-31T00:00:00Z`.
pub const LATEST: DateTime<Utc> = match DateTime::from_timestamp(253_402_214_400, 0) {
    Some(at) => at,
    None => panic!("9999-12-31 is within chrono's range"),
};

/// Whether `at` lies in [`EARLIEST`]`..=`[`LATEST`].
pub fn is_representable(at: DateTime<Utc>) -> bool {
    (EARLIEST..=LATEST).contains(&at)
}

/// Checks that `at` lies in [`EARLIEST`]`..=`[`LATEST`].
///
/// # Errors
/// [`Error::Validation`] on `field` otherwise.
pub fn check(field: &'static str, at: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if is_representable(at) {
        Ok(at)
    } else {
        Err(Error::validation(
            field,
            "must be between 0001-01-02T00:00:00Z and 9999-12-31T00:00:00Z",
        ))
    }
}

/// Checks an optional filter instant, as [`check`] does.
///
/// # Errors
/// [`Error::Validation`] on `field` when the instant is out of range.
pub fn check_filter(field: &'static str, at: Option<DateTime<Utc>>) -> Result<()> {
    at.map_or(Ok(()), |at| check(field, at).map(drop))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate, TimeZone};

    use super::*;

    fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(y, m, d).unwrap().into())
    }

    #[test]
    fn the_bounds_are_the_documented_dates() {
        assert_eq!(EARLIEST, utc(1, 1, 2));
        assert_eq!(LATEST, utc(9999, 12, 31));
        assert_eq!(EARLIEST.to_rfc3339(), "0001-01-02T00:00:00+00:00");
    }

    #[test]
    fn the_bounds_are_included_and_a_microsecond_beyond_is_refused() {
        let us = Duration::microseconds(1);
        assert!(check("at", EARLIEST).is_ok());
        assert!(check("at", LATEST).is_ok());
        assert!(check("at", EARLIEST - us).is_err());
        assert!(check("at", LATEST + us).is_err());
        assert!(matches!(
            check("from", utc(10_000, 1, 1)),
            Err(Error::Validation { field: "from", .. })
        ));
        assert!(check_filter("to", None).is_ok());
        assert!(check_filter("to", Some(utc(-1, 1, 1))).is_err());
    }

    #[test]
    fn every_accepted_instant_has_a_four_digit_year_in_every_zone() {
        let widest = chrono::FixedOffset::east_opt(86_399).unwrap();
        let west = chrono::FixedOffset::west_opt(86_399).unwrap();
        assert!(LATEST
            .with_timezone(&widest)
            .to_rfc3339()
            .starts_with("9999-"));
        assert!(EARLIEST
            .with_timezone(&west)
            .to_rfc3339()
            .starts_with("0001-"));
    }
}
