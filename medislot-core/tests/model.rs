//! Model test: random operation sequences on the engine (with `MemoryStore`) and on a plain
//! reference model written independently here give the same answers, and no slot ever has two
//! bookings that occupy it. Patients also join and leave the doctor's waitlist: a freed slot
//! is offered (a hold) to the first waiting patient, and the model says when, independently.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::executor::block_on;
use medislot_core::{
    BookingEngine, BookingId, DoctorId, Error, ManualClock, MemoryStore, NewDoctor, NewEntry,
    PatientId, SlotId, SlotStatus, TimeRange, WaitlistEntryId, WaitlistTarget,
};
use proptest::prelude::*;

const SLOTS: usize = 3;
const PATIENTS: usize = 3;
const HOLD: i64 = 5;
const BUFFER: i64 = 10;
const OFFER: i64 = 15;
const WAITLIST_LIMIT: usize = 5;

#[derive(Clone, Debug)]
enum Op {
    Book {
        slot: usize,
        patient: usize,
    },
    Hold {
        slot: usize,
        patient: usize,
    },
    Confirm {
        booking: usize,
        patient: usize,
    },
    CancelByPatient {
        booking: usize,
        patient: usize,
    },
    CancelByAdmin {
        booking: usize,
    },
    /// `patient` `None`: an admin moves the booking.
    Reschedule {
        booking: usize,
        patient: Option<usize>,
        slot: usize,
    },
    Withdraw {
        slot: usize,
    },
    Advance {
        minutes: i64,
    },
    Release,
    /// The patient joins the doctor's waitlist, for any slot in the next day.
    Join {
        patient: usize,
    },
    Leave {
        entry: usize,
        patient: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..SLOTS;
    let patient = 0..PATIENTS;
    let booking = 0..8usize;
    prop_oneof![
        4 => (slot.clone(), patient.clone()).prop_map(|(slot, patient)| Op::Book { slot, patient }),
        3 => (slot.clone(), patient.clone()).prop_map(|(slot, patient)| Op::Hold { slot, patient }),
        3 => (booking.clone(), patient.clone()).prop_map(|(booking, patient)| Op::Confirm { booking, patient }),
        3 => (booking.clone(), patient).prop_map(|(booking, patient)| Op::CancelByPatient { booking, patient }),
        2 => booking.clone().prop_map(|booking| Op::CancelByAdmin { booking }),
        3 => (booking, proptest::option::of(0..PATIENTS), slot.clone())
            .prop_map(|(booking, patient, slot)| Op::Reschedule { booking, patient, slot }),
        1 => slot.prop_map(|slot| Op::Withdraw { slot }),
        3 => (0i64..12).prop_map(|minutes| Op::Advance { minutes }),
        1 => Just(Op::Release),
        2 => (0..PATIENTS).prop_map(|patient| Op::Join { patient }),
        1 => (0..6usize, 0..PATIENTS).prop_map(|(entry, patient)| Op::Leave { entry, patient }),
    ]
}

/// The reference model: statuses as plain data, rules written out again from the product's
/// description, independently of `medislot_core::state`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum St {
    Pending(DateTime<Utc>),
    Confirmed,
    Buffer(DateTime<Utc>),
    Cancelled,
    Expired,
    Rescheduled,
}

#[derive(Debug)]
struct ModelBooking {
    slot: usize,
    patient: usize,
    st: St,
}

/// A waitlist entry: waiting, holding the offer that is booking `n`, or ended (booked,
/// declined, lapsed or left).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wait {
    Waiting,
    Offered(usize),
    Ended,
}

#[derive(Debug)]
struct ModelEntry {
    patient: usize,
    wait: Wait,
}

#[derive(Debug)]
struct Model {
    now: DateTime<Utc>,
    starts: Vec<DateTime<Utc>>,
    withdrawn: Vec<bool>,
    bookings: Vec<ModelBooking>,
    entries: Vec<ModelEntry>,
}

/// What an operation answered, reduced to what both sides can be compared on.
#[derive(Debug, PartialEq)]
enum Answer {
    Booking(&'static str),
    Count(u64),
    Done,
    Refused(&'static str),
    Skipped,
}

impl Model {
    fn occupies(&self, st: St) -> bool {
        match st {
            St::Confirmed => true,
            St::Pending(until) | St::Buffer(until) => until > self.now,
            St::Cancelled | St::Expired | St::Rescheduled => false,
        }
    }

    fn lapsed(&self, st: St) -> Option<St> {
        match st {
            St::Pending(until) if until <= self.now => Some(St::Expired),
            St::Buffer(until) if until <= self.now => Some(St::Cancelled),
            _ => None,
        }
    }

    /// A booking stored as holding its slot whose hold or buffer has run out.
    fn stale(&self, slot: usize) -> Option<usize> {
        self.bookings
            .iter()
            .position(|b| b.slot == slot && self.lapsed(b.st).is_some())
    }

    /// Booking `i` is done with: its waitlist entry, if it was an offer, has ended.
    fn end_offer(&mut self, i: usize) {
        for e in &mut self.entries {
            if e.wait == Wait::Offered(i) {
                e.wait = Wait::Ended;
            }
        }
    }

    /// Tidies booking `i`, which ran out.
    fn tidy(&mut self, i: usize) {
        if let Some(done) = self.lapsed(self.bookings[i].st) {
            self.bookings[i].st = done;
            self.end_offer(i);
        }
    }

    /// `slot` was just freed: the first waiting patient is offered it (a hold for the offer
    /// window, never past the slot's start), unless it has started or nobody waits.
    fn offer(&mut self, slot: usize) {
        if self.withdrawn[slot] || self.starts[slot] <= self.now {
            return;
        }
        let Some(e) = self.entries.iter().position(|e| e.wait == Wait::Waiting) else {
            return;
        };
        let until = (self.now + Duration::minutes(OFFER)).min(self.starts[slot]);
        self.bookings.push(ModelBooking {
            slot,
            patient: self.entries[e].patient,
            st: St::Pending(until),
        });
        self.entries[e].wait = Wait::Offered(self.bookings.len() - 1);
    }

    fn waiting(&self) -> bool {
        self.entries.iter().any(|e| e.wait == Wait::Waiting)
    }

    fn occupant(&self, slot: usize) -> Option<usize> {
        self.bookings
            .iter()
            .position(|b| b.slot == slot && self.occupies(b.st))
    }

    fn create(&mut self, slot: usize, patient: usize, st: St) -> Answer {
        if self.withdrawn[slot] {
            return Answer::Refused("slot_not_found");
        }
        if self.starts[slot] <= self.now {
            return Answer::Refused("slot_in_past");
        }
        if self.occupant(slot).is_some() {
            return Answer::Refused("slot_unavailable");
        }
        if let Some(stale) = self.stale(slot) {
            self.tidy(stale);
            // The slot is freed only now: the waitlist has it first.
            if self.waiting() {
                self.offer(slot);
                return Answer::Refused("slot_unavailable");
            }
        }
        self.bookings.push(ModelBooking { slot, patient, st });
        Answer::Booking(name(st))
    }

    fn apply(&mut self, op: &Op) -> Answer {
        match *op {
            Op::Book { slot, patient } => self.create(slot, patient, St::Confirmed),
            Op::Hold { slot, patient } => {
                let until = self.now + Duration::minutes(HOLD);
                self.create(slot, patient, St::Pending(until))
            }
            Op::Confirm { booking, patient } => {
                let Some(b) = self.bookings.get(booking) else {
                    return Answer::Skipped;
                };
                if b.patient != patient {
                    return Answer::Refused("not_owner");
                }
                let next = match b.st {
                    St::Pending(until) if until > self.now => St::Confirmed,
                    St::Pending(_) => return Answer::Refused("hold_expired"),
                    _ => return Answer::Refused("invalid_transition"),
                };
                // A hold of a slot that has started can no longer be confirmed.
                if self.starts[b.slot] <= self.now {
                    return Answer::Refused("slot_in_past");
                }
                self.bookings[booking].st = next;
                self.end_offer(booking);
                Answer::Booking(name(next))
            }
            Op::CancelByPatient { booking, patient } => {
                let Some(b) = self.bookings.get(booking) else {
                    return Answer::Skipped;
                };
                if b.patient != patient {
                    return Answer::Refused("not_owner");
                }
                let live = self.occupies(b.st) && !matches!(b.st, St::Buffer(_));
                if !live {
                    return Answer::Refused("invalid_transition");
                }
                // The default cut-off: a confirmed booking until its slot starts.
                if b.st == St::Confirmed && self.starts[b.slot] <= self.now {
                    return Answer::Refused("too_late_to_change");
                }
                let slot = b.slot;
                self.bookings[booking].st = St::Cancelled;
                self.end_offer(booking);
                self.offer(slot);
                Answer::Booking("CANCELLED")
            }
            Op::CancelByAdmin { booking } => {
                let Some(b) = self.bookings.get(booking) else {
                    return Answer::Skipped;
                };
                let slot = b.slot;
                // The buffer is for the waitlist: when someone waits it ends at once.
                let offered = self.waiting() && self.starts[slot] > self.now;
                let next = match b.st {
                    St::Confirmed if offered => St::Cancelled,
                    St::Confirmed => St::Buffer(self.now + Duration::minutes(BUFFER)),
                    St::Pending(until) if until > self.now => St::Cancelled,
                    _ => return Answer::Refused("invalid_transition"),
                };
                self.bookings[booking].st = next;
                if next == St::Cancelled {
                    self.end_offer(booking);
                    self.offer(slot);
                }
                Answer::Booking(name(next))
            }
            Op::Reschedule {
                booking,
                patient,
                slot,
            } => {
                let Some(b) = self.bookings.get(booking) else {
                    return Answer::Skipped;
                };
                let (from, owner, st) = (b.slot, b.patient, b.st);
                if patient.is_some_and(|p| p != owner) {
                    return Answer::Refused("not_owner");
                }
                if from == slot {
                    return Answer::Refused("same_slot");
                }
                if st != St::Confirmed {
                    return Answer::Refused("invalid_transition");
                }
                // A patient only until the old slot starts (the default cut-off); an admin always.
                if patient.is_some() && self.starts[from] <= self.now {
                    return Answer::Refused("too_late_to_change");
                }
                match self.create(slot, owner, St::Confirmed) {
                    Answer::Booking(made) => {
                        self.bookings[booking].st = St::Rescheduled;
                        self.offer(from);
                        Answer::Booking(made)
                    }
                    refused => refused,
                }
            }
            Op::Withdraw { slot } => {
                if self.withdrawn[slot] {
                    Answer::Refused("slot_not_found")
                } else if self.occupant(slot).is_some() {
                    Answer::Refused("slot_has_active_booking")
                } else {
                    self.withdrawn[slot] = true;
                    Answer::Done
                }
            }
            Op::Advance { minutes } => {
                self.now += Duration::minutes(minutes);
                Answer::Done
            }
            Op::Release => {
                // Oldest booking first, each freeing its slot for the waitlist.
                let stale: Vec<usize> = (0..self.bookings.len())
                    .filter(|i| self.lapsed(self.bookings[*i].st).is_some())
                    .collect();
                for &i in &stale {
                    self.tidy(i);
                    self.offer(self.bookings[i].slot);
                }
                Answer::Count(stale.len() as u64)
            }
            Op::Join { patient } => {
                let active = self
                    .entries
                    .iter()
                    .filter(|e| e.patient == patient)
                    .filter(|e| match e.wait {
                        Wait::Waiting => true,
                        Wait::Offered(b) => self.occupies(self.bookings[b].st),
                        Wait::Ended => false,
                    })
                    .count();
                if active >= WAITLIST_LIMIT {
                    return Answer::Refused("waitlist_full");
                }
                self.entries.push(ModelEntry {
                    patient,
                    wait: Wait::Waiting,
                });
                Answer::Done
            }
            Op::Leave { entry, patient } => {
                let Some(e) = self.entries.get(entry) else {
                    return Answer::Skipped;
                };
                if e.patient != patient {
                    return Answer::Refused("waitlist_entry_not_found");
                }
                if e.wait != Wait::Waiting {
                    return Answer::Refused("waitlist_entry_not_waiting");
                }
                self.entries[entry].wait = Wait::Ended;
                Answer::Done
            }
        }
    }

    fn slot_status(&self, slot: usize) -> Option<SlotStatus> {
        if self.withdrawn[slot] {
            return None;
        }
        Some(match self.occupant(slot).map(|i| self.bookings[i].st) {
            Some(St::Confirmed) => SlotStatus::Booked,
            Some(St::Pending(until)) => SlotStatus::Held { until },
            Some(St::Buffer(until)) => SlotStatus::Buffer { until },
            _ if self.starts[slot] > self.now => SlotStatus::Available,
            _ => SlotStatus::Started,
        })
    }
}

fn name(st: St) -> &'static str {
    match st {
        St::Pending(_) => "PENDING",
        St::Confirmed => "CONFIRMED",
        St::Buffer(_) => "BUFFER",
        St::Cancelled => "CANCELLED",
        St::Expired => "EXPIRED",
        St::Rescheduled => "RESCHEDULED",
    }
}

fn refusal(err: &Error) -> &'static str {
    match err {
        Error::SlotNotFound(_) => "slot_not_found",
        Error::SlotInPast(_) => "slot_in_past",
        Error::SlotUnavailable(_) => "slot_unavailable",
        Error::NotOwner(_) => "not_owner",
        Error::HoldExpired(_) => "hold_expired",
        Error::Validation {
            field: "slot_id", ..
        } => "same_slot",
        Error::TooLateToChange { .. } => "too_late_to_change",
        Error::InvalidTransition { .. } => "invalid_transition",
        Error::SlotHasActiveBooking(_) => "slot_has_active_booking",
        Error::WaitlistFull { .. } => "waitlist_full",
        Error::WaitlistEntryNotFound(_) => "waitlist_entry_not_found",
        Error::WaitlistEntryNotWaiting { .. } => "waitlist_entry_not_waiting",
        other => panic!("unexpected error from the engine: {other:?}"),
    }
}

struct Real {
    engine: BookingEngine,
    clock: ManualClock,
    doctor: DoctorId,
    slots: Vec<SlotId>,
    patients: Vec<PatientId>,
    bookings: Vec<BookingId>,
    entries: Vec<(WaitlistEntryId, PatientId)>,
}

impl Real {
    /// Offers made since the last step, in the order of their entries (which is the order
    /// they were made in), appended to the bookings as the model appends them.
    fn collect_offers(&mut self) {
        for (id, patient) in &self.entries {
            let entry = block_on(self.engine.waitlist_entry(*id, *patient)).expect("entry");
            if let Some(offer) = entry.state.offer() {
                if !self.bookings.contains(&offer) {
                    self.bookings.push(offer);
                }
            }
        }
    }

    fn apply(&mut self, op: &Op) -> Answer {
        let answer = self.apply_op(op);
        self.collect_offers();
        answer
    }

    fn apply_op(&mut self, op: &Op) -> Answer {
        let booking_answer = |r: Result<medislot_core::Booking, Error>| match r {
            Ok(b) => Answer::Booking(b.status().as_str()),
            Err(e) => Answer::Refused(refusal(&e)),
        };
        block_on(async {
            match *op {
                Op::Book { slot, patient } => {
                    let r = self
                        .engine
                        .book(self.slots[slot], self.patients[patient], None)
                        .await;
                    if let Ok(b) = &r {
                        self.bookings.push(b.id);
                    }
                    booking_answer(r)
                }
                Op::Hold { slot, patient } => {
                    let r = self
                        .engine
                        .hold(self.slots[slot], self.patients[patient])
                        .await;
                    if let Ok(b) = &r {
                        self.bookings.push(b.id);
                    }
                    booking_answer(r)
                }
                Op::Confirm { booking, patient } => match self.bookings.get(booking) {
                    Some(id) => {
                        booking_answer(self.engine.confirm(*id, self.patients[patient]).await)
                    }
                    None => Answer::Skipped,
                },
                Op::CancelByPatient { booking, patient } => match self.bookings.get(booking) {
                    Some(id) => booking_answer(
                        self.engine
                            .cancel_as_patient(*id, self.patients[patient], None)
                            .await,
                    ),
                    None => Answer::Skipped,
                },
                Op::CancelByAdmin { booking } => match self.bookings.get(booking) {
                    Some(id) => booking_answer(self.engine.cancel_as_admin(*id, None).await),
                    None => Answer::Skipped,
                },
                Op::Reschedule {
                    booking,
                    patient,
                    slot,
                } => match self.bookings.get(booking).copied() {
                    Some(id) => {
                        let target = self.slots[slot];
                        let r = match patient {
                            Some(p) => {
                                self.engine
                                    .reschedule_as_patient(id, self.patients[p], target, None)
                                    .await
                            }
                            None => self.engine.reschedule_as_admin(id, target, None).await,
                        };
                        if let Ok(b) = &r {
                            self.bookings.push(b.id);
                        }
                        booking_answer(r)
                    }
                    None => Answer::Skipped,
                },
                Op::Withdraw { slot } => match self.engine.withdraw_slot(self.slots[slot]).await {
                    Ok(()) => Answer::Done,
                    Err(e) => Answer::Refused(refusal(&e)),
                },
                Op::Advance { minutes } => {
                    self.clock.advance(Duration::minutes(minutes));
                    Answer::Done
                }
                Op::Release => Answer::Count(self.engine.release_expired().await.expect("release")),
                Op::Join { patient } => {
                    let now = self.engine.now();
                    let request = NewEntry::new(
                        WaitlistTarget::Doctor(self.doctor),
                        TimeRange::new(now, now + Duration::days(1)).unwrap(),
                        None,
                    )
                    .unwrap();
                    let patient = self.patients[patient];
                    match self.engine.join_waitlist(patient, request).await {
                        Ok(entry) => {
                            self.entries.push((entry.id, patient));
                            Answer::Done
                        }
                        Err(e) => Answer::Refused(refusal(&e)),
                    }
                }
                Op::Leave { entry, patient } => match self.entries.get(entry) {
                    Some((id, _)) => {
                        match self
                            .engine
                            .leave_waitlist(*id, self.patients[patient])
                            .await
                        {
                            Ok(()) => Answer::Done,
                            Err(e) => Answer::Refused(refusal(&e)),
                        }
                    }
                    None => Answer::Skipped,
                },
            }
        })
    }

    fn slot_status(&self, slot: usize) -> Option<SlotStatus> {
        match block_on(self.engine.slot(self.slots[slot])) {
            Ok(view) => Some(view.status),
            Err(Error::SlotNotFound(_)) => None,
            Err(e) => panic!("reading a slot failed: {e:?}"),
        }
    }
}

fn setup() -> (Real, Model) {
    let clock = ManualClock::starting_now();
    let store = Arc::new(MemoryStore::new());
    let engine = BookingEngine::new(store).with_clock(Arc::new(clock.clone()));
    let now = engine.now();
    let doctor =
        block_on(engine.create_doctor(NewDoctor::new("Dr Model", "Cardiology", "UTC").unwrap()))
            .unwrap();
    // Slots start 30, 60 and 90 minutes from now, so clock moves reach them.
    let ranges: Vec<TimeRange> = (1..=SLOTS as i64)
        .map(|i| {
            let start = now + Duration::minutes(30 * i);
            TimeRange::new(start, start + Duration::minutes(30)).unwrap()
        })
        .collect();
    let slots = block_on(engine.publish_slots(doctor.id, &ranges)).unwrap();
    let model = Model {
        now,
        starts: ranges.iter().map(|r| r.starts_at()).collect(),
        withdrawn: vec![false; SLOTS],
        bookings: Vec::new(),
        entries: Vec::new(),
    };
    let real = Real {
        engine,
        clock,
        doctor: doctor.id,
        entries: Vec::new(),
        slots: slots.iter().map(|s| s.id).collect(),
        patients: (0..PATIENTS).map(|_| PatientId::new()).collect(),
        bookings: Vec::new(),
    };
    (real, model)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1000)
    ))]

    #[test]
    fn engine_answers_like_the_model_and_never_double_books(ops in proptest::collection::vec(op(), 1..60)) {
        let (mut real, mut model) = setup();
        for (step, op) in ops.iter().enumerate() {
            let expected = model.apply(op);
            let got = real.apply(op);
            prop_assert_eq!(&got, &expected, "step {}: {:?}", step, op);
            for slot in 0..SLOTS {
                prop_assert_eq!(real.slot_status(slot), model.slot_status(slot), "slot {} after step {}", slot, step);
                let now = real.engine.now();
                let occupying = model
                    .bookings
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.slot == slot)
                    .filter(|(i, _)| {
                        let view = block_on(real.engine.booking(real.bookings[*i])).unwrap();
                        view.booking.state.occupies_slot_at(now)
                    })
                    .count();
                prop_assert!(occupying <= 1, "slot {} occupied {} times", slot, occupying);
            }
        }
    }
}
