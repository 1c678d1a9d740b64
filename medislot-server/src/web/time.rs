//! Times as people read them: in the doctor's time zone, and in the viewer's when that reads
//! differently. Everything inside stays `DateTime<Utc>`; zones appear only here, at the edge.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use medislot_core::TimeRange;

use super::zone_names::RENAMED;

/// A time zone from its IANA name, under its current name (`Asia/Calcutta` reads as
/// `Asia/Kolkata`); `None` for anything else (including an empty string).
pub(crate) fn parse_zone(name: &str) -> Option<Tz> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    name.parse().ok().map(current)
}

/// The zone under its current name: a renamed zone (`Asia/Calcutta`, `Europe/Kiev`) as the
/// one it is now (`Asia/Kolkata`, `Europe/Kyiv`); any other zone as it is.
pub(crate) fn current(tz: Tz) -> Tz {
    RENAMED
        .binary_search_by(|(old, _)| old.cmp(&tz.name()))
        .ok()
        .and_then(|i| RENAMED[i].1.parse().ok())
        .unwrap_or(tz)
}

/// The zone's current name (for templates, which hold the zone by reference).
pub(crate) fn zone_name(tz: &Tz) -> &'static str {
    current(*tz).name()
}

/// Whether this name is the zone's current one (the lists offer only those).
pub(crate) fn is_current_name(name: &str) -> bool {
    RENAMED.binary_search_by(|(old, _)| old.cmp(&name)).is_err()
}

/// "Tue 1 Dec 2026, 09:00" in `tz`.
pub(crate) fn when(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%a %-d %b %Y, %H:%M")
        .to_string()
}

/// "09:00 CET": a clock time with the zone's abbreviation, for notes about the near future.
pub(crate) fn clock_zoned(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M %Z").to_string()
}

/// "Tue 1 Dec 2026, 09:00 CET".
pub(crate) fn when_zoned(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%a %-d %b %Y, %H:%M %Z")
        .to_string()
}

/// "Tue 1 Dec 2026, 09:00–09:30" in `tz` (the end's date is shown when it differs).
pub(crate) fn span(range: &TimeRange, tz: Tz) -> String {
    let start = range.starts_at().with_timezone(&tz);
    let end = range.ends_at().with_timezone(&tz);
    if start.date_naive() == end.date_naive() {
        format!("{}–{}", when(range.starts_at(), tz), end.format("%H:%M"))
    } else {
        format!(
            "{} – {}",
            when(range.starts_at(), tz),
            when(range.ends_at(), tz)
        )
    }
}

/// "Europe/Paris (CET)": the zone's current name and its abbreviation at `at`.
pub(crate) fn zone_label(at: DateTime<Utc>, tz: Tz) -> String {
    let tz = current(tz);
    let abbreviation = at.with_timezone(&tz).format("%Z").to_string();
    if abbreviation == tz.name() || abbreviation.starts_with(['+', '-']) {
        tz.name().to_owned()
    } else {
        format!("{} ({abbreviation})", tz.name())
    }
}

/// A range in the page's zone (the one zone that rules the page, named at its top), and as the
/// doctor's clock reads it when that reads differently.
#[derive(Debug, Clone)]
pub(crate) struct Shown {
    /// In the page's zone.
    pub(crate) when: String,
    pub(crate) zone: String,
    /// On the doctor's clock, when it differs from the page's reading.
    pub(crate) doctor: Option<String>,
    pub(crate) doctor_zone: String,
}

impl Shown {
    pub(crate) fn new(range: &TimeRange, doctor_tz: Tz, page_tz: Tz) -> Self {
        let when = span(range, page_tz);
        let doctor = span(range, doctor_tz);
        Self {
            doctor: (doctor != when).then_some(doctor),
            when,
            zone: zone_label(range.starts_at(), page_tz),
            doctor_zone: zone_label(range.starts_at(), doctor_tz),
        }
    }
}

/// "4 min 30 s" for a remaining duration (never negative).
pub(crate) fn remaining(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (m, s) = (secs / 60, secs % 60);
    if m == 0 {
        format!("{s} s")
    } else {
        format!("{m} min {s:02} s")
    }
}

/// The UTC instant at which `date` `time` happens in `tz`.
///
/// # Errors
/// A sentence for a person when that local time does not exist that day (clocks go forward);
/// when it happens twice (clocks go back), the first one is meant.
pub(crate) fn local_instant(
    date: NaiveDate,
    time: NaiveTime,
    tz: Tz,
) -> Result<DateTime<Utc>, String> {
    tz.from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            format!(
                "{} does not exist on {} in {} (the clocks change); pick another time",
                time.format("%H:%M"),
                date.format("%-d %b %Y"),
                tz.name()
            )
        })
}

/// The UTC window of one local day in `tz`: from its midnight to the next.
pub(crate) fn day_window(date: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start_of = |d: NaiveDate| {
        // Midnight exists in nearly every zone; where a transition skips it, the day starts at
        // the first instant after it.
        (0..=3)
            .find_map(|h| local_instant(d, NaiveTime::from_hms_opt(h, 0, 0)?, tz).ok())
            .unwrap_or_else(|| d.and_time(NaiveTime::MIN).and_utc())
    };
    let next = date.succ_opt().unwrap_or(date);
    (start_of(date), start_of(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_range_reads_in_the_pages_zone_and_on_the_doctors_clock_when_different() {
        let range = TimeRange::new(at("2030-01-15T08:00:00Z"), at("2030-01-15T08:30:00Z")).unwrap();
        let shown = Shown::new(&range, chrono_tz::Europe::Paris, Tz::UTC);
        assert_eq!(shown.when, "Tue 15 Jan 2030, 08:00–08:30");
        assert_eq!(shown.zone, "UTC");
        assert_eq!(
            shown.doctor.as_deref(),
            Some("Tue 15 Jan 2030, 09:00–09:30")
        );
        assert_eq!(shown.doctor_zone, "Europe/Paris (CET)");
        let same = Shown::new(&range, chrono_tz::Europe::Paris, chrono_tz::Europe::Berlin);
        assert_eq!(same.doctor, None);
    }

    #[test]
    fn renamed_zones_read_under_their_current_names() {
        assert_eq!(parse_zone("Asia/Calcutta"), Some(chrono_tz::Asia::Kolkata));
        assert_eq!(parse_zone("Europe/Kiev"), Some(chrono_tz::Europe::Kyiv));
        assert_eq!(parse_zone("Europe/Oslo"), Some(chrono_tz::Europe::Oslo));
        assert_eq!(
            zone_label(at("2030-01-15T08:00:00Z"), chrono_tz::Asia::Calcutta),
            "Asia/Kolkata (IST)"
        );
        assert!(!is_current_name("Asia/Calcutta"));
        assert!(is_current_name("Asia/Kolkata"));
    }

    #[test]
    fn the_renamed_table_is_sorted_and_names_real_zones() {
        assert!(RENAMED.windows(2).all(|w| w[0].0 < w[1].0));
        for (old, now) in RENAMED {
            assert!(old.parse::<Tz>().is_ok(), "{old}");
            assert!(now.parse::<Tz>().is_ok(), "{now}");
        }
    }

    #[test]
    fn a_skipped_local_time_is_refused_in_words() {
        let date = NaiveDate::from_ymd_opt(2030, 3, 31).unwrap();
        let time = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        let err = local_instant(date, time, chrono_tz::Europe::Paris).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn a_day_window_spans_local_midnight_to_midnight() {
        let date = NaiveDate::from_ymd_opt(2030, 1, 15).unwrap();
        let (from, to) = day_window(date, chrono_tz::Europe::Paris);
        assert_eq!(from, at("2030-01-14T23:00:00Z"));
        assert_eq!(to, at("2030-01-15T23:00:00Z"));
    }

    #[test]
    fn remaining_time_reads_in_minutes_and_seconds() {
        assert_eq!(remaining(Duration::seconds(272)), "4 min 32 s");
        assert_eq!(remaining(Duration::seconds(-3)), "0 s");
    }
}
