//! The fixed instant every fuzz input starts from, so that inputs replay identically on any day.

use chrono::{DateTime, Utc};

/// 2030-01-01T00:00:00Z.
pub(crate) fn epoch() -> DateTime<Utc> {
    // The constant is in chrono's range, so this cannot fail.
    DateTime::from_timestamp(1_893_456_000, 0).expect("a valid timestamp")
}
