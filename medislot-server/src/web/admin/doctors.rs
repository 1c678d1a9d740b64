//! Doctors: the list, adding one (time zone from the list), deleting one or saying why not.

use askama::Template;
use medislot_core::{Doctor, DoctorFilter, NewDoctor};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::{parse_doctor_id, DoneQuery};
use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::AppState;
use crate::web::page::{
    self, parse_form, parse_query, redirect, respond, Errors, Flash, Layout, PageError,
};
use crate::web::time;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct DoctorForm {
    name: String,
    specialization: String,
    timezone: String,
}

#[derive(Template)]
#[template(path = "admin/doctors.html")]
struct DoctorsPage {
    layout: Layout,
    doctors: Vec<Doctor>,
    form: DoctorForm,
    zones: Vec<&'static str>,
    errors: Errors,
}

/// `GET /admin/doctors`: the doctors and the form to add one.
#[handler]
pub(crate) async fn doctors_list(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let query: DoneQuery = parse_query(req)?;
            let flash = match query.done.as_str() {
                "created" => Some(Flash::ok("Doctor added.")),
                "deleted" => Some(Flash::ok(
                    "Doctor deleted. Their bookings stay in the history.",
                )),
                "not_deleted" => {
                    let name = match parse_doctor_id(&query.doctor) {
                        Ok(id) => state.engine().doctor(id).await.ok().map(|d| d.name),
                        Err(_) => None,
                    };
                    Some(Flash::error(format!(
                        "{} was not deleted: they have upcoming appointments that are booked, \
                         held or resting in a buffer after a cancellation. Cancel those under \
                         Bookings first, then try again.",
                        name.as_deref().unwrap_or("The doctor")
                    )))
                }
                _ => None,
            };
            let form = DoctorForm {
                timezone: page::viewer_tz(req, "").name().to_owned(),
                ..DoctorForm::default()
            };
            doctors_page(
                state,
                req,
                &caller,
                form,
                Errors::default(),
                StatusCode::OK,
                flash,
            )
            .await
        }
        .await,
    )
}

async fn doctors_page(
    state: &AppState,
    req: &Request,
    caller: &Caller,
    form: DoctorForm,
    errors: Errors,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, PageError> {
    let doctors = state.engine().doctors(&DoctorFilter::default()).await?;
    page::page(
        status,
        &DoctorsPage {
            layout: Layout::new("Doctors", "doctors", Some(caller), page::viewer_tz(req, ""))
                .with_flash(flash),
            doctors,
            form,
            zones: crate::web::zone::zone_names(),
            errors,
        },
    )
}

/// `POST /admin/doctors`: adds a doctor; each refused field is named next to it.
#[handler]
pub(crate) async fn create_doctor(
    req: &Request,
    Data(state): Data<&AppState>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let form: DoctorForm = parse_form(&body)?;
            let mut errors = Errors::default();
            // Check every field, so that all errors show at once.
            for (field, value) in [
                ("name", &form.name),
                ("specialization", &form.specialization),
            ] {
                if value.trim().is_empty() {
                    errors.add(field, "Fill this in.");
                }
            }
            if time::parse_zone(&form.timezone).is_none() {
                errors.add("timezone", "Choose a time zone from the list.");
            }
            let created = if errors.any() {
                None
            } else {
                match NewDoctor::new(&form.name, &form.specialization, &form.timezone) {
                    Ok(new) => Some(caller.engine(state).create_doctor(new).await),
                    Err(err) => Some(Err(err)),
                }
            };
            match created.map(|r| r.map_err(Problem::from)) {
                Some(Ok(doctor)) => {
                    tracing::info!(doctor = %doctor.id, "doctor created on the web");
                    Ok(redirect("/admin/doctors?done=created"))
                }
                Some(Err(problem)) if problem.status().is_client_error() => {
                    errors.add_problem(
                        &problem,
                        &[
                            ("name", "The name"),
                            ("specialization", "The specialization"),
                            ("timezone", "The time zone"),
                        ],
                    );
                    doctors_page(state, req, &caller, form, errors, problem.status(), None).await
                }
                Some(Err(problem)) => Err(problem.into()),
                None => {
                    doctors_page(
                        state,
                        req,
                        &caller,
                        form,
                        errors,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        None,
                    )
                    .await
                }
            }
        }
        .await,
    )
}

/// `GET /admin/doctors/{id}/delete`: the form's address, opened again: the doctors' page.
#[handler]
pub(crate) fn delete_doctor_address() -> Response {
    redirect("/admin/doctors")
}

/// `POST /admin/doctors/{id}/delete`: deletes a doctor, or says on the doctors' page why it
/// cannot be done (post/redirect/get).
#[handler]
pub(crate) async fn delete_doctor(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let id = parse_doctor_id(&id)?;
            // A doctor that does not exist (or is deleted) answers with the 404 page.
            state.engine().doctor(id).await?;
            match caller.engine(state).delete_doctor(id).await {
                Ok(()) => {
                    tracing::info!(doctor = %id, "doctor deleted on the web");
                    Ok(redirect("/admin/doctors?done=deleted"))
                }
                Err(medislot_core::Error::DoctorHasActiveBookings(_)) => Ok(redirect(&format!(
                    "/admin/doctors?done=not_deleted&doctor={id}"
                ))),
                Err(err) => Err(err.into()),
            }
        }
        .await,
    )
}
