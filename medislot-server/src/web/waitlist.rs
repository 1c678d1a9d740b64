//! The waitlist's pages for a patient: joining (from the finder, with its filters), "My
//! waitlist" (the entries, leaving one, and a live offer at the top with Confirm and Decline),
//! and the offer's two buttons. An offer is a hold in the patient's name
//! ([`medislot_core::EntryState::Offered`]): Confirm confirms it, Decline cancels it, exactly as
//! the API's `POST /bookings/{id}/confirm` and `/cancel` do.
//!
//! The core keeps a time of day in UTC minutes; the pages read and show it in the page's zone,
//! converted with the zone's offset on the first day of the range.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use medislot_core::waitlist::MINUTES_PER_DAY;
use medislot_core::{
    BookingId, Doctor, DoctorFilter, DoctorId, EntryStatus, NewEntry, TimeOfDay, TimeRange,
    WaitlistEntry, WaitlistEntryId, WaitlistTarget,
};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{
    self, parse_form, parse_query, query_string, redirect, respond, Errors, Flash, Layout,
    PageError,
};
use super::time::{self, Shown};
use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::AppState;

/// Days a range covers when the finder gave no date: this week.
const DEFAULT_DAYS: i64 = 7;

/// The join form's fields, as the page names them.
const JOIN_FIELDS: &[(&str, &str)] = &[
    ("target", "What to wait for"),
    ("from", "The first day"),
    ("to", "The last day"),
    ("time_from", "The earliest start"),
    ("time_to", "The latest start"),
];

/// The join form, as posted and as prefilled from the finder's filters.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct JoinForm {
    /// `doctor:{id}` or `specialization:{name}`.
    target: String,
    /// First and last day, in the page's zone (`YYYY-MM-DD`).
    from: String,
    to: String,
    /// Optional time of day in the page's zone (`HH:MM`).
    time_from: String,
    time_to: String,
    /// The page's zone, so that a post reads the days as they were shown.
    tz: String,
}

/// The finder's filters that open the join form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FinderFilters {
    specialization: String,
    doctor: String,
    date: String,
    tz: String,
}

/// The finder's address of the join form for these filters (the doctor, else the
/// specialization, and the day, all optional).
pub(crate) fn join_url(specialization: &str, doctor: &str, date: &str, tz: &str) -> String {
    let query = query_string(&[
        ("specialization", specialization.trim()),
        ("doctor", doctor.trim()),
        ("date", date.trim()),
        ("tz", tz.trim()),
    ]);
    if query.is_empty() {
        "/waitlist/join".to_owned()
    } else {
        format!("/waitlist/join?{query}")
    }
}

#[derive(Template)]
#[template(path = "waitlist_join.html")]
struct JoinPage {
    layout: Layout,
    form: JoinForm,
    doctors: Vec<Doctor>,
    specializations: Vec<String>,
    errors: Errors,
    zone: String,
    offer_minutes: i64,
    limit: u32,
}

async fn join_page(
    state: &AppState,
    caller: &Caller,
    form: JoinForm,
    tz: Tz,
    errors: Errors,
    status: StatusCode,
) -> Result<Response, PageError> {
    let engine = state.engine();
    let doctors = engine.doctors(&DoctorFilter::default()).await?;
    let specializations = doctors
        .iter()
        .map(|d| d.specialization.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let policy = engine.policy();
    page::page(
        status,
        &JoinPage {
            layout: Layout::new("Join the waitlist", "waitlist", Some(caller), tz),
            form: JoinForm {
                tz: tz.name().to_owned(),
                ..form
            },
            doctors,
            specializations,
            errors,
            zone: tz.name().to_owned(),
            offer_minutes: policy.offer_window.num_minutes(),
            limit: policy.waitlist_limit,
        },
    )
}

/// `GET /waitlist/join`: the form, filled from the finder's filters (`doctor`,
/// `specialization`, `date`, `tz`): that doctor or specialization, that day or this week.
#[handler]
pub(crate) async fn join_form(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let filters: FinderFilters = parse_query(req)?;
            let tz = page::viewer_tz(req, &filters.tz);
            let today = state.engine().now().with_timezone(&tz).date_naive();
            let day = NaiveDate::parse_from_str(filters.date.trim(), "%Y-%m-%d")
                .ok()
                .filter(|d| *d >= today);
            let (from, to) = match day {
                Some(day) => (day, day),
                None => (today, today + Duration::days(DEFAULT_DAYS - 1)),
            };
            let target = if let Ok(id) = Uuid::parse_str(filters.doctor.trim()) {
                format!("doctor:{id}")
            } else if !filters.specialization.trim().is_empty() {
                format!("specialization:{}", filters.specialization.trim())
            } else {
                String::new()
            };
            let form = JoinForm {
                target,
                from: from.to_string(),
                to: to.to_string(),
                ..JoinForm::default()
            };
            join_page(state, &caller, form, tz, Errors::default(), StatusCode::OK).await
        }
        .await,
    )
}

/// `POST /waitlist/join`: joins, then shows My waitlist; a refusal shows the form again with
/// each error next to its field (or, for the limit, above the form).
#[handler]
pub(crate) async fn join(req: &Request, Data(state): Data<&AppState>, body: Vec<u8>) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let form: JoinForm = parse_form(&body)?;
            let tz = page::viewer_tz(req, &form.tz);
            let mut errors = Errors::default();
            let problem = match read_entry(&form, tz, &mut errors) {
                Some(entry) if !errors.any() => {
                    match caller
                        .engine(state)
                        .join_waitlist(caller.patient_id(), entry)
                        .await
                    {
                        Ok(entry) => {
                            tracing::info!(entry = %entry.id, "joined the waitlist on the web");
                            return Ok(redirect("/waitlist?done=joined"));
                        }
                        Err(err) => Problem::from(err),
                    }
                }
                _ => {
                    return join_page(
                        state,
                        &caller,
                        form,
                        tz,
                        errors,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await
                }
            };
            match problem.code() {
                "waitlist_full" => {
                    errors.form = Some(format!(
                        "You are already waiting for {} things, the most one patient may. \
                         Leave one on My waitlist first.",
                        state.engine().policy().waitlist_limit
                    ));
                }
                "doctor_not_found" => errors.add("target", "That doctor is no longer listed."),
                "validation_failed" => errors.add_problem(&problem, JOIN_FIELDS),
                _ => return Err(problem.into()),
            }
            join_page(state, &caller, form, tz, errors, problem.status()).await
        }
        .await,
    )
}

/// Reads the form into an entry, recording each field's error; `None` when a field is wrong.
fn read_entry(form: &JoinForm, tz: Tz, errors: &mut Errors) -> Option<NewEntry> {
    let target = match form.target.trim().split_once(':') {
        Some(("doctor", id)) => match Uuid::parse_str(id) {
            Ok(id) => Some(WaitlistTarget::Doctor(DoctorId::from_uuid(id))),
            Err(_) => None,
        },
        Some(("specialization", name)) if !name.trim().is_empty() => {
            Some(WaitlistTarget::Specialization(name.trim().to_owned()))
        }
        _ => None,
    };
    if target.is_none() {
        errors.add("target", "Choose a doctor or a specialization.");
    }
    let day = |text: &str, field: &str, errors: &mut Errors| {
        let parsed = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok();
        if parsed.is_none() {
            errors.add(field, "Enter a date such as 2030-01-31.");
        }
        parsed
    };
    let first = day(&form.from, "from", errors);
    let last = day(&form.to, "to", errors);
    let window = match (first, last) {
        (Some(first), Some(last)) if last < first => {
            errors.add("to", "The last day must be on or after the first day.");
            None
        }
        (Some(first), Some(last)) => {
            let (starts, _) = time::day_window(first, tz);
            let (_, ends) = time::day_window(last, tz);
            match TimeRange::new(starts, ends) {
                Ok(range) => Some(range),
                Err(_) => {
                    errors.add("to", "Enter a date such as 2030-01-31.");
                    None
                }
            }
        }
        _ => None,
    };
    let time_of_day = read_time_of_day(form, tz, window.as_ref(), errors);
    let entry = NewEntry::new(target?, window?, time_of_day?);
    match entry {
        Ok(entry) => Some(entry),
        Err(err) => {
            errors.add_problem(&Problem::from(err), JOIN_FIELDS);
            None
        }
    }
}

/// The optional time of day, from the page's zone to the core's UTC minutes; `Some(None)` for
/// any time, `None` when it is wrong (the error recorded).
fn read_time_of_day(
    form: &JoinForm,
    tz: Tz,
    window: Option<&TimeRange>,
    errors: &mut Errors,
) -> Option<Option<TimeOfDay>> {
    let clock = |text: &str, field: &str, errors: &mut Errors| {
        let parsed = NaiveTime::parse_from_str(text.trim(), "%H:%M").ok();
        if parsed.is_none() {
            errors.add(
                field,
                "Enter a time such as 08:30, or leave both times empty.",
            );
        }
        parsed
    };
    let (from, to) = match (form.time_from.trim(), form.time_to.trim()) {
        ("", "") => return Some(None),
        (from, "") => {
            clock(from, "time_from", errors);
            errors.add(
                "time_to",
                "Enter the latest start too, or leave both empty.",
            );
            return None;
        }
        ("", _) => {
            errors.add(
                "time_from",
                "Enter the earliest start too, or leave both empty.",
            );
            return None;
        }
        (from, to) => (
            clock(from, "time_from", errors),
            clock(to, "time_to", errors),
        ),
    };
    let (from, to) = (from?, to?);
    let minutes = |t: NaiveTime| i32::try_from(t.num_seconds_from_midnight() / 60).unwrap_or(0);
    let (local_from, local_to) = match minutes(to) {
        // Midnight as the latest start means the end of the day.
        0 => (minutes(from), i32::from(MINUTES_PER_DAY)),
        to => (minutes(from), to),
    };
    if local_from >= local_to {
        errors.add(
            "time_to",
            "The latest start must be after the earliest start.",
        );
        return None;
    }
    let offset = window.map_or(0, |w| offset_minutes(tz, w.starts_at()));
    let (mut utc_from, mut utc_to) = (local_from - offset, local_to - offset);
    if utc_from < 0 {
        (utc_from, utc_to) = (utc_from + 1440, utc_to + 1440);
    } else if utc_from >= 1440 {
        (utc_from, utc_to) = (utc_from - 1440, utc_to - 1440);
    }
    let fits = |m: i32| u16::try_from(m).ok();
    match (fits(utc_from), fits(utc_to)) {
        (Some(f), Some(t)) if t <= MINUTES_PER_DAY => TimeOfDay::new(f, t).ok().map(Some),
        _ => {
            errors.add(
                "time_to",
                format!(
                    "In UTC, which the waitlist keeps, these times span midnight \
                     ({:02}:{:02} in {}). Choose times on one side of it, or leave both empty.",
                    offset.div_euclid(60).rem_euclid(24),
                    offset.rem_euclid(60),
                    tz.name()
                ),
            );
            None
        }
    }
}

/// The zone's offset from UTC at `at`, in minutes.
fn offset_minutes(tz: Tz, at: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
        / 60
}

/// An entry as the pages show it, in the page's zone.
#[derive(Debug)]
pub(crate) struct EntryRow {
    pub(crate) id: WaitlistEntryId,
    /// "Dr Who" or "Any Cardiology doctor".
    pub(crate) wants: String,
    /// "Mon 1 Dec 2026 – Sun 7 Dec 2026".
    pub(crate) days: String,
    /// "08:00–12:00", or "Any time".
    pub(crate) time_of_day: String,
    pub(crate) status: EntryStatus,
    /// What the status means, in words.
    pub(crate) label: &'static str,
    pub(crate) joined: String,
    pub(crate) waiting: bool,
}

impl EntryRow {
    pub(crate) fn new(
        entry: &WaitlistEntry,
        doctors: &HashMap<DoctorId, Doctor>,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> Self {
        let wants = match &entry.target {
            WaitlistTarget::Doctor(id) => doctors.get(id).map_or_else(
                || "A doctor no longer listed".to_owned(),
                |d| d.name.clone(),
            ),
            WaitlistTarget::Specialization(s) => format!("Any {s} doctor"),
        };
        let start = entry.window.starts_at();
        // The window ends at the midnight after its last day.
        let last = entry.window.ends_at() - Duration::microseconds(1);
        let day = |at: DateTime<Utc>| at.with_timezone(&tz).format("%a %-d %b %Y").to_string();
        let days = if day(start) == day(last) {
            day(start)
        } else {
            format!("{} – {}", day(start), day(last))
        };
        let time_of_day = entry.time_of_day.map_or_else(
            || "Any time".to_owned(),
            |t| {
                let offset = offset_minutes(tz, start);
                let clock = |m: u16| {
                    let local = (i32::from(m) + offset).rem_euclid(1440);
                    format!("{:02}:{:02}", local / 60, local % 60)
                };
                format!("{}–{}", clock(t.from_minute()), clock(t.to_minute()))
            },
        );
        let status = entry.state.status_at(now);
        let label = match status {
            EntryStatus::Waiting => "Waiting",
            EntryStatus::Offered => "A slot is held for you",
            EntryStatus::Booked => "Booked",
            EntryStatus::Declined => "Declined",
            EntryStatus::Lapsed => "Offer lapsed",
            EntryStatus::Left => "Left",
        };
        Self {
            id: entry.id,
            wants,
            days,
            time_of_day,
            status,
            label,
            joined: time::when(entry.joined_at, tz),
            waiting: status == EntryStatus::Waiting,
        }
    }
}

/// An offer as the pages show it: the slot held, and until when.
#[derive(Debug)]
pub(crate) struct OfferView {
    pub(crate) booking: BookingId,
    pub(crate) doctor: String,
    pub(crate) specialization: String,
    pub(crate) shown: Shown,
    /// "10:15 CET": when it lapses (or lapsed), in the page's zone.
    pub(crate) until: String,
    pub(crate) until_rfc3339: String,
    /// Seconds left, rounded up (0 once lapsed).
    pub(crate) seconds: i64,
    /// "14 min 59 s".
    pub(crate) left: String,
    pub(crate) live: bool,
}

impl OfferView {
    /// The offer `entry` holds (live, or lapsed but not yet tidied), if it holds one.
    pub(crate) async fn of(
        state: &AppState,
        entry: &WaitlistEntry,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> Result<Option<Self>, PageError> {
        let (Some(booking), Some(until)) = (entry.state.offer(), entry.state.offer_until()) else {
            return Ok(None);
        };
        let view = state.engine().booking(booking).await?;
        let live = until > now;
        Ok(Some(Self {
            booking,
            doctor: view.doctor.name,
            specialization: view.doctor.specialization,
            shown: Shown::new(&view.slot.range, view.doctor.timezone, tz),
            until: time::clock_zoned(until, tz),
            until_rfc3339: until.to_rfc3339(),
            // Rounded up: the page must never say the offer lapsed before the rules do.
            seconds: if live {
                ((until - now).num_milliseconds() + 999) / 1000
            } else {
                0
            },
            left: time::remaining(until - now),
            live,
        }))
    }
}

/// Every doctor by id (one read), to name the entries.
pub(crate) async fn doctors_by_id(
    state: &AppState,
) -> Result<HashMap<DoctorId, Doctor>, PageError> {
    Ok(state
        .engine()
        .doctors(&DoctorFilter::default())
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect())
}

#[derive(Template)]
#[template(path = "waitlist.html")]
struct MinePage {
    layout: Layout,
    offers: Vec<OfferView>,
    rows: Vec<EntryRow>,
    limit: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DoneQuery {
    done: String,
}

/// `GET /waitlist`: the patient's entries in join order, and any offer at the top.
#[handler]
pub(crate) async fn mine(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let query: DoneQuery = parse_query(req)?;
            let flash = match query.done.as_str() {
                "joined" => Some(Flash::ok(
                    "You are on the waitlist. When a matching slot is freed and you are first \
                     in line, it is held for you here.",
                )),
                "left" => Some(Flash::ok("You left that waitlist.")),
                "declined" => Some(Flash::ok(
                    "Offer declined: the slot goes to the next patient in line. You are off \
                     that waitlist.",
                )),
                "lapsed" => Some(Flash::error(
                    "That offer lapsed before it was confirmed, so the slot went to the next \
                     patient in line (or back to the list). Nothing was booked.",
                )),
                "not_waiting" => Some(Flash::error(
                    "That entry is no longer waiting, so there was nothing to leave. A slot \
                     held for you is declined with its Decline button.",
                )),
                _ => None,
            };
            let engine = state.engine();
            let now = engine.now();
            let tz = page::viewer_tz(req, "");
            let entries = engine.patient_waitlist(caller.patient_id()).await?;
            let doctors = doctors_by_id(state).await?;
            let mut offers = Vec::new();
            for entry in &entries {
                if let Some(offer) = OfferView::of(state, entry, now, tz).await? {
                    offers.push(offer);
                }
            }
            // Live offers first: they are what the patient must act on.
            offers.sort_by_key(|o| !o.live);
            page::page(
                StatusCode::OK,
                &MinePage {
                    layout: Layout::new("My waitlist", "waitlist", Some(&caller), tz)
                        .with_flash(flash),
                    offers,
                    rows: entries
                        .iter()
                        .map(|e| EntryRow::new(e, &doctors, now, tz))
                        .collect(),
                    limit: engine.policy().waitlist_limit,
                },
            )
        }
        .await,
    )
}

/// `GET` on a waitlist form's address: My waitlist.
#[handler]
pub(crate) fn waitlist_address() -> Response {
    redirect("/waitlist")
}

/// `POST /waitlist/{id}/leave`: leaves a waiting entry.
#[handler]
pub(crate) async fn leave(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let id = WaitlistEntryId::from_uuid(
                Uuid::parse_str(id.trim()).map_err(|_| PageError::NotFound)?,
            );
            match caller
                .engine(state)
                .leave_waitlist(id, caller.patient_id())
                .await
                .map_err(Problem::from)
            {
                Ok(()) => Ok(redirect("/waitlist?done=left")),
                Err(problem) if problem.code() == "waitlist_entry_not_waiting" => {
                    Ok(redirect("/waitlist?done=not_waiting"))
                }
                Err(problem) => Err(problem.into()),
            }
        }
        .await,
    )
}

/// The offer's booking, when it is the caller's own (an offer is a hold in the patient's
/// name); otherwise the 404 page, exactly as for someone else's booking. Once the offer has
/// lapsed and its entry moved on, the engine's refusal says so.
async fn own_offer(
    state: &AppState,
    caller: &Caller,
    booking: &str,
) -> Result<BookingId, PageError> {
    let booking =
        BookingId::from_uuid(Uuid::parse_str(booking.trim()).map_err(|_| PageError::NotFound)?);
    let view = state.engine().booking(booking).await?;
    if view.booking.patient_id != caller.patient_id() {
        return Err(PageError::NotFound);
    }
    Ok(booking)
}

/// `POST /waitlist/offers/{booking}/confirm`: confirms the offer; the booking's page follows.
#[handler]
pub(crate) async fn confirm_offer(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let booking = own_offer(state, &caller, &id).await?;
            let confirmed = caller
                .engine(state)
                .confirm(booking, caller.patient_id())
                .await
                .map(|booking| {
                    tracing::info!(booking = %booking.id, "waitlist offer confirmed on the web");
                    format!("/bookings/{}?done=confirmed", booking.id)
                });
            answer_offer(state, "confirm", confirmed)
        }
        .await,
    )
}

/// `POST /waitlist/offers/{booking}/decline`: declines the offer (cancels its hold), which
/// passes the slot to the next patient in line.
#[handler]
pub(crate) async fn decline_offer(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let booking = own_offer(state, &caller, &id).await?;
            let declined = caller
                .engine(state)
                .cancel_as_patient(booking, caller.patient_id(), None)
                .await
                .map(|_| "/waitlist?done=declined".to_owned());
            answer_offer(state, "cancel", declined)
        }
        .await,
    )
}

/// Where an answer to an offer leads: `done`'s address once it is recorded; back to My
/// waitlist, told the offer lapsed, when it had (an offer is a hold, so a lapsed one refuses
/// both answers); the error page otherwise. The outcome is counted under `action`.
fn answer_offer(
    state: &AppState,
    action: &'static str,
    done: medislot_core::Result<String>,
) -> Result<Response, PageError> {
    match done.map_err(Problem::from) {
        Ok(address) => {
            state.metrics().booking_outcome(action, "ok");
            Ok(redirect(&address))
        }
        Err(problem) => {
            state.metrics().booking_outcome(action, problem.code());
            match problem.code() {
                "hold_expired" | "invalid_transition" => Ok(redirect("/waitlist?done=lapsed")),
                _ => Err(problem.into()),
            }
        }
    }
}
