//! The audit trail: every change the clinic's data went through (doctors, slots, hours,
//! bookings, the waitlist, accounts), who made it, when, from what to what and why, oldest
//! first, filtered by booking, patient, doctor, who acted and a span of days, a page at a time.
//! Read only: the journal is never changed.

use std::collections::HashMap;

use askama::Template;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use medislot_core::{
    AccountId, Actor, BookingId, Cursor, Doctor, DoctorFilter, DoctorId, Email, JournalCursor,
    JournalEntry, JournalQuery, PatientId, Role,
};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, Request, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::PAGE_SIZE;
use crate::problem::Problem;
use crate::state::AppState;
use crate::web::page::{self, parse_query, query_string, respond, Errors, Layout};
use crate::web::time;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct AuditFilters {
    booking: String,
    patient: String,
    doctor: String,
    actor: String,
    from: String,
    to: String,
    cursor: String,
}

impl AuditFilters {
    fn query(&self, cursor: &str) -> String {
        query_string(&[
            ("booking", &self.booking),
            ("patient", &self.patient),
            ("doctor", &self.doctor),
            ("actor", &self.actor),
            ("from", &self.from),
            ("to", &self.to),
            ("cursor", cursor),
        ])
    }
}

/// One entry's row.
struct EntryRow {
    id: String,
    at: String,
    kind: &'static str,
    /// Who acted, in words.
    actor: String,
    doctor: Option<String>,
    booking_id: Option<String>,
    /// "CONFIRMED → CANCELLED", "patient → admin", or nothing.
    change: Option<String>,
    reason: Option<String>,
    request_id: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    filters: AuditFilters,
    doctors: Vec<Doctor>,
    /// The zone of the date filters and of every time on the page.
    zone: String,
    errors: Errors,
    rows: Vec<EntryRow>,
    next_page: Option<String>,
    first_page: Option<String>,
}

/// `GET /admin/audit`: the journal, oldest first, filtered.
#[handler]
pub(crate) async fn audit_page(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let filters: AuditFilters = parse_query(req)?;
            let tz = page::viewer_tz(req, "");
            let engine = state.engine();
            let doctors = engine.doctors(&DoctorFilter::default()).await?;
            let mut errors = Errors::default();
            let query = read_filters(state, &filters, tz, &mut errors).await?;
            let (rows, next) = if errors.any() {
                (Vec::new(), None)
            } else {
                let page = engine.journal(&query).await?;
                let names: HashMap<DoctorId, &str> =
                    doctors.iter().map(|d| (d.id, d.name.as_str())).collect();
                let rows = page.items.iter().map(|e| row(e, &names, tz)).collect();
                (rows, page.next)
            };
            let listed = AuditFilters {
                cursor: String::new(),
                ..filters.clone()
            };
            let first_page =
                (!filters.cursor.is_empty()).then(|| format!("/admin/audit?{}", listed.query("")));
            page::page(
                if errors.any() {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::OK
                },
                &AuditPage {
                    layout: Layout::new("Audit trail", "audit", Some(&caller), tz),
                    filters,
                    zone: time::zone_name(&tz).to_owned(),
                    doctors,
                    errors,
                    rows,
                    next_page: next.map(|c| format!("/admin/audit?{}", listed.query(&c.encode()))),
                    first_page,
                },
            )
        }
        .await,
    )
}

/// The journal query the filters ask for; each unusable filter is named in `errors`.
async fn read_filters(
    state: &AppState,
    filters: &AuditFilters,
    tz: Tz,
    errors: &mut Errors,
) -> Result<JournalQuery, Problem> {
    let mut query = JournalQuery {
        after: JournalCursor::decode(&filters.cursor),
        limit: PAGE_SIZE,
        ..JournalQuery::default()
    };
    let booking = filters.booking.trim();
    if !booking.is_empty() {
        match Uuid::parse_str(booking) {
            Ok(id) => query.booking_id = Some(BookingId::from_uuid(id)),
            Err(_) => errors.add("booking", "Enter a booking's id, as on its page."),
        }
    }
    if !filters.doctor.is_empty() {
        match Uuid::parse_str(filters.doctor.trim()) {
            Ok(id) => query.doctor_id = Some(DoctorId::from_uuid(id)),
            Err(_) => errors.add("doctor", "Choose a doctor from the list."),
        }
    }
    let patient = filters.patient.trim();
    if !patient.is_empty() {
        match account_by_email(state, patient).await? {
            Some((id, _)) => query.patient_id = Some(PatientId::from_uuid(id)),
            None => errors.add("patient", "No account has that email."),
        }
    }
    let actor = filters.actor.trim();
    if actor.eq_ignore_ascii_case("system") {
        query.actor = Some(Actor::System);
    } else if !actor.is_empty() {
        match account_by_email(state, actor).await? {
            Some((id, Role::Admin)) => {
                query.actor = Some(Actor::Admin(Some(AccountId::from_uuid(id))));
            }
            Some((id, Role::Patient)) => {
                query.actor = Some(Actor::Patient(PatientId::from_uuid(id)))
            }
            None => errors.add("actor", "Enter “system” or the email of an account."),
        }
    }
    let day = |field: &str, value: &str, errors: &mut Errors| {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        let parsed = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok();
        if parsed.is_none() {
            errors.add(field, "Enter a date such as 2030-01-31.");
        }
        parsed
    };
    let from = day("from", &filters.from, errors);
    let to = day("to", &filters.to, errors);
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            errors.add("to", "Enter a day on or after the first one.");
        }
    }
    query.from = from.map(|d| time::day_window(d, tz).0);
    // The last day is included: entries before the end of that day.
    query.to = to.map(|d| time::day_window(d, tz).1);
    if query.from.is_some() && query.to.is_some() && query.from >= query.to {
        query.to = query.from.map(|from| from + Duration::days(1));
    }
    Ok(query)
}

/// The account with `email`: its id and role, if there is one (an unparsable address has none).
async fn account_by_email(state: &AppState, email: &str) -> Result<Option<(Uuid, Role)>, Problem> {
    let Ok(email) = Email::parse(email) else {
        return Ok(None);
    };
    let account = state.accounts().account_by_email(&email).await?;
    Ok(account.map(|a| (a.id.as_uuid(), a.role)))
}

fn row(entry: &JournalEntry, doctors: &HashMap<DoctorId, &str>, tz: Tz) -> EntryRow {
    let actor = match entry.actor {
        Actor::System => "MediSlot (the system)".to_owned(),
        Actor::Patient(id) => format!("Patient {}", short(id.as_uuid())),
        Actor::Admin(Some(id)) => format!("Admin {}", short(id.as_uuid())),
        Actor::Admin(None) => "Admin".to_owned(),
    };
    let change = match (entry.from, entry.to, entry.from_role, entry.to_role) {
        (Some(from), Some(to), _, _) => Some(format!("{from} → {to}")),
        (None, Some(to), _, _) => Some(format!("→ {to}")),
        (_, _, Some(from), Some(to)) => Some(format!("{} → {}", from.as_str(), to.as_str())),
        _ => None,
    };
    EntryRow {
        id: entry.id.to_string(),
        at: time::when(entry.at, tz),
        kind: entry.kind.as_str(),
        actor,
        doctor: entry.doctor_id.map(|id| {
            doctors
                .get(&id)
                .map_or_else(|| short(id.as_uuid()), |n| (*n).to_owned())
        }),
        booking_id: entry.booking_id.map(|id| id.to_string()),
        change,
        reason: entry.reason.clone(),
        request_id: entry.request_id.clone(),
    }
}

/// The first 8 hex digits of an id: enough to tell entries apart on a page.
fn short(id: Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}
