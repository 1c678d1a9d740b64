//! The admin's outbox page: with nothing configured to deliver them, messages wait there and
//! each shows what would be sent; a dead one is retried with a form (post/redirect/get).

use std::sync::Arc;

use chrono::{Duration, Utc};
use medislot_core::outbox::MAX_ATTEMPTS;
use medislot_core::{Channel, ManualClock, MessageQuery, MessageState, Settlement};
use poem::http::StatusCode;

use crate::{Web, ADMIN_EMAIL};

#[tokio::test]
async fn the_outbox_shows_what_each_message_would_send_and_retries_a_dead_one() {
    let clock = ManualClock::new(Utc::now());
    let web = Web::start_with_clock(Arc::new(clock.clone())).await;
    let admin = web.sign_in(ADMIN_EMAIL).await;
    let (patient, patient_cookie) = web.patient("pat@example.com").await;
    let (_, slots) = web.doctor_with_slots(1).await;
    let engine = web.state.engine();
    engine
        .book(slots[0].id, patient.patient_id(), None)
        .await
        .unwrap();

    // The nav leads there; the emails channel opens first, saying nothing sends it, and
    // shows the email as the patient would read it.
    let dashboard = web.get("/admin", &admin).await;
    assert!(
        dashboard.body.contains("href=\"/admin/outbox\""),
        "{}",
        dashboard.body
    );
    let page = web.get("/admin/outbox", &admin).await;
    page.assert_html(StatusCode::OK);
    assert!(
        page.body.contains("aria-current=\"page\">Outbox"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("No SMTP server is configured"),
        "{}",
        page.body
    );
    assert!(page.body.contains("What would be sent"), "{}", page.body);
    assert!(
        page.body.contains("data-state=\"pending\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Your appointment is booked – Dr Who"),
        "the subject: {}",
        page.body
    );
    assert!(page.body.contains("Hello Pat,"), "the body: {}", page.body);
    assert!(
        page.body.contains("pat@example.com"),
        "the recipient: {}",
        page.body
    );
    // The webhook's and the broker's copies show the event they carry.
    for channel in ["webhook", "broker"] {
        let page = web
            .get(&format!("/admin/outbox?channel={channel}"), &admin)
            .await;
        page.assert_html(StatusCode::OK);
        assert!(
            page.body.contains("booking.booked"),
            "{channel}: {}",
            page.body
        );
        assert!(
            page.body.contains("data-message-id"),
            "{channel}: {}",
            page.body
        );
    }

    // The email fails every attempt and is given up on.
    for _ in 0..MAX_ATTEMPTS {
        let claimed = engine
            .claim_messages(Channel::Email, 10, Duration::minutes(1))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let failed = Settlement::Failed {
            error: "SMTP: connection refused".into(),
        };
        engine
            .settle_message(claimed[0].entry.id, Channel::Email, &failed)
            .await
            .unwrap();
        // Past the longest backoff, within the session's twelve hours.
        clock.advance(Duration::hours(1));
    }
    let dead = web
        .get("/admin/outbox?channel=email&status=dead", &admin)
        .await;
    dead.assert_html(StatusCode::OK);
    assert!(dead.body.contains("data-state=\"dead\""), "{}", dead.body);
    assert!(
        dead.body.contains("SMTP: connection refused"),
        "{}",
        dead.body
    );
    assert!(
        dead.body.contains(&format!("<td>{MAX_ATTEMPTS}</td>")),
        "{}",
        dead.body
    );
    let pending = web
        .get("/admin/outbox?channel=email&status=pending", &admin)
        .await;
    assert!(
        pending.body.contains("No Email messages with that status"),
        "{}",
        pending.body
    );

    // Retry: post, redirect, and the page says so; the message waits again from attempt 0.
    let marker = "action=\"/admin/outbox/";
    let start = dead.body.find(marker).expect("a retry form") + marker.len();
    let end = dead.body[start..].find('"').unwrap() + start;
    let action = format!("/admin/outbox/{}", &dead.body[start..end]);
    let csrf = dead.csrf();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("channel", "email"),
        ("status", "dead"),
    ];
    let posted = web.post(&action, &admin, &form).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    let location = posted.location.expect("a redirect");
    assert!(location.contains("done=retried"), "{location}");
    let shown = web.get(&location, &admin).await;
    shown.assert_html(StatusCode::OK);
    assert!(
        shown.body.contains("waiting to be sent again"),
        "{}",
        shown.body
    );
    let email = engine
        .messages(&MessageQuery {
            channel: Channel::Email,
            state: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(email.items[0].delivery.state(), MessageState::Pending);
    assert_eq!(email.items[0].delivery.attempts, 0);
    // Only a dead message is retried; the form opened again leads to the outbox.
    let again = web.post(&action, &admin, &form).await;
    let location = again.location.expect("a redirect");
    assert!(location.contains("done=not_dead"), "{location}");
    let shown = web.get(&location, &admin).await;
    assert!(shown.body.contains("was not retried"), "{}", shown.body);
    assert_eq!(web.get(&action, &admin).await.status, StatusCode::SEE_OTHER);
    // Without the session's CSRF token nothing is retried.
    let forged = web
        .post(&action, &admin, &[("channel", "email"), ("status", "dead")])
        .await;
    assert!(forged.status.is_client_error(), "{}", forged.status);

    // Filters that do not parse are named; a patient gets the 403 page.
    let bad = web
        .get("/admin/outbox?status=lost&channel=pigeon", &admin)
        .await;
    bad.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.error_for("status").is_some(), "{}", bad.body);
    assert!(bad.error_for("channel").is_some(), "{}", bad.body);
    let refused = web.get("/admin/outbox", &patient_cookie).await;
    refused.assert_html(StatusCode::FORBIDDEN);
}
