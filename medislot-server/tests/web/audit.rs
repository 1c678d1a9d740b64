//! The admin's audit trail page: every change with who made it, filtered by booking, patient,
//! doctor, who acted and days; refused filters are named; patients cannot see it.

use medislot_core::Context;
use poem::http::StatusCode;

use crate::{Web, ADMIN_EMAIL};

#[tokio::test]
async fn the_audit_trail_lists_changes_with_who_made_them_and_filters_them() {
    let web = Web::start().await;
    let admin = web.sign_in(ADMIN_EMAIL).await;
    let (patient, patient_cookie) = web.patient("pat@example.com").await;
    let (_, slots) = web.doctor_with_slots(2).await;
    let engine = web.state.engine();
    let kept = engine
        .book(slots[0].id, patient.patient_id(), None)
        .await
        .unwrap();
    let cancelled = engine
        .book(slots[1].id, patient.patient_id(), None)
        .await
        .unwrap();
    engine
        .in_context(Context::new(None, Some("req-audit-1")).unwrap())
        .cancel_as_admin(cancelled.id, Some("Doctor ill".into()))
        .await
        .unwrap();

    // The nav leads there; everything is listed, oldest first, with who acted and why.
    let dashboard = web.get("/admin", &admin).await;
    assert!(
        dashboard.body.contains("href=\"/admin/audit\""),
        "{}",
        dashboard.body
    );
    let page = web.get("/admin/audit", &admin).await;
    page.assert_html(StatusCode::OK);
    assert!(
        page.body.contains("aria-current=\"page\">Audit"),
        "{}",
        page.body
    );
    for text in [
        "doctor.created",
        "slot.published",
        "booking.booked",
        "booking.cancelled_by_clinic",
        "CONFIRMED → BUFFER",
        "Doctor ill",
        "req-audit-1",
        "Dr Who",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
    let booked = page.body.find("booking.booked").unwrap();
    let cancel = page.body.find("booking.cancelled_by_clinic").unwrap();
    assert!(booked < cancel, "oldest first");

    // By booking: only the kept booking's entries.
    let by_booking = web
        .get(&format!("/admin/audit?booking={}", kept.id), &admin)
        .await;
    by_booking.assert_html(StatusCode::OK);
    assert!(
        by_booking.body.contains("booking.booked"),
        "{}",
        by_booking.body
    );
    assert!(
        !by_booking.body.contains("booking.cancelled_by_clinic"),
        "{}",
        by_booking.body
    );
    assert!(
        !by_booking.body.contains("slot.published"),
        "{}",
        by_booking.body
    );

    // By who acted: the system did none of these; the patient made the two bookings.
    let by_system = web.get("/admin/audit?actor=system", &admin).await;
    assert!(
        by_system.body.contains("No entries match."),
        "{}",
        by_system.body
    );
    let by_patient = web
        .get("/admin/audit?actor=pat%40example.com", &admin)
        .await;
    assert_eq!(
        by_patient.body.matches("booking.booked").count(),
        2,
        "{}",
        by_patient.body
    );
    assert!(
        !by_patient.body.contains("doctor.created"),
        "{}",
        by_patient.body
    );

    // By the patient's bookings, and by days: a span in the past holds nothing.
    let for_patient = web
        .get("/admin/audit?patient=pat%40example.com", &admin)
        .await;
    assert!(
        for_patient.body.contains("booking.cancelled_by_clinic"),
        "{}",
        for_patient.body
    );
    assert!(
        !for_patient.body.contains("doctor.created"),
        "{}",
        for_patient.body
    );
    let long_ago = web
        .get("/admin/audit?from=2001-01-01&to=2001-01-31", &admin)
        .await;
    assert!(
        long_ago.body.contains("No entries match."),
        "{}",
        long_ago.body
    );

    // Unusable filters are named, each one, and nothing is listed.
    let refused = web
        .get(
            "/admin/audit?booking=nope&actor=nobody%40example.com&from=yesterday&to=2001-01-01",
            &admin,
        )
        .await;
    refused.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    for text in [
        "Enter a booking",
        "Enter “system” or the email of an account.",
        "Enter a date such as 2030-01-31.",
    ] {
        assert!(refused.body.contains(text), "{text}: {}", refused.body);
    }
    assert!(!refused.body.contains("booking.booked"), "{}", refused.body);

    // A patient gets the 403 page.
    let forbidden = web.get("/admin/audit", &patient_cookie).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
}
