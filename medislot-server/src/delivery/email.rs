//! Email: each outbox message about a booking as an email to its patient over SMTP (lettre),
//! in plain text and HTML, with the appointment's calendar file attached
//! ([`crate::calendar`]), so a calendar app keeps one event up to date.
//!
//! The email's `Message-ID` is derived from the outbox message id, so a retried delivery (at
//! least once) is recognisably the same email. Its words say what happened (the message's
//! kind); its calendar file is the appointment as it stands when the email is sent, so a late
//! or retried email never takes a calendar back to an earlier state.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use medislot_core::{AccountId, AccountStore, BookingEngine, EntryKind, OutboxMessage};

use crate::calendar::{Appointment, Invitation};

/// The configured SMTP server and sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the SMTP credentials: never printed.
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// The plain-text body.
#[derive(Template)]
#[template(path = "email/booking.txt")]
struct TextBody<'a> {
    mail: &'a Mail,
}

/// The HTML body.
#[derive(Template)]
#[template(path = "email/booking.html")]
struct HtmlBody<'a> {
    mail: &'a Mail,
}

/// The plain-text body of a password reset email.
#[derive(Template)]
#[template(path = "email/password_reset.txt")]
struct ResetText<'a> {
    mail: &'a ResetMail,
}

/// The HTML body of a password reset email.
#[derive(Template)]
#[template(path = "email/password_reset.html")]
struct ResetHtml<'a> {
    mail: &'a ResetMail,
}

/// What a password reset email says.
struct ResetMail {
    greeting: String,
    /// The link, or in a preview a placeholder: the token is minted only when the email is
    /// sent.
    link: String,
    minutes: i64,
}

/// The subject of a password reset email.
const RESET_SUBJECT: &str = "Reset your MediSlot password";

/// What an admin's preview shows where a reset email's link goes.
const LINK_PLACEHOLDER: &str = "(a single-use link, minted when the email is sent)";

/// What an email says, for both bodies.
struct Mail {
    greeting: String,
    headline: &'static str,
    doctor: String,
    location: String,
    /// The appointment's time in the doctor's zone, then (when it differs) the patient's.
    times: Vec<String>,
    reason: Option<String>,
    booking: String,
}

impl Mailer {
    /// A mailer that sends through `smtp_url` (lettre's form: `smtps://user:pass@host:465`,
    /// `smtp://host:587?tls=required`, or plain `smtp://host:25`) as `from` (an address, or
    /// `Name <address>`). Its connection pool runs on the current Tokio runtime, so it is
    /// made inside one.
    ///
    /// # Errors
    /// A message naming the URL or the address when one is unusable.
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url.trim())
            .map_err(|e| format!("SMTP URL: {e}"))?
            .build();
        let from = from
            .trim()
            .parse::<Mailbox>()
            .map_err(|e| format!("mail sender {from:?}: {e}"))?;
        Ok(Self { transport, from })
    }

    /// Sends `message` to its patient. A message whose patient has no account (an embedding
    /// application's own patients) has no one to send to and counts as sent.
    ///
    /// # Errors
    /// A message saying why the email was not sent; the caller tries again later.
    pub async fn send(
        &self,
        engine: &BookingEngine,
        accounts: &dyn AccountStore,
        message: &OutboxMessage,
    ) -> Result<(), String> {
        let Some(composed) = compose(engine, accounts, message).await? else {
            return Ok(());
        };
        let Composed {
            mail,
            subject,
            to,
            appointment,
            now,
        } = composed;
        let organizer = self.from.email.to_string();
        let attendee = to.email.to_string();
        let attendee_name = to.name.clone().unwrap_or_default();
        let ics = appointment.ics(
            now,
            Some(&Invitation {
                organizer: &organizer,
                attendee: &attendee,
                attendee_name: &attendee_name,
            }),
        );
        let method = if appointment.is_ended(now) {
            "CANCEL"
        } else {
            "REQUEST"
        };
        let calendar_type = ContentType::parse(&format!(
            "{}; method={method}",
            crate::calendar::CONTENT_TYPE
        ))
        .map_err(|e| e.to_string())?;
        let text = TextBody { mail: &mail }
            .render()
            .map_err(|e| e.to_string())?;
        let html = HtmlBody { mail: &mail }
            .render()
            .map_err(|e| e.to_string())?;
        let email = Message::builder()
            .message_id(Some(format!(
                "<{}@{}>",
                message.entry.id,
                self.from.email.domain()
            )))
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(
                MultiPart::mixed()
                    .multipart(
                        MultiPart::alternative()
                            .singlepart(SinglePart::plain(text))
                            .singlepart(SinglePart::html(html)),
                    )
                    .singlepart(
                        Attachment::new(format!("appointment-{}.ics", appointment.first))
                            .body(ics, calendar_type),
                    ),
            )
            .map_err(|e| e.to_string())?;
        self.transport
            .send(email)
            .await
            .map(drop)
            .map_err(|e| format!("SMTP: {e}"))
    }
}

impl Mailer {
    /// Sends the password reset email a [request](crate::password_reset::request) queued: mints
    /// a token for the account (valid for `ttl`; only its hash is stored) and sends the link to
    /// the reset page at `origin`. An account that is gone has no one to send to and counts as
    /// sent. A retried message mints another token; the first stays valid until it expires or
    /// a token of the account is used.
    ///
    /// # Errors
    /// A message saying why the email was not sent; the caller tries again later.
    pub async fn send_reset(
        &self,
        accounts: &dyn AccountStore,
        message: &OutboxMessage,
        now: DateTime<Utc>,
        origin: &str,
        ttl: chrono::Duration,
    ) -> Result<(), String> {
        let Some(account) = message.entry.account_id else {
            return Ok(());
        };
        let Some(account) = accounts.account(account).await.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let to = mailbox(&account)?;
        let token = crate::password_reset::mint(accounts, account.id, now, ttl)
            .await
            .map_err(|e| e.to_string())?;
        let mail = ResetMail {
            greeting: format!("Hello {},", account.name),
            link: crate::password_reset::link(origin, &token),
            minutes: ttl.num_minutes(),
        };
        let text = ResetText { mail: &mail }
            .render()
            .map_err(|e| e.to_string())?;
        let html = ResetHtml { mail: &mail }
            .render()
            .map_err(|e| e.to_string())?;
        let email = Message::builder()
            .message_id(Some(format!(
                "<{}@{}>",
                message.entry.id,
                self.from.email.domain()
            )))
            .from(self.from.clone())
            .to(to)
            .subject(RESET_SUBJECT)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| e.to_string())?;
        self.transport
            .send(email)
            .await
            .map(drop)
            .map_err(|e| format!("SMTP: {e}"))
    }
}

/// An account's name and address as a recipient.
fn mailbox(account: &medislot_core::Account) -> Result<Mailbox, String> {
    Ok(Mailbox::new(
        Some(account.name.clone()),
        account
            .email
            .as_str()
            .parse()
            .map_err(|e| format!("the account's address: {e}"))?,
    ))
}

/// What the email about a message says, as an admin previews it: to whom, the subject, and the
/// plain-text body (the HTML body says the same; the calendar file is attached when sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// The patient, as `Name <address>`.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
}

impl Preview {
    /// The email `message` would send now, or `None` when it has no one to send to (its
    /// patient has no account). Written by the same code as the email itself.
    ///
    /// # Errors
    /// A message saying why it could not be written (the booking could not be read).
    pub async fn of(
        engine: &BookingEngine,
        accounts: &dyn AccountStore,
        message: &OutboxMessage,
    ) -> Result<Option<Preview>, String> {
        if message.entry.kind == EntryKind::AccountPasswordResetRequested {
            return Self::of_reset(accounts, message).await;
        }
        let Some(composed) = compose(engine, accounts, message).await? else {
            return Ok(None);
        };
        let text = TextBody {
            mail: &composed.mail,
        }
        .render()
        .map_err(|e| e.to_string())?;
        Ok(Some(Preview {
            to: composed.to.to_string(),
            subject: composed.subject,
            text,
        }))
    }
}

impl Preview {
    /// A reset email's preview: its link is a placeholder, since the token is minted only
    /// when the email is sent, so no admin ever sees a usable link.
    async fn of_reset(
        accounts: &dyn AccountStore,
        message: &OutboxMessage,
    ) -> Result<Option<Preview>, String> {
        let Some(account) = message.entry.account_id else {
            return Ok(None);
        };
        let Some(account) = accounts.account(account).await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let mail = ResetMail {
            greeting: format!("Hello {},", account.name),
            link: LINK_PLACEHOLDER.to_owned(),
            minutes: 0,
        };
        let text = ResetText { mail: &mail }
            .render()
            .map_err(|e| e.to_string())?;
        Ok(Some(Preview {
            to: mailbox(&account)?.to_string(),
            subject: RESET_SUBJECT.to_owned(),
            text,
        }))
    }
}

/// An email's words and recipient, before it is sent or previewed.
struct Composed {
    mail: Mail,
    subject: String,
    to: Mailbox,
    appointment: Appointment,
    now: DateTime<Utc>,
}

/// Writes the email about `message`, or `None` when its patient has no account.
async fn compose(
    engine: &BookingEngine,
    accounts: &dyn AccountStore,
    message: &OutboxMessage,
) -> Result<Option<Composed>, String> {
    let entry = &message.entry;
    let (Some(booking), Some(patient)) = (entry.booking_id, entry.patient_id) else {
        return Ok(None);
    };
    let Some(account) = accounts
        .account(AccountId::from_uuid(patient.as_uuid()))
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let appointment = Appointment::of(engine, booking)
        .await
        .map_err(|e| e.to_string())?;
    let now = engine.now();
    let view = &appointment.view;
    let doctor_zone = view.doctor.timezone;
    let mut times = vec![when(
        view.slot.range.starts_at(),
        doctor_zone,
        "the doctor's",
    )];
    if let Some(zone) = account
        .profile
        .time_zone
        .filter(|zone| *zone != doctor_zone)
    {
        times.push(when(view.slot.range.starts_at(), zone, "your"));
    }
    let mail = Mail {
        greeting: format!("Hello {},", account.name),
        headline: headline(entry.kind),
        doctor: format!("{} ({})", view.doctor.name, view.doctor.specialization),
        location: view.doctor.profile.location().to_owned(),
        times,
        reason: entry.reason.clone(),
        booking: view.booking.id.to_string(),
    };
    let to = Mailbox::new(
        Some(account.name.clone()),
        account
            .email
            .as_str()
            .parse()
            .map_err(|e| format!("the patient's address: {e}"))?,
    );
    let subject = format!("{} – {}", mail.headline, view.doctor.name);
    Ok(Some(Composed {
        mail,
        subject,
        to,
        appointment,
        now,
    }))
}

/// What the email's headline says happened.
fn headline(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::BookingBooked => "Your appointment is booked",
        EntryKind::BookingHeld => "A slot is held for you",
        EntryKind::BookingConfirmed => "Your appointment is confirmed",
        EntryKind::BookingCancelledByPatient => "Your appointment is cancelled",
        EntryKind::BookingCancelledByClinic => "The clinic cancelled your appointment",
        EntryKind::BookingBufferEnded => "Your appointment is cancelled",
        EntryKind::BookingHoldLapsed => "Your hold ran out",
        EntryKind::WaitlistOfferMade => "A slot you waited for is held for you",
        EntryKind::WaitlistOfferLapsed => "The slot offered from your waitlist was not confirmed",
        EntryKind::BookingReminder => "A reminder of your appointment",
        EntryKind::BookingRescheduled | EntryKind::BookingCreatedByReschedule => {
            "Your appointment is moved"
        }
        EntryKind::DoctorCreated
        | EntryKind::DoctorProfileUpdated
        | EntryKind::DoctorHoursUpdated
        | EntryKind::DoctorDeleted
        | EntryKind::SlotPublished
        | EntryKind::SlotWithdrawn
        | EntryKind::WaitlistJoined
        | EntryKind::WaitlistLeft
        | EntryKind::AccountRoleChanged
        | EntryKind::AccountPasswordResetRequested
        | EntryKind::AccountPasswordReset => "MediSlot",
    }
}

/// `at` in `zone`, saying whose zone it is.
fn when(at: DateTime<Utc>, zone: Tz, whose: &str) -> String {
    format!(
        "{} ({whose} time, {})",
        at.with_timezone(&zone).format("%A %-d %B %Y, %H:%M"),
        zone.name()
    )
}
