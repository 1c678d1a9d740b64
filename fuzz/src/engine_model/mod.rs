//! Target `engine_model`: arbitrary operation sequences (create doctors, publish slots, book,
//! hold, confirm, patient and admin cancels, clock moves, withdraw, delete a doctor,
//! release_expired, listings, reschedules, and the waitlist: join, leave, confirm or decline
//! an offer) on a [`BookingEngine`] over a [`MemoryStore`] and a [`ManualClock`], run side by
//! side with a plain reference model.
//!
//! After every operation the engine must have given the model's answer (the same booking, doctor
//! or slots, or the same refusal naming the same id), every doctor, booking and slot must read as
//! the model says, and the engine's own data must never show two bookings occupying one slot.
//! The model decides on its own which entry is offered which freed slot and when; the engine's
//! offers (holds whose ids only it picks) are then matched to the model's by their entry, and
//! every entry must read as the model says.
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
    Cursor, Doctor, DoctorFilter, DoctorId, EntryState, Event, IdempotencyKey, ManualClock,
    MemoryStore, NewDoctor, NewEntry, PatientId, Policy, Slot, SlotCursor, SlotId, SlotQuery,
    TimeRange, WaitlistEntryId, WaitlistTarget,
};
use medislot_core::{BookingEngine, Result};
use uuid::Uuid;

use self::model::{Entry, Made, Model, SlotFilter, Wait, OFFER_PLACEHOLDER};
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
/// then `Reschedule`, then the waitlist's four), so older corpus inputs decode differently
/// since; they still run.
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
    /// A patient joins the waitlist for a window of minutes after the epoch.
    JoinWaitlist {
        patient: u8,
        target: Target,
        /// The window starts this many minutes after the epoch, modulo 64.
        from: u8,
        /// And lasts 1 + this modulo 64 minutes.
        minutes: u8,
    },
    /// A patient leaves an entry (by index; one past names an unknown entry).
    LeaveWaitlist {
        entry: u8,
        patient: u8,
    },
    /// The entry's patient confirms the entry's (last) offer; nothing when it had none.
    ConfirmOffer {
        entry: u8,
    },
    /// The entry's patient declines (cancels) the entry's (last) offer; nothing when it had
    /// none.
    DeclineOffer {
        entry: u8,
    },
}

/// What a waitlist entry waits for.
#[derive(Arbitrary, Debug)]
enum Target {
    /// A doctor by index (one past names an unknown doctor).
    Doctor(u8),
    /// An index into [`SPECIALIZATION_FILTERS`].
    Specialization(u8),
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
        world.learn_offers(op);
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
    unknown_entry: WaitlistEntryId,
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
            model: Model::new(
                now,
                policy.hold,
                policy.buffer,
                policy.offer_window,
                usize::try_from(policy.waitlist_limit).unwrap_or(usize::MAX),
            ),
            doctors: Vec::new(),
            slots: Vec::new(),
            unknown_doctor: DoctorId::from_uuid(Uuid::from_u128(u128::MAX)),
            unknown_slot: SlotId::from_uuid(Uuid::from_u128(u128::MAX)),
            unknown_booking: BookingId::from_uuid(Uuid::from_u128(u128::MAX)),
            unknown_entry: WaitlistEntryId::from_uuid(Uuid::from_u128(u128::MAX)),
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

    /// The entry at `index` (one past names an unknown entry), and its patient.
    fn entry(&self, index: u8) -> (WaitlistEntryId, Option<&Entry>) {
        let entries = self.model.entries();
        let index = usize::from(index) % (entries.len() + 1);
        entries
            .get(index)
            .map_or((self.unknown_entry, None), |e| (e.id, Some(e)))
    }

    /// The booking of the (last) offer of the entry at `index`, and its patient.
    fn offer_of(&self, index: u8) -> Option<(BookingId, PatientId)> {
        let (_, entry) = self.entry(index);
        let entry = entry?;
        let booking = entry.wait.offer()?;
        Some((self.model.bookings()[booking].id, entry.patient))
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
            Op::JoinWaitlist {
                patient,
                target,
                from,
                minutes,
            } => {
                let patient = Self::patient(*patient);
                let target = match target {
                    Target::Doctor(d) => WaitlistTarget::Doctor(self.doctor(*d)),
                    Target::Specialization(s) => WaitlistTarget::Specialization(
                        SPECIALIZATION_FILTERS[usize::from(*s) % SPECIALIZATION_FILTERS.len()]
                            .to_owned(),
                    ),
                };
                let starts_at = epoch() + Duration::minutes(i64::from(from % 64));
                let window = setup(
                    "make a window",
                    TimeRange::new(
                        starts_at,
                        starts_at + Duration::minutes(1 + i64::from(minutes % 64)),
                    ),
                );
                let want = self.model.join(patient, &target, window);
                let request = setup("make an entry", NewEntry::new(target.clone(), window, None));
                let got = wait(self.engine.join_waitlist(patient, request));
                match (want, got) {
                    (Ok(()), Ok(got)) => {
                        assert_eq!(
                            (got.patient_id, &got.target, got.window, got.time_of_day),
                            (patient, &target, window, None),
                            "{op:?} at {now}"
                        );
                        assert_eq!(got.state, EntryState::Waiting, "{op:?} at {now}");
                        assert_eq!(got.joined_at, now, "{op:?} at {now}");
                        assert!(
                            self.model.entries().iter().all(|e| e.id != got.id)
                                && got.id != self.unknown_entry,
                            "{op:?} at {now}: a new entry reused id {}",
                            got.id
                        );
                        self.model.add_entry(Entry {
                            id: got.id,
                            patient,
                            target,
                            window,
                            joined_at: got.joined_at,
                            wait: Wait::Waiting,
                        });
                    }
                    (Err(want), Err(got)) => {
                        assert_eq!(Refusal::of(&got), want, "{op:?} at {now}");
                    }
                    (want, got) => {
                        panic!("{op:?} at {now}: the model says {want:?}, the engine {got:?}")
                    }
                }
            }
            Op::LeaveWaitlist { entry, patient } => {
                let (id, patient) = (self.entry(*entry).0, Self::patient(*patient));
                let want = self.model.leave(id, patient);
                let got =
                    wait(self.engine.leave_waitlist(id, patient)).map_err(|e| Refusal::of(&e));
                assert_eq!(got, want, "{op:?} at {now}");
            }
            Op::ConfirmOffer { entry } => {
                let Some((id, patient)) = self.offer_of(*entry) else {
                    return;
                };
                let want = self.model.apply(id, &Event::Confirm { patient });
                let got = wait(self.engine.confirm(id, patient));
                self.compare_event(op, want, got);
            }
            Op::DeclineOffer { entry } => {
                let Some((id, patient)) = self.offer_of(*entry) else {
                    return;
                };
                let want = self.model.apply(
                    id,
                    &Event::CancelByPatient {
                        patient,
                        reason: None,
                    },
                );
                let got = wait(self.engine.cancel_as_patient(id, patient, None));
                self.compare_event(op, want, got);
            }
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

    /// Gives each offer the model made in the last operation the id of the hold the engine
    /// made for the same entry; an entry the model offered something that the engine did not
    /// is a finding.
    fn learn_offers(&mut self, op: &Op) {
        let now = self.model.now();
        let pending: Vec<(usize, WaitlistEntryId, PatientId)> = self
            .model
            .entries()
            .iter()
            .filter_map(|e| match e.wait {
                Wait::Offered(b) if self.model.bookings()[b].id == OFFER_PLACEHOLDER => {
                    Some((b, e.id, e.patient))
                }
                _ => None,
            })
            .collect();
        for (booking, entry, patient) in pending {
            let got = setup(
                "read an entry",
                wait(self.engine.waitlist_entry(entry, patient)),
            );
            let EntryState::Offered { booking: id, .. } = got.state else {
                panic!(
                    "{op:?} at {now}: the model offers entry {entry} a slot, the engine has it {:?}",
                    got.state
                );
            };
            assert!(
                self.model.bookings().iter().all(|b| b.id != id),
                "{op:?} at {now}: entry {entry}'s offer {id} is a booking the model already has"
            );
            self.model.learn_offer(booking, id);
        }
    }

    /// Every entry reads as the model says: its status now, its (last) offer, and each
    /// patient's listing of active entries in join order.
    fn check_entries(&self) {
        let now = self.model.now();
        for want in self.model.entries() {
            let got = setup(
                "read an entry",
                wait(self.engine.waitlist_entry(want.id, want.patient)),
            );
            assert_eq!(
                got.state.status_at(now),
                self.model.entry_status(want),
                "entry {} at {now}: {:?}",
                want.id,
                got.state
            );
            assert_eq!(
                got.state.offer(),
                want.wait.offer().map(|b| self.model.bookings()[b].id),
                "entry {}'s offer at {now}",
                want.id
            );
            if let (EntryState::Offered { until, .. }, Wait::Offered(b)) = (&got.state, want.wait) {
                let BookingState::Pending { hold_until } = self.model.bookings()[b].state else {
                    panic!("entry {}'s offer is not a hold in the model", want.id);
                };
                assert_eq!(
                    *until, hold_until,
                    "entry {}'s offer ends with its hold",
                    want.id
                );
            }
        }
        for patient in 0..PATIENTS {
            let patient = PatientId::from_uuid(Uuid::from_u128(1 + patient));
            let listed: Vec<WaitlistEntryId> = setup(
                "list a patient's waitlist",
                wait(self.engine.patient_waitlist(patient)),
            )
            .into_iter()
            .map(|e| e.id)
            .collect();
            assert_eq!(
                listed,
                self.model.patient_entries(patient),
                "{patient}'s waitlist"
            );
        }
    }

    /// Every booking and slot reads as the model says, and the engine's data never has two
    /// bookings occupying one slot, nor two that may (the store's unique-occupant rule).
    fn check_reads(&self) {
        self.check_entries();
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

    fn join(patient: u8, target: Target) -> Op {
        Op::JoinWaitlist {
            patient,
            target,
            from: 0,
            minutes: 63,
        }
    }

    /// The waitlist's path through the target, each step checked against the model as the
    /// fuzzer does: a cancel offers the slot to the first in line, a decline to the next, a
    /// lapse ends the offer, joining offers nothing, an admin's cancel skips the buffer when
    /// someone waits, and a new slot is offered at once.
    #[test]
    fn offers_follow_the_line_through_cancel_decline_lapse_confirm_and_publish() {
        use model::Wait::{Booked, Declined, Lapsed, Offered};
        let input = Input {
            hold_minutes: 4,
            buffer_minutes: 10,
            ops: Vec::new(),
        };
        let mut world = World::new(&input);
        let ops = [
            // Booking 0: patient 0 on the slot at 40.
            Op::Book {
                slot: 2,
                patient: 0,
                key: None,
            },
            join(1, Target::Doctor(0)),
            join(2, Target::Specialization(0)),
            // A doctor nobody has: refused.
            join(2, Target::Doctor(1)),
            Op::CancelAsPatient {
                booking: 0,
                patient: 0,
                reason: Reason::None,
            },
            // Booking 1 is entry 0's offer: nobody else may book the slot.
            Op::Book {
                slot: 2,
                patient: 0,
                key: None,
            },
            // Entry 0 declines: booking 2 offers the slot to entry 1.
            Op::DeclineOffer { entry: 0 },
            Op::LeaveWaitlist {
                entry: 1,
                patient: 2,
            },
            Op::Clock { minutes: 16 },
            Op::ConfirmOffer { entry: 1 },
            Op::ReleaseExpired,
            // Booking 3: a free slot is held although someone joins first.
            join(0, Target::Doctor(0)),
            Op::Hold {
                slot: 2,
                patient: 1,
            },
            // The clinic cancels the hold: booking 4 offers the slot to entry 2.
            Op::CancelAsAdmin {
                booking: 3,
                reason: Reason::None,
            },
            Op::ConfirmOffer { entry: 2 },
            Op::LeaveWaitlist {
                entry: 2,
                patient: 0,
            },
            // Entry 3 waits; the clinic cancels booking 4: no buffer, booking 5 is entry 3's.
            join(1, Target::Doctor(0)),
            Op::CancelAsAdmin {
                booking: 4,
                reason: Reason::Text("Doctor away".to_owned()),
            },
            // Entry 4 waits for the specialization; a new slot at 50 is offered to it.
            join(2, Target::Specialization(0)),
            publish(0, vec![range(50, 5)]),
        ];
        for op in &ops {
            world.step(op);
            world.learn_offers(op);
            world.check_reads();
        }
        let waits: Vec<_> = world.model.entries().iter().map(|e| e.wait).collect();
        assert_eq!(
            waits,
            [Declined(1), Lapsed(2), Booked(4), Offered(5), Offered(6)],
            "the line as the model says (and the engine agreed at every step)"
        );
        let bookings = world.model.bookings();
        assert_eq!(
            bookings[4].state,
            BookingState::Cancelled {
                by: medislot_core::CancelledBy::Admin,
                reason: Some("Doctor away".to_owned()),
                buffer_until: Some(world.model.now()),
            }
        );
        assert_eq!(bookings[6].slot_id, world.slots[3], "the new slot");
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
