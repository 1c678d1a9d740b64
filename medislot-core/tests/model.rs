//! Model test: random operation sequences on the engine (with `MemoryStore`) and on a plain
//! reference model written independently here give the same answers, and no slot ever has two
//! bookings that occupy it.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::executor::block_on;
use medislot_core::{
    BookingEngine, BookingId, Error, ManualClock, MemoryStore, NewDoctor, PatientId, SlotId,
    SlotStatus, TimeRange,
};
use proptest::prelude::*;

const SLOTS: usize = 3;
const PATIENTS: usize = 3;
const HOLD: i64 = 5;
const BUFFER: i64 = 10;

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

#[derive(Debug)]
struct Model {
    now: DateTime<Utc>,
    starts: Vec<DateTime<Utc>>,
    withdrawn: Vec<bool>,
    bookings: Vec<ModelBooking>,
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
        for i in 0..self.bookings.len() {
            if self.bookings[i].slot == slot {
                if let Some(done) = self.lapsed(self.bookings[i].st) {
                    self.bookings[i].st = done;
                }
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
                self.bookings[booking].st = St::Cancelled;
                Answer::Booking("CANCELLED")
            }
            Op::CancelByAdmin { booking } => {
                let Some(b) = self.bookings.get(booking) else {
                    return Answer::Skipped;
                };
                let next = match b.st {
                    St::Confirmed => St::Buffer(self.now + Duration::minutes(BUFFER)),
                    St::Pending(until) if until > self.now => St::Cancelled,
                    _ => return Answer::Refused("invalid_transition"),
                };
                self.bookings[booking].st = next;
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
                let mut count = 0;
                for i in 0..self.bookings.len() {
                    if let Some(done) = self.lapsed(self.bookings[i].st) {
                        self.bookings[i].st = done;
                        count += 1;
                    }
                }
                Answer::Count(count)
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
        other => panic!("unexpected error from the engine: {other:?}"),
    }
}

struct Real {
    engine: BookingEngine,
    clock: ManualClock,
    slots: Vec<SlotId>,
    patients: Vec<PatientId>,
    bookings: Vec<BookingId>,
}

impl Real {
    fn apply(&mut self, op: &Op) -> Answer {
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
    };
    let real = Real {
        engine,
        clock,
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
