//! What a client talks to: the booking engine on a store, or a bench-only raw-SQL path. An enum,
//! not a trait object, so that the in-memory figures carry no extra boxing.

use chrono::{DateTime, Duration, Utc};
use medislot_core::{BookingEngine, BookingId, DoctorId, Error, PatientId, SlotId, SlotQuery};

use crate::http::HttpClient;
use crate::raw::RawPg;
use crate::sqlite::RawSqlite;
use crate::stats::Outcome;

/// The HTTP scenario books only (spread and hot); `run` refuses mixed over HTTP up front.
const NOT_OVER_HTTP: &str = "the HTTP scenario makes bookings only";

/// How many slots an availability read asks for.
pub(crate) const READ_PAGE: u32 = 20;

/// A client's way into a store.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// Through [`BookingEngine`], whatever store is under it.
    Engine(BookingEngine),
    /// Bench-only raw SQL on PostgreSQL, with no engine around it.
    RawPg(RawPg),
    /// Bench-only raw SQL on SQLite, with no engine around it.
    RawSqlite(RawSqlite),
    /// The server's HTTP API, in this process.
    Http(HttpClient),
}

impl Target {
    /// Books `slot` for `patient`; the booking's id on success.
    pub(crate) async fn book(
        &self,
        slot: SlotId,
        patient: PatientId,
    ) -> (Outcome, Option<BookingId>) {
        match self {
            Target::Engine(engine) => match engine.book(slot, patient, None).await {
                Ok(booking) => (Outcome::Ok, Some(booking.id)),
                Err(e) => (refusal(e), None),
            },
            Target::RawPg(raw) => raw.book(slot, patient).await,
            Target::RawSqlite(raw) => raw.book(slot, patient).await,
            Target::Http(client) => client.book(slot, patient).await,
        }
    }

    /// Reads a page of available slots of `doctor` from `from` on.
    pub(crate) async fn read(&self, doctor: DoctorId, from: DateTime<Utc>) -> Outcome {
        match self {
            Target::Engine(engine) => {
                let query = SlotQuery {
                    doctor_id: Some(doctor),
                    from: Some(from),
                    available: Some(true),
                    limit: READ_PAGE,
                    ..SlotQuery::default()
                };
                match engine.slots(&query).await {
                    Ok(_) => Outcome::Ok,
                    Err(e) => refusal(e),
                }
            }
            Target::RawPg(raw) => raw.read(doctor, from).await,
            Target::RawSqlite(raw) => raw.read(doctor, from).await,
            Target::Http(_) => Outcome::Error(NOT_OVER_HTTP.to_owned()),
        }
    }

    /// Cancels a booking as its patient (the slot is free at once) or as an admin (it goes to
    /// BUFFER and keeps the slot).
    pub(crate) async fn cancel(
        &self,
        id: BookingId,
        patient: PatientId,
        by_admin: bool,
    ) -> Outcome {
        match self {
            Target::Engine(engine) => {
                let result = if by_admin {
                    engine.cancel_as_admin(id, None).await
                } else {
                    engine.cancel_as_patient(id, patient, None).await
                };
                match result {
                    Ok(_) => Outcome::Ok,
                    Err(e) => refusal(e),
                }
            }
            Target::RawPg(raw) => raw.cancel(id, patient, by_admin).await,
            Target::RawSqlite(raw) => raw.cancel(id, patient, by_admin).await,
            Target::Http(_) => Outcome::Error(NOT_OVER_HTTP.to_owned()),
        }
    }
}

/// The admin buffer the raw paths write, as the engine's default policy does.
pub(crate) fn admin_buffer() -> Duration {
    medislot_core::Policy::default().buffer
}

/// The rules the engine runs under in every phase: the defaults, with the booking window as
/// wide as it goes, since a calendar of 100,000 back-to-back slots reaches years ahead and the
/// raw paths it is compared with know no window.
pub(crate) fn policy() -> medislot_core::Policy {
    medislot_core::Policy {
        horizon: medislot_core::MAX_HORIZON,
        ..medislot_core::Policy::default()
    }
}

/// The engine every phase drives, on `store`, under [`policy`].
pub(crate) fn engine(
    store: std::sync::Arc<dyn medislot_core::SlotStore>,
) -> medislot_core::BookingEngine {
    medislot_core::BookingEngine::new(store)
        .with_policy(policy())
        .expect("the bench policy is valid")
}

/// A refusal by a rule, named for the table; a store failure is an error.
pub(crate) fn refusal(error: Error) -> Outcome {
    let reason = match &error {
        Error::SlotUnavailable(_) => "slot_unavailable",
        Error::SlotNotFound(_) => "slot_not_found",
        Error::SlotInPast(_) => "slot_in_past",
        Error::BookingNotFound(_) => "booking_not_found",
        Error::NotOwner(_) => "not_owner",
        Error::InvalidTransition { .. } => "invalid_transition",
        Error::HoldExpired(_) => "hold_expired",
        Error::Validation { .. } => "validation",
        _ => return Outcome::Error(error.to_string()),
    };
    Outcome::Rejected(reason)
}
