//! Calendar files (iCalendar, RFC 5545): an appointment as one event that calendar apps keep up
//! to date. Written here once, for the add-to-calendar download and for the attachment of every
//! email about a booking.
//!
//! For the patient, a reschedule moves one appointment, although the engine makes a new booking
//! for it (the old one is `RESCHEDULED` and links to it). So the event is the whole chain of
//! bookings that reschedules link, and every file is written from the chain's current booking:
//!
//! - `UID` is the chain's first booking id (`{id}@medislot`), the same for every file about the
//!   appointment, so a calendar app updates its one event instead of adding a second.
//! - `SEQUENCE` rises with every change: `2 × (reschedules so far) + step`, where the step is 0
//!   for a hold, 1 once confirmed and 2 once ended (cancelled by either side, or a lapsed hold).
//!   A reschedule ends one booking (2) and confirms the next one move later (2 + 1), so the
//!   number never goes back.
//! - An ended appointment is `METHOD:CANCEL` with `STATUS:CANCELLED`; a live one is
//!   `METHOD:PUBLISH` in a download and `METHOD:REQUEST` (with organizer and attendee) in an
//!   email.
//! - `DTSTAMP` and `LAST-MODIFIED` are when the current booking last changed, so the same state
//!   always gives the same file, and a retried email carries the same one.
//!
//! Times are written in UTC (`…Z`), to the second, which every calendar app shows in its own
//! zone.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};
use medislot_core::{BookingEngine, BookingId, BookingState, BookingStatus, BookingView, Error};

/// The media type of a calendar file in an email (a download names no charset: UTF-8 is
/// iCalendar's default).
pub const CONTENT_TYPE: &str = "text/calendar; charset=utf-8";

/// What `PRODID` names as the file's maker.
const PRODUCT: &str = "-//MediSlot//MediSlot Booking Engine//EN";

/// The most reschedule links followed; a longer chain is a corrupt store.
const MAX_CHAIN: u32 = 10_000;

/// An appointment: the current booking of a chain of reschedules, and where the chain began.
#[derive(Clone, Debug)]
pub struct Appointment {
    /// The chain's current booking (never `RESCHEDULED`), with its slot and doctor.
    pub view: BookingView,
    /// The chain's first booking: the event's identity.
    pub first: BookingId,
    /// How many reschedules led to the current booking.
    pub moves: u32,
}

/// Who an emailed invitation is from and to (RFC 5546 asks both of a `REQUEST` and a `CANCEL`).
#[derive(Clone, Copy, Debug)]
pub struct Invitation<'a> {
    /// The organizer's address: the clinic's sender.
    pub organizer: &'a str,
    /// The attendee's address: the patient's.
    pub attendee: &'a str,
    /// The attendee's name.
    pub attendee_name: &'a str,
}

impl Appointment {
    /// The appointment booking `id` belongs to: its chain followed forward to the current
    /// booking and back to the first.
    ///
    /// # Errors
    /// [`Error::BookingNotFound`] for an unknown id; a store error when a link leads nowhere or
    /// the store cannot be read.
    pub async fn of(engine: &BookingEngine, id: BookingId) -> Result<Self, Error> {
        let mut view = engine.booking(id).await?;
        let mut links = 0;
        while let BookingState::Rescheduled { to } = view.booking.state {
            view = engine.booking(to).await?;
            links = guard(links)?;
        }
        let mut first = view.booking.id;
        let mut moves = 0;
        let mut from = view.booking.rescheduled_from;
        while let Some(earlier) = from {
            first = earlier;
            moves = guard(moves)?;
            from = engine.booking(earlier).await?.booking.rescheduled_from;
        }
        Ok(Self { view, first, moves })
    }

    /// The event's `UID`: the same for every file about this appointment.
    pub fn uid(&self) -> String {
        format!("{}@medislot", self.first)
    }

    /// The event's `SEQUENCE` at `now` (see the module's documentation).
    pub fn sequence(&self, now: DateTime<Utc>) -> u32 {
        let step = match self.view.booking.state.status_at(now) {
            BookingStatus::Pending => 0,
            BookingStatus::Confirmed => 1,
            BookingStatus::Cancelled
            | BookingStatus::Buffer
            | BookingStatus::Expired
            | BookingStatus::Rescheduled => 2,
        };
        self.moves.saturating_mul(2).saturating_add(step)
    }

    /// Whether the appointment is off at `now`: cancelled by either side, or a lapsed hold.
    pub fn is_ended(&self, now: DateTime<Utc>) -> bool {
        match self.status_at(now) {
            BookingStatus::Pending | BookingStatus::Confirmed => false,
            BookingStatus::Cancelled
            | BookingStatus::Buffer
            | BookingStatus::Expired
            | BookingStatus::Rescheduled => true,
        }
    }

    fn status_at(&self, now: DateTime<Utc>) -> BookingStatus {
        self.view.booking.state.status_at(now)
    }

    /// The calendar file at `now`: for a download without `invitation` (`METHOD:PUBLISH`), for
    /// an email with it (`METHOD:REQUEST`); `METHOD:CANCEL` either way once the appointment
    /// ended.
    pub fn ics(&self, now: DateTime<Utc>, invitation: Option<&Invitation<'_>>) -> String {
        let view = &self.view;
        let (status, method) = match self.status_at(now) {
            BookingStatus::Pending => (EventStatus::Tentative, None),
            BookingStatus::Confirmed => (EventStatus::Confirmed, None),
            BookingStatus::Cancelled
            | BookingStatus::Buffer
            | BookingStatus::Expired
            | BookingStatus::Rescheduled => (EventStatus::Cancelled, Some("CANCEL")),
        };
        let method = method.unwrap_or(if invitation.is_some() {
            "REQUEST"
        } else {
            "PUBLISH"
        });
        let mut event = Event::new();
        event
            .uid(&self.uid())
            .sequence(self.sequence(now))
            .timestamp(view.booking.updated_at)
            .last_modified(view.booking.updated_at)
            .starts(view.slot.range.starts_at())
            .ends(view.slot.range.ends_at())
            .summary(&format!(
                "Appointment with {} ({})",
                view.doctor.name, view.doctor.specialization
            ))
            .description(&format!(
                "{} with {}, {}.\nBooking {}.",
                match status {
                    EventStatus::Tentative => "Held (not yet confirmed)",
                    EventStatus::Confirmed => "Confirmed appointment",
                    EventStatus::Cancelled => "Cancelled appointment",
                },
                view.doctor.name,
                view.doctor.specialization,
                view.booking.id
            ))
            .status(status);
        let location = view.doctor.profile.location();
        if !location.is_empty() {
            event.location(location);
        }
        if let Some(invitation) = invitation {
            event.append_property(Property::new(
                "ORGANIZER",
                format!("mailto:{}", invitation.organizer),
            ));
            event.append_property(
                Property::new("ATTENDEE", format!("mailto:{}", invitation.attendee))
                    .add_parameter("CN", invitation.attendee_name)
                    .add_parameter("ROLE", "REQ-PARTICIPANT")
                    .done(),
            );
        }
        let mut calendar = Calendar::empty();
        calendar
            .append_property(("PRODID", PRODUCT))
            .append_property(("VERSION", "2.0"))
            .append_property(("CALSCALE", "GREGORIAN"))
            .append_property(("METHOD", method))
            .push(event.done());
        calendar.done().to_string()
    }
}

/// One more link followed, or an error past [`MAX_CHAIN`].
fn guard(links: u32) -> Result<u32, Error> {
    if links >= MAX_CHAIN {
        return Err(medislot_core::StoreError::Corrupt(format!(
            "a chain of reschedules longer than {MAX_CHAIN} bookings"
        ))
        .into());
    }
    Ok(links + 1)
}
