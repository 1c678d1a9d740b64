//! A doctor's profile on the doctor's page: the bio, languages and location patients read,
//! edited by an admin (post/redirect/get; a refused form shows each error next to its field).

use chrono::{DateTime, Utc};
use medislot_core::{Doctor, DoctorProfile};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::parse_doctor_id;
use super::slots::{doctor_page, DoctorView};
use crate::problem::Problem;
use crate::state::AppState;
use crate::web::page::{self, parse_form, redirect, respond, Errors};

/// The profile form as typed: languages as one comma-separated list.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct ProfileForm {
    pub(crate) bio: String,
    pub(crate) languages: String,
    pub(crate) location: String,
}

impl ProfileForm {
    /// The form filled in with the doctor's current profile.
    pub(crate) fn of(doctor: &Doctor) -> Self {
        Self {
            bio: doctor.profile.bio().to_owned(),
            languages: doctor.profile.languages_list(),
            location: doctor.profile.location().to_owned(),
        }
    }
}

/// `GET /admin/doctors/{id}/profile`: the form's address, opened again: the doctor's page.
#[handler]
pub(crate) fn update_profile_address(Path(id): Path<String>) -> Response {
    match parse_doctor_id(&id) {
        Ok(id) => redirect(&format!("/admin/doctors/{id}")),
        Err(_) => redirect("/admin/doctors"),
    }
}

/// `POST /admin/doctors/{id}/profile`: replaces the doctor's profile, then shows the doctor's
/// page; a refused part is named next to its field, the others keep what was typed.
#[handler]
pub(crate) async fn update_profile(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let form: ProfileForm = parse_form(&body)?;
            let engine = caller.engine(state);
            let doctor = engine.doctor(parse_doctor_id(&id)?).await?;
            let profile = match read_profile(&form) {
                Ok(profile) => profile,
                Err(refused) => {
                    let view = refused_page(&doctor, engine.now(), form, &refused);
                    let status = StatusCode::UNPROCESSABLE_ENTITY;
                    return doctor_page(state, &caller, doctor, view, status, None).await;
                }
            };
            let doctor = engine.update_doctor_profile(doctor.id, profile).await?;
            tracing::info!(doctor = %doctor.id, "doctor profile saved on the web");
            Ok(redirect(&format!(
                "/admin/doctors/{}?done=profile",
                doctor.id
            )))
        }
        .await,
    )
}

/// The profile the form holds, or the refusal of each part: every part is checked alone, so
/// that every refused part is named at once (the parts' rules are independent, so parts that
/// pass alone pass together).
fn read_profile(form: &ProfileForm) -> Result<DoctorProfile, Vec<Problem>> {
    let none: [&str; 0] = [];
    let refused: Vec<Problem> = [
        DoctorProfile::new(&form.bio, &none, "").err(),
        DoctorProfile::from_list("", &form.languages, "").err(),
        DoctorProfile::new("", &none, &form.location).err(),
    ]
    .into_iter()
    .flatten()
    .map(Problem::from)
    .collect();
    if !refused.is_empty() {
        return Err(refused);
    }
    DoctorProfile::from_list(&form.bio, &form.languages, &form.location)
        .map_err(|err| vec![Problem::from(err)])
}

/// The doctor's page again, each refusal next to the part it names.
fn refused_page(
    doctor: &Doctor,
    now: DateTime<Utc>,
    form: ProfileForm,
    refused: &[Problem],
) -> DoctorView {
    let mut errors = Errors::default();
    for problem in refused {
        errors.add_problem(
            problem,
            &[
                ("bio", "The bio"),
                ("languages", "The languages"),
                ("location", "The location"),
            ],
        );
    }
    DoctorView::refused_profile(doctor, now, form, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_shows_the_languages_as_one_list() {
        let doctor = medislot_core::NewDoctor::new("Dr A", "GP", "UTC")
            .unwrap()
            .with_profile(DoctorProfile::new("Bio", &["English", "Hindi"], "Room 1").unwrap())
            .into_doctor(chrono::Utc::now());
        let form = ProfileForm::of(&doctor);
        assert_eq!(form.languages, "English, Hindi");
        assert_eq!(
            (form.bio.as_str(), form.location.as_str()),
            ("Bio", "Room 1")
        );
    }
}
