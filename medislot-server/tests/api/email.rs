//! Delivering the outbox by email: a real SMTP server (in process) receives each email, with
//! its calendar file, once per message; a webhook's success does not mark an email sent.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use icalendar::{Component, EventStatus};
use mail_parser::{MessageParser, MimeHeaders};
use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server};
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use medislot_core::{BookingId, Channel, OutboxMessage, PatientId};
use medislot_server::delivery::{deliver_due, Mailer, Outlet, Round};
use medislot_server::state::AppState;
use serde_json::json;
use tokio::sync::mpsc;

use crate::calendar::{parse_ics, utc};
use crate::{As, TestApp, User};

/// One SMTP session's mail, sent on to the test when its data ends.
#[derive(Clone)]
struct Inbox {
    data: Vec<u8>,
    to: Vec<String>,
    received: mpsc::UnboundedSender<(Vec<String>, Vec<u8>)>,
    refusing: Arc<Mutex<bool>>,
}

impl Handler for Inbox {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        if *self.refusing.lock().unwrap() {
            return response::INTERNAL_ERROR;
        }
        self.data.clear();
        self.to = to.to_vec();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let _ = self
            .received
            .send((self.to.clone(), std::mem::take(&mut self.data)));
        response::OK
    }
}

/// An SMTP server on a free loopback port, a mailer sending to it, what it receives, and a
/// switch that makes it refuse mail.
pub(crate) struct SmtpServer {
    pub(crate) mailer: Mailer,
    received: mpsc::UnboundedReceiver<(Vec<String>, Vec<u8>)>,
    refusing: Arc<Mutex<bool>>,
}

impl SmtpServer {
    pub(crate) fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, received) = mpsc::unbounded_channel();
        let refusing = Arc::new(Mutex::new(false));
        let mut server = Server::new(Inbox {
            data: Vec::new(),
            to: Vec::new(),
            received: sender,
            refusing: refusing.clone(),
        });
        server.with_name("smtp.test").with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        let mailer = Mailer::new(
            &format!("smtp://127.0.0.1:{port}"),
            "MediSlot Clinic <clinic@medislot.test>",
        )
        .unwrap();
        Self {
            mailer,
            received,
            refusing,
        }
    }

    /// The next email received, parsed: recipients, the whole message.
    pub(crate) async fn next(&mut self) -> (Vec<String>, Vec<u8>) {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .expect("an email within 10 s")
            .expect("the server runs")
    }

    pub(crate) fn nothing_more(&mut self) {
        assert!(self.received.try_recv().is_err(), "no other email");
    }
}

/// The calendar event attached to `raw`, after checking the email's parts.
fn attached_event(raw: &[u8]) -> (String, icalendar::Calendar, icalendar::Event) {
    let email = MessageParser::default()
        .parse(raw)
        .expect("a parsable email");
    assert!(email.body_text(0).is_some(), "a plain-text body");
    assert!(email.body_html(0).is_some(), "an HTML body");
    let attachment = email
        .attachments()
        .find(|part| part.attachment_name().is_some_and(|n| n.ends_with(".ics")))
        .expect("a calendar attachment");
    let content_type = attachment.content_type().expect("a content type");
    assert_eq!(content_type.ctype(), "text");
    assert_eq!(content_type.subtype(), Some("calendar"));
    let text = String::from_utf8(attachment.contents().to_vec()).expect("UTF-8");
    let (calendar, event) = parse_ics(&text);
    assert_eq!(
        content_type.attribute("method"),
        calendar.property_value("METHOD")
    );
    (
        email.message_id().expect("a Message-ID").to_owned(),
        calendar,
        event,
    )
}

async fn each_change_emails_the_patient_one_calendar_event_across_book_reschedule_and_cancel() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(2).await;
    let patient = app.patient().await;
    app.put(
        "/api/v1/me",
        As::Bearer(&patient),
        json!({ "name": "Pat Ient", "time_zone": "America/New_York" }),
    )
    .await
    .expect(200);
    let mut smtp = SmtpServer::start();
    let first = app.book(&patient, slots[0]).await.id();
    let round = deliver_due(&app.state, &smtp.mailer).await.unwrap();
    assert_eq!(
        round,
        Round {
            delivered: 1,
            failed: 0,
            withdrawn: 0
        }
    );
    let (to, raw) = smtp.next().await;
    assert_eq!(to, vec![patient.email.clone()]);
    let email = MessageParser::default().parse(&raw[..]).unwrap();
    assert_eq!(
        email.subject(),
        Some("Your appointment is booked – Dr Ada Lovelace")
    );
    let text = email.body_text(0).unwrap().into_owned();
    assert!(text.contains("Europe/Paris"), "{text}");
    assert!(text.contains("America/New_York"), "{text}");
    let (message_id, calendar, booked) = attached_event(&raw);
    assert_eq!(calendar.property_value("METHOD"), Some("REQUEST"));
    let uid = booked.get_uid().unwrap().to_owned();
    assert_eq!(uid, format!("{first}@medislot"));
    assert_eq!(booked.get_sequence(), Some(1));
    let messages = app.state.engine().messages(&medislot_core::MessageQuery {
        channel: Channel::Email,
        state: None,
        after: None,
        limit: 10,
    });
    let booked_message = messages.await.unwrap().items[0].entry.id;
    assert_eq!(message_id, format!("{booked_message}@medislot.test"));

    let moved = app
        .post(
            &format!("/api/v1/bookings/{first}/reschedule"),
            As::Bearer(&patient),
            json!({ "slot_id": slots[1] }),
        )
        .await
        .id();
    deliver_due(&app.state, &smtp.mailer).await.unwrap();
    let (_, raw) = smtp.next().await;
    let (_, calendar, rescheduled) = attached_event(&raw);
    assert_eq!(calendar.property_value("METHOD"), Some("REQUEST"));
    assert_eq!(rescheduled.get_uid(), Some(uid.as_str()));
    assert_eq!(rescheduled.get_sequence(), Some(3));
    assert_ne!(utc(rescheduled.get_start()), utc(booked.get_start()));

    app.post(
        &format!("/api/v1/bookings/{moved}/cancel"),
        As::Bearer(&patient),
        json!({}),
    )
    .await
    .expect(200);
    deliver_due(&app.state, &smtp.mailer).await.unwrap();
    let (_, raw) = smtp.next().await;
    let (_, calendar, cancelled) = attached_event(&raw);
    assert_eq!(calendar.property_value("METHOD"), Some("CANCEL"));
    assert_eq!(cancelled.get_uid(), Some(uid.as_str()));
    assert_eq!(cancelled.get_sequence(), Some(4));
    assert_eq!(cancelled.get_status(), Some(EventStatus::Cancelled));
    assert_eq!(
        deliver_due(&app.state, &smtp.mailer).await.unwrap(),
        Round::default()
    );
    smtp.nothing_more();
}

async fn a_refused_email_is_sent_again_with_the_same_message_id_and_webhooks_keep_their_own_state()
{
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let mut smtp = SmtpServer::start();
    app.book(&patient, slots[0]).await.expect(201);
    *smtp.refusing.lock().unwrap() = true;
    assert_eq!(
        deliver_due(&app.state, &smtp.mailer).await.unwrap(),
        Round {
            delivered: 0,
            failed: 1,
            withdrawn: 0
        }
    );
    let admin = app.admin().await;
    let failed = first_message(&app, &admin, "email").await;
    assert_eq!(failed["state"], "pending");
    assert_eq!(failed["channel"], "email");
    assert!(failed["last_error"].as_str().unwrap().contains("SMTP"));
    // The webhook channel's copy of the message is untouched by the email's failure.
    let webhook = first_message(&app, &admin, "webhook").await;
    assert_eq!(webhook["attempts"], 0);
    assert_eq!(webhook["id"], failed["id"]);

    *smtp.refusing.lock().unwrap() = false;
    app.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(
        deliver_due(&app.state, &smtp.mailer).await.unwrap(),
        Round {
            delivered: 1,
            failed: 0,
            withdrawn: 0
        }
    );
    let (_, raw) = smtp.next().await;
    let (message_id, _, _) = attached_event(&raw);
    assert_eq!(
        message_id,
        format!("{}@medislot.test", failed["id"].as_str().unwrap())
    );
    assert_eq!(
        first_message(&app, &admin, "email").await["state"],
        "delivered"
    );
    assert_eq!(
        first_message(&app, &admin, "webhook").await["state"],
        "pending"
    );
}

async fn a_confirmed_booking_gets_one_reminder_email_before_it_and_a_cancelled_one_none() {
    let app = TestApp::with_config(|config| {
        config.policy.reminder_lead = Some(chrono::Duration::hours(2));
    })
    .await;
    let (_, _, slots) = app.clinic(2).await;
    let patient = app.patient().await;
    let mut smtp = SmtpServer::start();
    let kept = app.book(&patient, slots[0]).await.id();
    let cancelled = app.book(&patient, slots[1]).await.id();
    app.post(
        &format!("/api/v1/bookings/{cancelled}/cancel"),
        As::Bearer(&patient),
        json!({}),
    )
    .await
    .expect(200);
    let round = deliver_due(&app.state, &smtp.mailer).await.unwrap();
    assert_eq!(
        round.delivered, 3,
        "two bookings and a cancel, no reminder yet"
    );
    for _ in 0..3 {
        smtp.next().await;
    }

    // The reminders are due two hours before the slots, which start a day and a day and half
    // an hour from now: both are due, neither slot has started.
    app.clock
        .advance(chrono::Duration::hours(22) + chrono::Duration::minutes(45));
    let round = deliver_due(&app.state, &smtp.mailer).await.unwrap();
    assert_eq!(
        round,
        Round {
            delivered: 1,
            failed: 0,
            withdrawn: 0
        }
    );
    let (to, raw) = smtp.next().await;
    assert_eq!(to, vec![patient.email.clone()]);
    let email = MessageParser::default().parse(&raw[..]).unwrap();
    assert_eq!(
        email.subject(),
        Some("A reminder of your appointment – Dr Ada Lovelace")
    );
    let (_, calendar, event) = attached_event(&raw);
    assert_eq!(calendar.property_value("METHOD"), Some("REQUEST"));
    assert_eq!(event.get_uid(), Some(format!("{kept}@medislot").as_str()));

    // Neither this instance again nor another one (a restart) sends a reminder twice.
    assert_eq!(
        deliver_due(&app.state, &smtp.mailer).await.unwrap(),
        Round::default()
    );
    let restarted = app.another_instance().await;
    assert_eq!(
        deliver_due(&restarted.state, &smtp.mailer).await.unwrap(),
        Round::default()
    );
    smtp.nothing_more();
    let admin = app.admin().await;
    let outbox = app
        .get("/api/v1/outbox?channel=email", As::Bearer(&admin))
        .await;
    let reminders: Vec<_> = outbox.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["entry"]["kind"] == "booking.reminder")
        .cloned()
        .collect();
    assert_eq!(reminders.len(), 2, "{reminders:?}");
    for reminder in reminders {
        let withdrawn = reminder["entry"]["booking_id"] == cancelled.to_string();
        let state = if withdrawn { "withdrawn" } else { "delivered" };
        assert_eq!(reminder["state"], state, "{reminder}");
        assert_eq!(
            reminder["withdrawn_at"].is_string(),
            withdrawn,
            "{reminder}"
        );
        assert_eq!(
            reminder["delivered_at"].is_string(),
            !withdrawn,
            "{reminder}"
        );
    }
}

/// An outlet that sends through `mailer` and, during its first send, has `patient` cancel
/// `booking`: a cancel that commits after the round claimed that booking's reminder.
struct CancelsDuringFirstSend<'a> {
    mailer: &'a Mailer,
    booking: BookingId,
    patient: PatientId,
    cancelled: AtomicBool,
}

#[async_trait]
impl Outlet for CancelsDuringFirstSend<'_> {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, state: &AppState, message: &OutboxMessage) -> Result<(), String> {
        if !self.cancelled.swap(true, Ordering::SeqCst) {
            state
                .engine()
                .cancel_as_patient(self.booking, self.patient, None)
                .await
                .map_err(|e| e.to_string())?;
        }
        Outlet::send(self.mailer, state, message).await
    }
}

async fn a_booking_cancelled_after_its_reminder_was_claimed_gets_no_reminder() {
    let app = TestApp::with_config(|config| {
        config.policy.reminder_lead = Some(chrono::Duration::hours(2));
    })
    .await;
    let (_, _, slots) = app.clinic(2).await;
    let patient = app.patient().await;
    let mut smtp = SmtpServer::start();
    let first = app.book(&patient, slots[0]).await.id();
    let second = app.book(&patient, slots[1]).await.id();
    deliver_due(&app.state, &smtp.mailer).await.unwrap();
    for _ in 0..2 {
        smtp.next().await;
    }

    // Both reminders are due and claimed in one round, the earlier slot's first; the second
    // booking is cancelled while the first reminder is being sent.
    app.clock
        .advance(chrono::Duration::hours(22) + chrono::Duration::minutes(45));
    let outlet = CancelsDuringFirstSend {
        mailer: &smtp.mailer,
        booking: BookingId::from_uuid(second),
        patient: PatientId::from_uuid(patient.id),
        cancelled: AtomicBool::new(false),
    };
    let round = deliver_due(&app.state, &outlet).await.unwrap();
    assert_eq!(
        round,
        Round {
            delivered: 1,
            failed: 0,
            withdrawn: 1
        }
    );
    let (_, raw) = smtp.next().await;
    let email = MessageParser::default().parse(&raw[..]).unwrap();
    assert_eq!(
        email.subject(),
        Some("A reminder of your appointment – Dr Ada Lovelace")
    );
    let (_, _, event) = attached_event(&raw);
    assert_eq!(event.get_uid(), Some(format!("{first}@medislot").as_str()));

    // The cancel's own email goes out next; no reminder for the cancelled booking ever does.
    let round = deliver_due(&app.state, &smtp.mailer).await.unwrap();
    assert_eq!(round.delivered, 1, "the cancel's email");
    let (_, raw) = smtp.next().await;
    let (_, calendar, _) = attached_event(&raw);
    assert_eq!(calendar.property_value("METHOD"), Some("CANCEL"));
    smtp.nothing_more();
}

/// The oldest message of `channel`'s outbox, as the admin's API lists it.
async fn first_message(app: &TestApp, admin: &User, channel: &str) -> serde_json::Value {
    let page = app
        .get(
            &format!("/api/v1/outbox?channel={channel}"),
            As::Bearer(admin),
        )
        .await;
    page.expect(200)["items"][0].clone()
}

on_every_store!(
    each_change_emails_the_patient_one_calendar_event_across_book_reschedule_and_cancel,
    a_booking_cancelled_after_its_reminder_was_claimed_gets_no_reminder,
    a_refused_email_is_sent_again_with_the_same_message_id_and_webhooks_keep_their_own_state,
    a_confirmed_booking_gets_one_reminder_email_before_it_and_a_cancelled_one_none,
);
