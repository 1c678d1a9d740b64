//! Checks on doctor profiles: stored with the doctor, read back wherever the doctor is, and
//! replaced only through a mutation that refuses a doctor who is gone.

use std::sync::Arc;

use chrono::Duration;

use super::support::Fixture;
use crate::{DoctorFilter, DoctorId, DoctorProfile, Error, NewDoctor, PatientId, SlotStore};

fn profile(bio: &str, languages: &[&str], location: &str) -> DoctorProfile {
    DoctorProfile::new(bio, languages, location).expect("valid profile")
}

/// A profile given at creation, then replaced, reads back exactly from the doctor, the doctor
/// listing and a booking's view (also in unusual text over several lines).
pub async fn a_doctor_profile_is_stored_replaced_and_read_back<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let first = profile(
        "Dr Zoë treats hearts.\r\nÉtudes à Lyon; \u{202B}د. عائشة\u{202C} 👩🏽‍⚕️\tand more.",
        &["Français", "English", "العربية"],
        "Bâtiment B, salle 4 — 12 rue de la Paix",
    );
    let new = NewDoctor::new("Dr Zoë Profile", "Cardiology", "Europe/Paris")
        .expect("valid doctor")
        .with_profile(first.clone());
    let doc = f.engine.create_doctor(new).await.expect("create doctor");
    assert_eq!(doc.profile, first);
    assert_eq!(f.engine.doctor(doc.id).await.unwrap().profile, first);
    let listed = f.engine.doctors(&DoctorFilter::default()).await.unwrap();
    assert_eq!(listed, vec![doc.clone()], "listed with its profile");

    let slot = f.slots(&doc, 1, Duration::zero()).await[0];
    let booking = f.engine.book(slot, PatientId::new(), None).await.unwrap();

    let second = profile("Moved.", &["English"], "Room 12");
    let updated = f
        .engine
        .update_doctor_profile(doc.id, second.clone())
        .await
        .unwrap();
    assert_eq!(updated.profile, second);
    assert_eq!((updated.id, &updated.name), (doc.id, &doc.name));
    assert_eq!(f.engine.doctor(doc.id).await.unwrap(), updated);
    let view = f.engine.booking(booking.id).await.unwrap();
    assert_eq!(
        view.doctor.profile, second,
        "a booking shows the new profile"
    );

    // Emptied, the profile says nothing, and a doctor made without one has the empty profile.
    f.engine
        .update_doctor_profile(doc.id, DoctorProfile::default())
        .await
        .unwrap();
    assert!(f.engine.doctor(doc.id).await.unwrap().profile.is_empty());
    let plain = f.doctor("Dr Plain", "Cardiology").await;
    assert!(f.engine.doctor(plain.id).await.unwrap().profile.is_empty());
}

/// The profile of a doctor who does not exist or was deleted cannot be changed.
pub async fn updating_the_profile_of_an_unknown_or_deleted_doctor_is_refused<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let unknown = DoctorId::new();
    assert!(matches!(
        f.engine
            .update_doctor_profile(unknown, profile("x", &[], ""))
            .await,
        Err(Error::DoctorNotFound(id)) if id == unknown
    ));
    let doc = f.doctor("Dr Gone", "Cardiology").await;
    f.engine.delete_doctor(doc.id).await.unwrap();
    assert!(matches!(
        f.engine
            .update_doctor_profile(doc.id, profile("x", &[], ""))
            .await,
        Err(Error::DoctorNotFound(id)) if id == doc.id
    ));
}
