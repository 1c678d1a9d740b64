//! A doctor's waitlist, for the clinic: the active entries that want the doctor (by name or by
//! specialization) in join order, which is the order offers are made in, each with its
//! patient and any offer it holds.

use askama::Template;
use medislot_core::{AccountId, Doctor, WaitlistTarget};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};

use super::parse_doctor_id;
use crate::problem::Problem;
use crate::state::AppState;
use crate::web::page::{self, respond, Layout};
use crate::web::waitlist::{doctors_by_id, EntryRow, OfferView};

/// Entries the page lists (the API pages further with `limit`).
const LIMIT: u32 = 200;

/// One place in line.
struct LineRow {
    position: usize,
    patient: String,
    patient_email: String,
    /// Whether it waits for the specialization rather than this doctor by name.
    by_specialization: bool,
    entry: EntryRow,
    offer: Option<OfferView>,
}

#[derive(Template)]
#[template(path = "admin/waitlist.html")]
struct WaitlistPage {
    layout: Layout,
    doctor: Doctor,
    rows: Vec<LineRow>,
    offer_minutes: i64,
}

/// `GET /admin/doctors/{id}/waitlist`
#[handler]
pub(crate) async fn doctor_waitlist(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let id = parse_doctor_id(&id)?;
            let engine = state.engine();
            let doctor = engine.doctor(id).await?;
            let entries = engine.doctor_waitlist(id, LIMIT).await?;
            let doctors = doctors_by_id(state).await?;
            let now = engine.now();
            let tz = page::viewer_tz(req, "");
            let mut rows = Vec::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                // One account read per entry: a line is short (at most `LIMIT`).
                let account = state
                    .accounts()
                    .account(AccountId::from_uuid(entry.patient_id.as_uuid()))
                    .await
                    .map_err(Problem::from)?;
                let (patient, patient_email) = account.map_or_else(
                    || ("(deleted account)".to_owned(), String::new()),
                    |a| (a.name, a.email.to_string()),
                );
                rows.push(LineRow {
                    position: i + 1,
                    patient,
                    patient_email,
                    by_specialization: matches!(entry.target, WaitlistTarget::Specialization(_)),
                    entry: EntryRow::new(entry, &doctors, now, tz),
                    offer: OfferView::of(state, entry, now, tz).await?,
                });
            }
            page::page(
                StatusCode::OK,
                &WaitlistPage {
                    layout: Layout::new(
                        format!("Waitlist · {}", doctor.name),
                        "doctors",
                        Some(&caller),
                        tz,
                    ),
                    doctor,
                    rows,
                    offer_minutes: engine.policy().offer_window.num_minutes(),
                },
            )
        }
        .await,
    )
}
