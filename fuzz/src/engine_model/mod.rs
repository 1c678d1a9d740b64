//! Target `engine_model`: arbitrary operation sequences (book, hold, confirm, patient and admin
//! cancels, clock moves, withdraw, delete the doctor, release_expired, listings) on a [`BookingEngine`] over a
//! [`MemoryStore`] and a [`ManualClock`], run side by side with a plain reference model.
//!
//! After every operation the engine must have given the model's answer (the same booking, or the
//! same refusal naming the same id), every booking and slot must read as the model says, and the
//! engine's own data must never show two bookings occupying one slot.
//!
//! Inputs pick slots, patients, bookings and idempotency keys by index from small fixed sets, so
//! that most operations meet each other; one index past each set names something that does not
//! exist.

mod model;

use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use chrono::{DateTime, Duration, Utc};
use futures::executor::block_on;
use medislot_core::{
    Booking, BookingCursor, BookingId, BookingQuery, BookingState, BookingStatus, BookingView,
    Cursor, DoctorId, Event, IdempotencyKey, ManualClock, MemoryStore, NewDoctor, PatientId,
    Policy, SlotCursor, SlotId, SlotQuery, TimeRange,
};
use medislot_core::{BookingEngine, Result};
use uuid::Uuid;

use self::model::{Made, Model};
use crate::rules::Refusal;
use crate::time::epoch;

/// Slots start this many minutes after the epoch, each ten minutes long: near enough that clock
/// moves reach them, and one pair touching end to start.
const SLOT_STARTS: [i64; 3] = [10, 20, 40];
const PATIENTS: u128 = 3;
const KEYS: u8 = 2;
/// Operations past this many are ignored, so that one input stays fast to run.
const MAX_OPS: usize = 128;
/// Listings stop after this many pages; more means the cursor does not move forward.
const MAX_PAGES: usize = 16;

/// Runs one input: decodes `data` and checks every operation.
///
/// # Panics
/// When the engine and the model disagree or an invariant breaks; that is the finding.
pub fn run(data: &[u8]) {
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        check(&input);
    }
}

/// The engine's policy and the operations to run.
#[derive(Arbitrary, Debug)]
pub struct Input {
    /// Hold length: 1 + this modulo 30, in minutes.
    hold_minutes: u8,
    /// Buffer length: this modulo 31, in minutes.
    buffer_minutes: u8,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Book {
        slot: u8,
        patient: u8,
        key: Option<u8>,
    },
    Hold {
        slot: u8,
        patient: u8,
    },
    Confirm {
        booking: u8,
        patient: u8,
    },
    CancelAsPatient {
        booking: u8,
        patient: u8,
        reason: Reason,
    },
    CancelAsAdmin {
        booking: u8,
        reason: Reason,
    },
    /// Moves the clock by whole minutes, either way.
    Clock {
        minutes: i8,
    },
    /// Moves the clock by seconds, either way, to land near a hold's or buffer's end.
    Nudge {
        seconds: i8,
    },
    Withdraw {
        slot: u8,
    },
    ReleaseExpired,
    DeleteDoctor,
    ListSlots {
        available: Option<bool>,
        /// Minutes after the epoch, modulo 60 (the slots start at 10, 20 and 40).
        from: Option<u8>,
        /// As `from`.
        to: Option<u8>,
        limit: u8,
    },
    PatientBookings {
        patient: u8,
        status: Option<u8>,
        limit: u8,
    },
}

#[derive(Arbitrary, Debug)]
enum Reason {
    None,
    Text(String),
    /// `fill` repeated 499 to 502 times: around the 500-character limit.
    Long {
        fill: char,
        extra: u8,
    },
}

impl Reason {
    fn text(&self) -> Option<String> {
        match self {
            Reason::None => None,
            Reason::Text(text) => Some(text.clone()),
            Reason::Long { fill, extra } => {
                Some(fill.to_string().repeat(499 + usize::from(extra % 4)))
            }
        }
    }
}

/// Checks one input.
///
/// # Panics
/// When the engine and the model disagree or an invariant breaks.
pub fn check(input: &Input) {
    let mut world = World::new(input);
    for op in input.ops.iter().take(MAX_OPS) {
        world.step(op);
        world.check_reads();
    }
}

/// The engine under test, the model beside it, and the fixed cast.
struct World {
    engine: BookingEngine,
    clock: ManualClock,
    model: Model,
    doctor: DoctorId,
    slots: Vec<SlotId>,
    unknown_slot: SlotId,
    unknown_booking: BookingId,
}

fn wait<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    block_on(future)
}

/// Unwraps the setup steps, which only fail if the fuzz harness itself is wrong.
fn setup<T>(step: &str, result: Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("setup failed to {step}: {e}"),
    }
}

impl World {
    fn new(input: &Input) -> Self {
        let now = epoch();
        let clock = ManualClock::new(now);
        let policy = Policy {
            hold: Duration::minutes(1 + i64::from(input.hold_minutes % 30)),
            buffer: Duration::minutes(i64::from(input.buffer_minutes % 31)),
        };
        let engine = setup(
            "set the policy",
            BookingEngine::new(Arc::new(MemoryStore::new()))
                .with_clock(Arc::new(clock.clone()))
                .with_policy(policy),
        );
        let mut model = Model::new(now, policy.hold, policy.buffer);
        let doctor = setup(
            "name a doctor",
            NewDoctor::new("Dr Fuzz", "Cardiology", "Europe/London"),
        );
        let doctor = setup("create a doctor", wait(engine.create_doctor(doctor)));
        let ranges: Vec<TimeRange> = SLOT_STARTS
            .iter()
            .map(|start| {
                let starts_at = now + Duration::minutes(*start);
                setup(
                    "make a range",
                    TimeRange::new(starts_at, starts_at + Duration::minutes(10)),
                )
            })
            .collect();
        let published = setup(
            "publish slots",
            wait(engine.publish_slots(doctor.id, &ranges)),
        );
        let mut slots = Vec::new();
        for (slot, range) in published.into_iter().zip(&ranges) {
            assert_eq!(slot.range, *range, "publish_slots changed a range");
            slots.push(slot.id);
            model.add_slot(slot);
        }
        Self {
            engine,
            clock,
            model,
            doctor: doctor.id,
            slots,
            unknown_slot: SlotId::from_uuid(Uuid::from_u128(u128::MAX)),
            unknown_booking: BookingId::from_uuid(Uuid::from_u128(u128::MAX)),
        }
    }

    fn slot(&self, index: u8) -> SlotId {
        let index = usize::from(index) % (self.slots.len() + 1);
        self.slots.get(index).copied().unwrap_or(self.unknown_slot)
    }

    fn patient(index: u8) -> PatientId {
        PatientId::from_uuid(Uuid::from_u128(1 + u128::from(index) % PATIENTS))
    }

    fn booking(&self, index: u8) -> BookingId {
        let bookings = self.model.bookings();
        let index = usize::from(index) % (bookings.len() + 1);
        bookings.get(index).map_or(self.unknown_booking, |b| b.id)
    }

    fn move_clock(&mut self, by: Duration) {
        self.clock.advance(by);
        self.model.move_clock(by);
    }

    fn step(&mut self, op: &Op) {
        let now = self.model.now();
        match op {
            Op::Book { slot, patient, key } => {
                let (slot, patient) = (self.slot(*slot), Self::patient(*patient));
                let key = key.map(|k| {
                    setup(
                        "make a key",
                        IdempotencyKey::new(&format!("key-{}", k % KEYS)),
                    )
                });
                let want = self
                    .model
                    .create(slot, patient, BookingState::Confirmed, key.clone());
                let got = wait(self.engine.book(slot, patient, key));
                self.compare_made(op, want, got);
            }
            Op::Hold { slot, patient } => {
                let (slot, patient) = (self.slot(*slot), Self::patient(*patient));
                let state = BookingState::Pending {
                    hold_until: now + self.model.hold(),
                };
                let want = self.model.create(slot, patient, state, None);
                let got = wait(self.engine.hold(slot, patient));
                self.compare_made(op, want, got);
            }
            Op::Confirm { booking, patient } => {
                let (id, patient) = (self.booking(*booking), Self::patient(*patient));
                let want = self.model.apply(id, &Event::Confirm { patient });
                let got = wait(self.engine.confirm(id, patient));
                self.compare_event(op, want, got);
            }
            Op::CancelAsPatient {
                booking,
                patient,
                reason,
            } => {
                let (id, patient) = (self.booking(*booking), Self::patient(*patient));
                let want = Model::reason(reason.text()).and_then(|reason| {
                    self.model
                        .apply(id, &Event::CancelByPatient { patient, reason })
                });
                let got = wait(self.engine.cancel_as_patient(id, patient, reason.text()));
                self.compare_event(op, want, got);
            }
            Op::CancelAsAdmin { booking, reason } => {
                let id = self.booking(*booking);
                let buffer = self.model.buffer();
                let want = Model::reason(reason.text()).and_then(|reason| {
                    self.model
                        .apply(id, &Event::CancelByAdmin { reason, buffer })
                });
                let got = wait(self.engine.cancel_as_admin(id, reason.text()));
                self.compare_event(op, want, got);
            }
            Op::Clock { minutes } => self.move_clock(Duration::minutes(i64::from(*minutes))),
            Op::Nudge { seconds } => self.move_clock(Duration::seconds(i64::from(*seconds))),
            Op::Withdraw { slot } => {
                let slot = self.slot(*slot);
                let want = self.model.withdraw(slot);
                let got = wait(self.engine.withdraw_slot(slot)).map_err(|e| Refusal::of(&e));
                assert_eq!(got, want, "{op:?} at {now}");
            }
            Op::ReleaseExpired => {
                let want = self.model.release_expired();
                let got = setup("release expired", wait(self.engine.release_expired()));
                assert_eq!(got, want, "{op:?} at {now}: released count");
            }
            Op::DeleteDoctor => {
                let want = self.model.delete_doctor(self.doctor);
                let got = wait(self.engine.delete_doctor(self.doctor)).map_err(|e| Refusal::of(&e));
                assert_eq!(got, want, "{op:?} at {now}");
            }
            Op::ListSlots {
                available,
                from,
                to,
                limit,
            } => {
                let at = |m: &u8| epoch() + Duration::minutes(i64::from(m % 60));
                self.check_slot_listing(
                    *available,
                    from.as_ref().map(at),
                    to.as_ref().map(at),
                    *limit,
                );
            }
            Op::PatientBookings {
                patient,
                status,
                limit,
            } => {
                let status =
                    status.map(|s| BookingStatus::ALL[usize::from(s) % BookingStatus::ALL.len()]);
                self.check_patient_listing(Self::patient(*patient), status, *limit);
            }
        }
    }

    fn compare_made(&mut self, op: &Op, want: Result<Made, Refusal>, got: Result<Booking>) {
        let now = self.model.now();
        match (want, got) {
            (Ok(Made::New(draft)), Ok(got)) => {
                assert_eq!(
                    got,
                    Booking {
                        id: got.id,
                        ..draft
                    },
                    "{op:?} at {now}"
                );
                assert!(
                    self.model.bookings().iter().all(|b| b.id != got.id),
                    "{op:?} at {now}: a new booking reused id {}",
                    got.id
                );
                self.model.commit(got);
            }
            (Ok(Made::Replayed(first)), Ok(got)) => {
                assert_eq!(got, self.model.bookings()[first], "{op:?} at {now}: replay");
            }
            (Err(want), Err(got)) => assert_eq!(Refusal::of(&got), want, "{op:?} at {now}"),
            (want, got) => panic!("{op:?} at {now}: the model says {want:?}, the engine {got:?}"),
        }
    }

    fn compare_event(&self, op: &Op, want: Result<usize, Refusal>, got: Result<Booking>) {
        let now = self.model.now();
        let want = want.map(|i| &self.model.bookings()[i]);
        let got = got.map_err(|e| Refusal::of(&e));
        assert_eq!(got.as_ref().map_err(Clone::clone), want, "{op:?} at {now}");
    }

    /// Every booking and slot reads as the model says, and the engine's data never has two
    /// bookings occupying one slot, nor two that may (the store's unique-occupant rule).
    fn check_reads(&self) {
        let now = self.model.now();
        let mut views: Vec<BookingView> = Vec::new();
        for want in self.model.bookings() {
            let view = setup("read a booking", wait(self.engine.booking(want.id)));
            assert_eq!(&view.booking, want, "booking {} at {now}", want.id);
            assert_eq!(Some(&view.slot), self.model.slot(want.slot_id));
            assert_eq!(view.doctor.id, self.doctor);
            views.push(view);
        }
        assert_eq!(
            wait(self.engine.booking(self.unknown_booking))
                .map(|_| ())
                .map_err(|e| Refusal::of(&e)),
            Err(Refusal::BookingNotFound(self.unknown_booking))
        );
        for slot in self.slots.iter().chain([&self.unknown_slot]) {
            let got = wait(self.engine.slot(*slot)).map_err(|e| Refusal::of(&e));
            assert_eq!(got, self.model.slot_view(*slot), "slot {slot} at {now}");
            let on_slot = || views.iter().filter(|v| v.booking.slot_id == *slot);
            let occupying = on_slot()
                .filter(|v| v.booking.state.occupies_slot_at(now))
                .count();
            assert!(occupying <= 1, "{occupying} bookings occupy slot {slot}");
            let may_occupy = on_slot()
                .filter(|v| v.booking.status().may_occupy_slot())
                .count();
            assert!(may_occupy <= 1, "{may_occupy} occupying statuses on {slot}");
        }
    }

    fn check_slot_listing(
        &self,
        available: Option<bool>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: u8,
    ) {
        let limit = 1 + u32::from(limit % 4);
        let want = self.model.list_slots(available, from, to);
        let mut listed = Vec::new();
        let mut after = None;
        for _ in 0..MAX_PAGES {
            let query = SlotQuery {
                available,
                from,
                to,
                after,
                limit,
                ..SlotQuery::default()
            };
            let page = match wait(self.engine.slots(&query)) {
                Ok(page) => page,
                Err(e) => {
                    assert!(after.is_none(), "a later page of {query:?} failed: {e}");
                    assert_eq!(Err(Refusal::of(&e)), want, "{query:?}");
                    return;
                }
            };
            assert!(page.items.len() <= limit as usize, "page over its limit");
            listed.extend(page.items);
            let Some(next) = page.next else {
                assert_eq!(Ok(listed), want, "{query:?}");
                return;
            };
            after = SlotCursor::decode(&next.encode());
            assert_eq!(after, Some(next), "a slot cursor does not round-trip");
        }
        panic!("slot listing did not end after {MAX_PAGES} pages");
    }

    fn check_patient_listing(&self, patient: PatientId, status: Option<BookingStatus>, limit: u8) {
        let limit = 1 + u32::from(limit % 4);
        let mut listed = Vec::new();
        let mut after = None;
        for _ in 0..MAX_PAGES * 8 {
            let query = BookingQuery {
                status,
                after,
                limit,
                ..BookingQuery::default()
            };
            let page = setup(
                "list bookings",
                wait(self.engine.patient_bookings(patient, &query)),
            );
            assert!(page.items.len() <= limit as usize, "page over its limit");
            listed.extend(page.items.into_iter().map(|v| v.booking));
            let Some(next) = page.next else {
                let want: Vec<Booking> = self
                    .model
                    .patient_bookings(patient, status)
                    .into_iter()
                    .cloned()
                    .collect();
                assert_eq!(listed, want, "{query:?} for {patient}");
                return;
            };
            after = BookingCursor::decode(&next.encode());
            assert_eq!(after, Some(next), "a booking cursor does not round-trip");
        }
        panic!("booking listing did not end");
    }
}
