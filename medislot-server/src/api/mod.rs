//! The JSON API under `/api/v1`, one module per resource, assembled into one poem-openapi
//! service that also serves its own OpenAPI document.

mod auth;
mod body;
mod bookings;
mod doctors;
mod finding;
mod generated_slots;
mod header_param;
mod health;
mod hours_model;
mod idempotency;
mod journal;
pub mod model;
mod read_after;
mod slots;
mod waitlist;
pub(crate) mod working_hours;

pub use body::JsonBody;

use poem_openapi::{LicenseObject, OpenApiService, ServerObject, Tags};

use crate::state::AppState;

/// Operation groups in the document.
#[derive(Tags)]
enum ApiTags {
    /// Accounts and sessions.
    Auth,
    /// Doctors, and publishing their slots.
    Doctors,
    /// Finding, holding and withdrawing slots.
    Slots,
    /// Booking, confirming and cancelling.
    Bookings,
    /// Waiting for a slot when none fits.
    Waitlist,
    /// The audit trail and the outbox of messages.
    Audit,
    /// Health.
    Operations,
}

/// The API as one type, for [`OpenApiService`].
pub(crate) type Api = (
    auth::AuthApi,
    doctors::DoctorsApi,
    generated_slots::GeneratedSlotsApi,
    working_hours::WorkingHoursApi,
    slots::SlotsApi,
    finding::FindingApi,
    bookings::BookingsApi,
    waitlist::WaitlistApi,
    journal::JournalApi,
    health::HealthApi,
);

/// The OpenAPI service over `state`.
pub(crate) fn service(state: &AppState) -> OpenApiService<Api, ()> {
    let api = (
        auth::AuthApi {
            state: state.clone(),
        },
        doctors::DoctorsApi {
            state: state.clone(),
        },
        generated_slots::GeneratedSlotsApi {
            state: state.clone(),
        },
        working_hours::WorkingHoursApi {
            state: state.clone(),
        },
        slots::SlotsApi {
            state: state.clone(),
        },
        finding::FindingApi {
            state: state.clone(),
        },
        bookings::BookingsApi {
            state: state.clone(),
        },
        waitlist::WaitlistApi {
            state: state.clone(),
        },
        journal::JournalApi {
            state: state.clone(),
        },
        health::HealthApi {
            state: state.clone(),
        },
    );
    OpenApiService::new(api, "MediSlot API", env!("CARGO_PKG_VERSION"))
        .license(
            LicenseObject::new(env!("CARGO_PKG_LICENSE"))
                .url("https://opensource.org/licenses/MIT"),
        )
        .server(
            ServerObject::new("/")
                .description("The server that serves this document (at /api/openapi.json)"),
        )
        .description(
            "Book doctor appointments: doctors publish slots, patients book them, and no slot is \
         ever booked twice. Errors are RFC 9457 problem documents (application/problem+json) \
         whose `code` is stable and whose `field` names the input at fault. Sign in with \
         `POST /api/v1/auth/login`, then send `Authorization: Bearer <token>`, or rely on the \
         session cookie and send `X-CSRF-Token` on state-changing requests.\n\n\
         Read-your-writes: when the server reads listings from a PostgreSQL read replica, the \
         answer to a request that wrote carries `MediSlot-Written-At`, the write's WAL position \
         (such as `16/B374D848`). Send it back as `MediSlot-Read-After` on the following \
         requests, to any instance: their listings (slots, availability, next available, \
         doctors) then include that write. Browsers get the same position in the HttpOnly \
         cookie `medislot_read_after` for a few minutes and send it by themselves. A listing that \
         takes `MediSlot-Read-After` refuses a value that is not such a position with 422 \
         `validation_failed`, `field` naming the header; without a replica no answer carries \
         `MediSlot-Written-At`.",
        )
}
