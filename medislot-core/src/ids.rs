//! Typed identifiers. Every id is a UUID v7 (time-ordered), wrapped so that a slot id can never be
//! passed where a booking id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (UUID v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID, as read back from storage or a request.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// Identifies a doctor.
    DoctorId
);
id_type!(
    /// Identifies a published time slot.
    SlotId
);
id_type!(
    /// Identifies a booking (any status).
    BookingId
);
id_type!(
    /// Identifies the patient who owns a booking. Opaque to the core: the server uses the id of
    /// the patient's account.
    PatientId
);
id_type!(
    /// Identifies a user account (patient or admin).
    AccountId
);

impl From<AccountId> for PatientId {
    fn from(id: AccountId) -> Self {
        PatientId(id.0)
    }
}
id_type!(
    /// Identifies a journal entry (an audit record), and the outbox message made from it: the
    /// stable id receivers use to drop a message delivered twice.
    EntryId
);
id_type!(
    /// Identifies a patient's entry on the waitlist.
    WaitlistEntryId
);
