//! Target `engine_model`: arbitrary operation sequences (create doctors, publish slots, book,
//! hold, confirm, patient and admin cancels, clock moves, withdraw, delete a doctor,
//! release_expired, listings) on a [`BookingEngine`] over a [`MemoryStore`] and a
//! [`ManualClock`], run side by side with a plain reference model.
//!
//! After every operation the engine must have given the model's answer (the same booking, doctor
//! or slots, or the same refusal naming the same id), every doctor, booking and slot must read as
//! the model says, and the engine's own data must never show two bookings occupying one slot.
//!
//! Inputs pick doctors, slots, patients, bookings and idempotency keys by index from small sets,
//! so that most operations meet each other; one index past each set names something that does
//! not exist. Every input starts with one doctor and three slots; operations add up to
//! [`MAX_DOCTORS`] doctors and [`MAX_SLOTS`] slots in all.

mod model;

use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use chrono::{DateTime, Duration, Utc};
use futures::executor::block_on;
use medislot_core::{
    Booking, BookingCursor, BookingId, BookingQuery, BookingState, BookingStatus, BookingView,
    Cursor, Doctor, DoctorFilter, DoctorId, Event, IdempotencyKey, ManualClock, MemoryStore,
    NewDoctor, PatientId, Policy, Slot, SlotCursor, SlotId, SlotQuery, TimeRange,
};
use medislot_core::{BookingEngine, Result};
use uuid::Uuid;

use self::model::{Made, Model, SlotFilter};
use crate::rules::Refusal;
use crate::time::epoch;

/// The set-up slots start this many minutes after the epoch, each ten minutes long: near enough
/// that clock moves reach them, and one pair touching end to start.
const SLOT_STARTS: [i64; 3] = [10, 20, 40];
/// The most doctors one input makes, the set-up one included.
pub const MAX_DOCTORS: usize = 3;
/// The most slots one input publishes, the set-up ones included: a publish the model accepts is
/// not sent when it would pass this (refusals still are). Keeps listings a few pages long.
pub const MAX_SLOTS: usize = 8;
/// The most ranges in a publish request, besides the one request of
/// [`TOO_MANY_RANGES`].
const MAX_RANGES: usize = 3;
/// One more than the engine accepts in one request.
const TOO_MANY_RANGES: usize = 501;
/// Doctors' specializations, picked by index: the set-up doctor has the first; the last is
/// stored trimmed and differs from the first only in case.
const SPECIALIZATIONS: [&str; 3] = ["Cardiology", "Dermatology", " cardiology "];
/// The specializations slot listings filter on, picked by index: case differs from the
/// doctors', and the last one no doctor has.
const SPECIALIZATION_FILTERS: [&str; 3] = ["cardiology", "DERMATOLOGY", "Neurology"];
const TIMEZONE: &str = "Europe/London";
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

/// Operations. Variants were added after the first corpus (`CreateDoctor` and `PublishSlots`,
/// then `Reschedule`), so older corpus inputs decode differently since; they still run.
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
    DeleteDoctor {
        doctor: u8,
    },
    ListSlots {
        /// Only this doctor's slots (by index; one past names an unknown doctor).
        doctor: Option<u8>,
        /// Only slots of doctors with this specialization: an index into
        /// [`SPECIALIZATION_FILTERS`].
        specialization: Option<u8>,
        available: Option<bool>,
        /// Minutes after the epoch, modulo 64 (the set-up slots start at 10, 20 and 40,
        /// published ones before 60).
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
    /// Ignored once there are [`MAX_DOCTORS`].
    CreateDoctor {
        /// An index into [`SPECIALIZATIONS`].
        specialization: u8,
    },
    PublishSlots {
        doctor: u8,
        ranges: Ranges,
    },
    /// A patient's move (`patient` is `Some`) or an admin's.
    Reschedule {
        booking: u8,
        patient: Option<u8>,
        target: u8,
        key: Option<u8>,
    },
}

/// The ranges of a publish request.
#[derive(Arbitrary, Debug)]
enum Ranges {
    /// The first [`MAX_RANGES`] of these (none is a request the engine refuses).
    Few(Vec<Range>),
    /// [`TOO_MANY_RANGES`] one-minute ranges, each after the one before.
    TooMany,
}

/// A range within the first 75 minutes after the epoch: small numbers, so that ranges overlap,
/// touch and start in the past.
#[derive(Arbitrary, Debug)]
struct Range {
    /// Minutes after the epoch, modulo 60.
    start: u8,
    /// 1 + this modulo 15 minutes.
    minutes: u8,
}

impl Ranges {
    fn build(&self) -> Vec<TimeRange> {
        let range = |start: i64, minutes: i64| {
            let starts_at = epoch() + Duration::minutes(start);
            setup(
                "make a range",
                TimeRange::new(starts_at, starts_at + Duration::minutes(minutes)),
            )
        };
        match self {
            Ranges::Few(ranges) => ranges
                .iter()
                .take(MAX_RANGES)
                .map(|r| range(i64::from(r.start % 60), 1 + i64::from(r.minutes % 15)))
                .collect(),
            Ranges::TooMany => (0..TOO_MANY_RANGES)
                .map(|i| range(60 + i64::try_from(i).unwrap_or(i64::MAX), 1))
                .collect(),
        }
    }
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

/// The engine under test, the model beside it, and the cast: every doctor and slot made so far
/// (deleted and withdrawn ones stay, to be named again).
struct World {
    engine: BookingEngine,
    clock: ManualClock,
    model: Model,
    doctors: Vec<DoctorId>,
    slots: Vec<SlotId>,
    unknown_doctor: DoctorId,
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
            change_cutoff: Duration::zero(),
            // The model knows no booking window: every slot that has not started is in it.
            min_notice: Duration::zero(),
            horizon: medislot_core::MAX_HORIZON,
            ..Policy::default()
        };
        let engine = setup(
            "set the policy",
            BookingEngine::new(Arc::new(MemoryStore::new()))
                .with_clock(Arc::new(clock.clone()))
                .with_policy(policy),
        );
        let mut world = Self {
            engine,
            clock,
            model: Model::new(now, policy.hold, policy.buffer),
            doctors: Vec::new(),
            slots: Vec::new(),
            unknown_doctor: DoctorId::from_uuid(Uuid::from_u128(u128::MAX)),
            unknown_slot: SlotId::from_uuid(Uuid::from_u128(u128::MAX)),
            unknown_booking: BookingId::from_uuid(Uuid::from_u128(u128::MAX)),
        };
        world.create_doctor(0);
        let doctor = world.doctors[0];
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
        let want = world.model.publish(doctor, &ranges);
        let published = wait(world.engine.publish_slots(doctor, &ranges));
        world.compare_published(&"the set-up publish", doctor, &ranges, want, published);
        world
    }

    /// Creates a doctor with the specialization at `specialization` (modulo), unless there are
    /// [`MAX_DOCTORS`] already.
    fn create_doctor(&mut self, specialization: u8) {
        if self.doctors.len() >= MAX_DOCTORS {
            return;
        }
        let name = format!("Dr Fuzz {}", self.doctors.len());
        let specialization = SPECIALIZATIONS[usize::from(specialization) % SPECIALIZATIONS.len()];
        let new = setup(
            "name a doctor",
            NewDoctor::new(&name, specialization, TIMEZONE),
        );
        let got = setup("create a doctor", wait(self.engine.create_doctor(new)));
        let want = Doctor {
            id: got.id,
            name,
            specialization: specialization.trim().to_owned(),
            timezone: setup("name a zone", medislot_core::parse_timezone(TIMEZONE)),
            profile: Default::default(),
            created_at: self.model.now(),
        };
        assert_eq!(got, want, "create_doctor");
        assert!(
            self.model.doctor(got.id).is_none() && got.id != self.unknown_doctor,
            "a new doctor reused id {}",
            got.id
        );
        self.doctors.push(got.id);
        self.model.add_doctor(got);
    }

    fn doctor(&self, index: u8) -> DoctorId {
        let index = usize::from(index) % (self.doctors.len() + 1);
        self.doctors
            .get(index)
            .copied()
            .unwrap_or(self.unknown_doctor)
    }

    fn slot(&self, index: u8) -> SlotId {
        let index = usize::from(index) % (self.slots.len() + 1);
        self.slots.get(index).copied().unwrap_or(self.unknown_slot)
    }

    fn patient(index: u8) -> PatientId {
        PatientId::from_uuid(Uuid::from_u128(1 + u128::from(index) % PATIENTS))
    }

    fn key(index: u8) -> IdempotencyKey {
        setup(
            "make a key",
            IdempotencyKey::new(&format!("key-{}", index % KEYS)),
        )
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
                let key = key.map(Self::key);
                let want = self
                    .model
                    .create(slot, patient, BookingState::Confirmed, key.clone());
                let got = wait(self.engine.book(slot, patient, key));
                self.compare_made(op, want, got, Model::commit);
            }
            Op::Hold { slot, patient } => {
                let (slot, patient) = (self.slot(*slot), Self::patient(*patient));
                let state = BookingState::Pending {
                    hold_until: now + self.model.hold(),
                };
                let want = self.model.create(slot, patient, state, None);
                let got = wait(self.engine.hold(slot, patient));
                self.compare_made(op, want, got, Model::commit);
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
            Op::Reschedule {
                booking,
                patient,
                target,
                key,
            } => {
                let id = self.booking(*booking);
                let patient = patient.map(Self::patient);
                let target = self.slot(*target);
                let key = key.map(Self::key);
                let want = self.model.reschedule(id, patient, target, key.clone());
                let got = wait(self.engine.reschedule_or_replay(id, patient, target, key))
                    .map(|created| created.booking);
                self.compare_made(op, want, got, Model::commit_move);
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
            Op::DeleteDoctor { doctor } => {
                let doctor = self.doctor(*doctor);
                let want = self.model.delete_doctor(doctor);
                let got = wait(self.engine.delete_doctor(doctor)).map_err(|e| Refusal::of(&e));
                assert_eq!(got, want, "{op:?} at {now}");
            }
            Op::ListSlots {
                doctor,
                specialization,
                available,
                from,
                to,
                limit,
            } => {
                let at = |m: &u8| epoch() + Duration::minutes(i64::from(m % 64));
                let filter = SlotFilter {
                    doctor: doctor.map(|d| self.doctor(d)),
                    specialization: specialization.map(|s| {
                        SPECIALIZATION_FILTERS[usize::from(s) % SPECIALIZATION_FILTERS.len()]
                    }),
                    available: *available,
                };
                self.check_slot_listing(
                    &filter,
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
            Op::CreateDoctor { specialization } => self.create_doctor(*specialization),
            Op::PublishSlots { doctor, ranges } => {
                let doctor = self.doctor(*doctor);
                let ranges = ranges.build();
                let want = self.model.publish(doctor, &ranges);
                if want.is_ok() && self.slots.len() + ranges.len() > MAX_SLOTS {
                    return;
                }
                let got = wait(self.engine.publish_slots(doctor, &ranges));
                self.compare_published(op, doctor, &ranges, want, got);
            }
        }
    }

    /// Checks what `publish_slots` answered against the model's answer, and records new slots.
    fn compare_published(
        &mut self,
        op: &dyn std::fmt::Debug,
        doctor: DoctorId,
        ranges: &[TimeRange],
        want: Result<(), Refusal>,
        got: Result<Vec<Slot>>,
    ) {
        let now = self.model.now();
        match (want, got) {
            (Ok(()), Ok(published)) => {
                let want: Vec<Slot> = ranges
                    .iter()
                    .zip(&published)
                    .map(|(range, got)| Slot {
                        id: got.id,
                        doctor_id: doctor,
                        range: *range,
                        created_at: now,
                    })
                    .collect();
                assert_eq!(published, want, "{op:?} at {now}");
                for slot in published {
                    assert!(
                        !self.slots.contains(&slot.id) && slot.id != self.unknown_slot,
                        "{op:?} at {now}: a new slot reused id {}",
                        slot.id
                    );
                    self.slots.push(slot.id);
                    self.model.add_slot(slot);
                }
            }
            (Err(want), Err(got)) => assert_eq!(Refusal::of(&got), want, "{op:?} at {now}"),
            (want, got) => panic!("{op:?} at {now}: the model says {want:?}, the engine {got:?}"),
        }
    }

    /// Compares a request that makes a booking; `record` keeps the engine's new booking in
    /// the model.
    fn compare_made(
        &mut self,
        op: &Op,
        want: Result<Made, Refusal>,
        got: Result<Booking>,
        record: fn(&mut Model, Booking),
    ) {
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
                record(&mut self.model, got);
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
            assert_eq!(Some(&view.doctor), self.model.doctor(view.slot.doctor_id));
            views.push(view);
        }
        for doctor in self.doctors.iter().chain([&self.unknown_doctor]) {
            let got = wait(self.engine.doctor(*doctor)).map_err(|e| Refusal::of(&e));
            let want = self
                .model
                .live_doctor(*doctor)
                .cloned()
                .ok_or(Refusal::DoctorNotFound(*doctor));
            assert_eq!(got, want, "doctor {doctor} at {now}");
        }
        let listed = setup(
            "list doctors",
            wait(self.engine.doctors(&DoctorFilter::default())),
        );
        let want: Vec<Doctor> = self.model.live_doctors().into_iter().cloned().collect();
        assert_eq!(listed, want, "doctors at {now}");
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
        filter: &SlotFilter<'_>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: u8,
    ) {
        let limit = 1 + u32::from(limit % 4);
        let want = self.model.list_slots(filter, from, to);
        let mut listed = Vec::new();
        let mut after = None;
        for _ in 0..MAX_PAGES {
            let query = SlotQuery {
                doctor_id: filter.doctor,
                specialization: filter.specialization.map(str::to_owned),
                available: filter.available,
                from,
                to,
                after,
                limit,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A range from `start` minutes after the epoch, `minutes` long.
    fn range(start: u8, minutes: u8) -> Range {
        Range {
            start,
            minutes: minutes - 1,
        }
    }

    fn publish(doctor: u8, ranges: Vec<Range>) -> Op {
        Op::PublishSlots {
            doctor,
            ranges: Ranges::Few(ranges),
        }
    }

    /// Each publish outcome the target must tell apart, once, in an order whose end state
    /// shows which requests were accepted (the set-up doctor 0 has slots at 10, 20 and 40).
    #[test]
    fn publish_requests_for_several_doctors_are_accepted_or_refused_as_the_model_says() {
        let input = Input {
            hold_minutes: 4,
            buffer_minutes: 10,
            ops: Vec::new(),
        };
        let mut world = World::new(&input);
        let ops = [
            Op::CreateDoctor { specialization: 1 },
            Op::CreateDoctor { specialization: 2 },
            // A fourth doctor is not made.
            Op::CreateDoctor { specialization: 0 },
            // Overlaps doctor 0's slot at 20.
            publish(0, vec![range(25, 5)]),
            // Touches the slots at 20 and 40: accepted.
            publish(0, vec![range(30, 10)]),
            // The second range overlaps the first: nothing is published.
            publish(1, vec![range(10, 10), range(15, 10)]),
            // Starts now.
            publish(1, vec![range(0, 10)]),
            publish(1, Vec::new()),
            Op::PublishSlots {
                doctor: 1,
                ranges: Ranges::TooMany,
            },
            // Index 3 is one past the three doctors.
            publish(3, vec![range(50, 5)]),
            // The same times as doctor 0's slots, for another doctor: accepted.
            publish(1, vec![range(10, 10), range(20, 10)]),
            // Slot 4 is doctor 1's slot at 10.
            Op::Book {
                slot: 4,
                patient: 0,
                key: None,
            },
            Op::DeleteDoctor { doctor: 1 },
            Op::DeleteDoctor { doctor: 2 },
            // Would be accepted, but 6 + 3 slots pass MAX_SLOTS: not sent.
            publish(0, vec![range(50, 1), range(52, 1), range(54, 1)]),
        ];
        for op in &ops {
            world.step(op);
            world.check_reads();
        }
        assert_eq!(world.doctors.len(), 3);
        assert_eq!(
            world.slots.len(),
            6,
            "the set-up 3, then 1 for doctor 0, 2 for doctor 1"
        );
        let (dermatology, live) = (world.doctors[1], world.model.live_doctors());
        assert_eq!(
            live.iter().map(|d| d.id).collect::<Vec<_>>(),
            world.doctors[..2],
            "doctor 1 has a booking and stays; doctor 2 is deleted"
        );
        let listed = |specialization| {
            let filter = SlotFilter {
                doctor: None,
                specialization: Some(specialization),
                available: None,
            };
            let views = world.model.list_slots(&filter, None, None);
            views.map(|v| v.into_iter().map(|v| v.slot.doctor_id).collect::<Vec<_>>())
        };
        assert_eq!(listed("DERMATOLOGY"), Ok(vec![dermatology; 2]));
        assert_eq!(listed("cardiology").map(|d| d.len()), Ok(4));
        assert_eq!(listed("Neurology"), Ok(Vec::new()));
    }
}
