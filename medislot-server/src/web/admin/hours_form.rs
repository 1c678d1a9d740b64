//! The working-hours form as an admin types it, read into the core's [`DoctorHours`] or into
//! an error at each field that is wrong, and written back from stored hours.
//!
//! One fieldset per weekly rule: a text field per weekday holding that day's intervals
//! (`09:00-12:00, 14:00-17:30`), the slot length, the gap and the dates the rule is valid.
//! The exceptions are one textarea each, one per line: days off (`2030-12-24`), time off
//! (`2030-12-24 09:00-12:00`) and extra hours (`2030-12-27 14:00-18:00 30`). Field names are
//! the inputs' ids (`r0-mon`, `r1-slot`, `days-off`), so an error names the field it sits at.

use chrono::{Duration, NaiveDate, NaiveTime};
use medislot_core::doctor_hours::MAX_RULES;
use medislot_core::schedule::{
    Exception, WallInterval, WorkingHours, MAX_SLOT_MINUTES, MIN_SLOT_MINUTES,
};
use medislot_core::DoctorHours;

use crate::web::page::Errors;

/// The weekdays, Monday first (as `WorkingHours::week` holds them): the key in a field's id,
/// and the label.
pub(super) const WEEKDAYS: [(&str, &str); 7] = [
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
];

/// The longest gap between two slots, in minutes (as `WorkingHours::new` accepts it).
const MAX_GAP_MINUTES: i64 = 24 * 60;

/// A few bad lines of a textarea are named; the rest are counted.
const NAMED_LINES: usize = 3;

/// One weekly rule as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RuleForm {
    /// Each weekday's intervals, Monday first.
    pub(super) days: [String; 7],
    pub(super) slot: String,
    pub(super) gap: String,
    pub(super) from: String,
    pub(super) until: String,
}

impl RuleForm {
    /// A new rule: 30-minute slots, no gap, valid from `today`, no hours yet.
    fn blank(today: NaiveDate) -> Self {
        Self {
            slot: "30".to_owned(),
            gap: "0".to_owned(),
            from: ymd(today),
            ..Self::default()
        }
    }

    /// Whether no weekday has hours (such a rule is left out when read).
    fn is_empty(&self) -> bool {
        self.days.iter().all(|d| d.trim().is_empty())
    }
}

/// The whole form as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct HoursForm {
    pub(super) rules: Vec<RuleForm>,
    pub(super) days_off: String,
    pub(super) time_off: String,
    pub(super) extra_hours: String,
}

impl HoursForm {
    /// The form showing `hours` (one blank rule valid from `today` when they have none).
    pub(super) fn of(hours: &DoctorHours, today: NaiveDate) -> Self {
        let mut form = Self {
            rules: hours.rules().iter().map(rule_form).collect(),
            ..Self::default()
        };
        if form.rules.is_empty() {
            form.rules.push(RuleForm::blank(today));
        }
        let mut days_off = Vec::new();
        let mut time_off = Vec::new();
        let mut extra = Vec::new();
        for exception in hours.exceptions() {
            match *exception {
                Exception::DayOff(date) => days_off.push(ymd(date)),
                Exception::TimeOff { date, interval } => {
                    time_off.push(format!("{} {}", ymd(date), span(&interval)));
                }
                Exception::ExtraHours {
                    date,
                    interval,
                    slot_length,
                } => extra.push(format!(
                    "{} {} {}",
                    ymd(date),
                    span(&interval),
                    slot_length.num_minutes()
                )),
            }
        }
        form.days_off = days_off.join("\n");
        form.time_off = time_off.join("\n");
        form.extra_hours = extra.join("\n");
        form
    }

    /// The form from a posted body's fields: as many rules as its `rules` field says (one to
    /// [`MAX_RULES`]); a missing field reads as empty.
    pub(super) fn from_fields(fields: &[(String, String)]) -> Self {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let count = get("rules")
            .trim()
            .parse::<usize>()
            .unwrap_or(1)
            .clamp(1, MAX_RULES);
        let rules = (0..count)
            .map(|i| RuleForm {
                days: std::array::from_fn(|d| get(&format!("r{i}-{}", WEEKDAYS[d].0))),
                slot: get(&format!("r{i}-slot")),
                gap: get(&format!("r{i}-gap")),
                from: get(&format!("r{i}-from")),
                until: get(&format!("r{i}-until")),
            })
            .collect();
        Self {
            rules,
            days_off: get("days-off"),
            time_off: get("time-off"),
            extra_hours: get("extra-hours"),
        }
    }

    /// Adds a blank rule valid from `today`; `false` when the form holds [`MAX_RULES`] already.
    pub(super) fn add_rule(&mut self, today: NaiveDate) -> bool {
        if self.rules.len() >= MAX_RULES {
            return false;
        }
        self.rules.push(RuleForm::blank(today));
        true
    }

    /// The hours the form describes, or every error at its field. A rule with no hours on any
    /// day is left out.
    pub(super) fn read(&self) -> Result<DoctorHours, Errors> {
        let mut errors = Errors::default();
        let mut rules = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.is_empty() {
                continue;
            }
            if let Some(rule) = read_rule(rule, i, &mut errors) {
                rules.push(rule);
            }
        }
        let mut exceptions = Vec::new();
        read_lines(&self.days_off, "days-off", &mut errors, |line| {
            let date = date(line).ok_or("enter a date such as 2030-12-24")?;
            exceptions.push(Exception::DayOff(date));
            Ok(())
        });
        read_lines(&self.time_off, "time-off", &mut errors, |line| {
            let (date, interval) = dated_interval(line)
                .ok_or("write a date and a time, such as 2030-12-24 09:00-12:00")?;
            exceptions.push(Exception::TimeOff {
                date,
                interval: interval?,
            });
            Ok(())
        });
        read_lines(&self.extra_hours, "extra-hours", &mut errors, |line| {
            let (at, minutes) = line
                .trim_end_matches("min")
                .trim_end()
                .rsplit_once(char::is_whitespace)
                .ok_or(EXTRA_SHAPE)?;
            let (date, interval) = dated_interval(at).ok_or(EXTRA_SHAPE)?;
            let minutes = minutes.parse::<i64>().map_err(|_| EXTRA_SHAPE)?;
            let exception = Exception::extra_hours(date, interval?, Duration::minutes(minutes))
                .map_err(|_| SLOT_RANGE)?;
            exceptions.push(exception);
            Ok(())
        });
        if errors.any() {
            return Err(errors);
        }
        DoctorHours::new(rules, exceptions).map_err(|err| {
            errors.form = Some(match err {
                medislot_core::Error::Validation { field: "rules", .. } => {
                    format!("At most {MAX_RULES} weekly rules.")
                }
                _ => "Too many days off, times off and extra hours together: remove past ones."
                    .to_owned(),
            });
            errors
        })
    }
}

const EXTRA_SHAPE: &str =
    "write a date, a time and a slot length in minutes, such as 2030-12-27 14:00-18:00 30";
const SLOT_RANGE: &str = "the slot length must be from 5 to 720 minutes";

/// Reads one rule; records each wrong field as `r{i}-...`.
fn read_rule(rule: &RuleForm, i: usize, errors: &mut Errors) -> Option<WorkingHours> {
    let mut week: [Vec<WallInterval>; 7] = Default::default();
    let mut ok = true;
    for ((key, _), (text, day)) in WEEKDAYS.iter().zip(rule.days.iter().zip(week.iter_mut())) {
        match intervals(text) {
            Ok(intervals) => *day = intervals,
            Err(message) => {
                errors.add(&format!("r{i}-{key}"), message);
                ok = false;
            }
        }
    }
    let slot = match rule.slot.trim().parse::<i64>() {
        Ok(n) if (MIN_SLOT_MINUTES..=MAX_SLOT_MINUTES).contains(&n) => Some(n),
        _ => {
            errors.add(
                &format!("r{i}-slot"),
                format!(
                    "Enter a slot length in minutes from {MIN_SLOT_MINUTES} to {MAX_SLOT_MINUTES}."
                ),
            );
            None
        }
    };
    let gap = match rule.gap.trim() {
        "" => Some(0),
        text => {
            match text.parse::<i64>() {
                Ok(n) if (0..=MAX_GAP_MINUTES).contains(&n) => Some(n),
                _ => {
                    errors.add(
                    &format!("r{i}-gap"),
                    format!("Enter a gap in minutes from 0 to {MAX_GAP_MINUTES}, or leave it empty."),
                );
                    None
                }
            }
        }
    };
    let from = date(&rule.from);
    if from.is_none() {
        errors.add(
            &format!("r{i}-from"),
            "Enter the first day the rule applies, such as 2030-01-31.",
        );
    }
    let until = match rule.until.trim() {
        "" => Some(None),
        text => match date(text) {
            Some(day) if from.is_some_and(|from| day < from) => {
                errors.add(
                    &format!("r{i}-until"),
                    "The last day must not be before the first day.",
                );
                None
            }
            Some(day) => Some(Some(day)),
            None => {
                errors.add(
                    &format!("r{i}-until"),
                    "Enter the last day the rule applies, such as 2030-12-31, or leave it empty.",
                );
                None
            }
        },
    };
    let (true, Some(slot), Some(gap), Some(from), Some(until)) = (ok, slot, gap, from, until)
    else {
        return None;
    };
    match WorkingHours::new(
        week,
        Duration::minutes(slot),
        Duration::minutes(gap),
        from,
        until,
    ) {
        Ok(rule) => Some(rule),
        Err(err) => {
            // Every field was checked above as the rule checks it; should the rules grow
            // stricter, the refusal still lands on the rule's first field.
            let detail = match err {
                medislot_core::Error::Validation { message, .. } => message,
                other => other.to_string(),
            };
            errors.add(
                &format!("r{i}-{}", WEEKDAYS[0].0),
                crate::web::page::sentence(&detail),
            );
            None
        }
    }
}

/// A day's intervals (`09:00-12:00, 14:00-17:30`), in the order typed; none when empty.
///
/// # Errors
/// The message to show at the field: which interval is not one, or which two overlap.
fn intervals(text: &str) -> Result<Vec<WallInterval>, String> {
    let mut out: Vec<WallInterval> = Vec::new();
    for piece in text
        .split([',', ';', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let interval = interval(piece).map_err(|why| format!("“{piece}”: {why}"))?;
        if let Some(other) = out
            .iter()
            .find(|o| o.from() < interval.until() && interval.from() < o.until())
        {
            return Err(format!(
                "{} and {} overlap; make them one interval or move one.",
                span(other),
                span(&interval)
            ));
        }
        out.push(interval);
    }
    Ok(out)
}

/// One interval, `09:00-12:00` (an en dash, or spaces around the dash, also do).
fn interval(text: &str) -> Result<WallInterval, &'static str> {
    const SHAPE: &str = "write an interval as 09:00-12:00.";
    let (from, until) = text.split_once(['-', '–']).ok_or(SHAPE)?;
    let (from, until) = (time(from).ok_or(SHAPE)?, time(until).ok_or(SHAPE)?);
    WallInterval::new(from, until).map_err(|_| "the end must be later than the start.")
}

/// `date HH:MM-HH:MM`: the date, and the interval or why it is not one; `None` when the line
/// does not even have that shape.
fn dated_interval(line: &str) -> Option<(NaiveDate, Result<WallInterval, &'static str>)> {
    let (date_text, rest) = line.trim().split_once(char::is_whitespace)?;
    Some((date(date_text)?, interval(rest.trim())))
}

/// Reads each non-empty line of `text` with `read`; records the bad ones at `field`, naming
/// the first few by their line number.
fn read_lines(
    text: &str,
    field: &str,
    errors: &mut Errors,
    mut read: impl FnMut(&str) -> Result<(), &'static str>,
) {
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Err(why) = read(line) {
            bad.push(format!("line {} (“{line}”): {why}", n + 1));
        }
    }
    if bad.is_empty() {
        return;
    }
    let more = bad.len().saturating_sub(NAMED_LINES);
    bad.truncate(NAMED_LINES);
    let mut message = crate::web::page::sentence(&bad.join("; "));
    if more > 0 {
        message.push_str(&format!(" And {more} more."));
    }
    errors.add(field, message);
}

fn time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

fn ymd(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// `09:00-12:00`, as the form takes it.
fn span(interval: &WallInterval) -> String {
    format!(
        "{}-{}",
        interval.from().format("%H:%M"),
        interval.until().format("%H:%M")
    )
}

fn rule_form(rule: &WorkingHours) -> RuleForm {
    RuleForm {
        days: std::array::from_fn(|d| {
            rule.week()[d]
                .iter()
                .map(span)
                .collect::<Vec<_>>()
                .join(", ")
        }),
        slot: rule.slot_length().num_minutes().to_string(),
        gap: rule.gap().num_minutes().to_string(),
        from: ymd(rule.valid_from()),
        until: rule.valid_until().map(ymd).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_typed_form_reads_into_hours_and_back_into_the_same_form() {
        let form = HoursForm::from_fields(&fields(&[
            ("rules", "2"),
            ("r0-mon", "09:00-12:00, 14:00 – 17:30"),
            ("r0-fri", "08:00-10:00"),
            ("r0-slot", "30"),
            ("r0-gap", ""),
            ("r0-from", "2030-01-01"),
            ("r1-sat", "10:00-12:00"),
            ("r1-slot", "60"),
            ("r1-gap", "15"),
            ("r1-from", "2030-01-01"),
            ("r1-until", "2030-06-30"),
            ("days-off", "2030-12-24\n\n2030-12-31"),
            ("time-off", "2030-03-04 09:00-10:00"),
            ("extra-hours", "2030-03-09 14:00-18:00 20 min"),
        ]));
        let hours = form.read().unwrap();
        assert_eq!(hours.rules().len(), 2);
        assert_eq!(hours.rules()[0].week()[0].len(), 2);
        assert_eq!(hours.rules()[1].gap(), Duration::minutes(15));
        assert_eq!(hours.rules()[1].valid_until(), Some(day("2030-06-30")));
        assert_eq!(hours.exceptions().len(), 4);
        let again = HoursForm::of(&hours, day("2029-01-01"));
        assert_eq!(again.rules[0].days[0], "09:00-12:00, 14:00-17:30");
        assert_eq!(again.rules[0].gap, "0");
        assert_eq!(again.days_off, "2030-12-24\n2030-12-31");
        assert_eq!(again.extra_hours, "2030-03-09 14:00-18:00 20");
        assert_eq!(again.read().unwrap(), hours);
    }

    #[test]
    fn a_rule_with_no_hours_on_any_day_is_left_out_whatever_else_it_holds() {
        let form = HoursForm::from_fields(&fields(&[("rules", "1"), ("r0-slot", "x")]));
        assert!(form.read().unwrap().is_empty());
    }

    #[test]
    fn each_wrong_field_is_named_with_the_interval_or_line_at_fault() {
        let form = HoursForm::from_fields(&fields(&[
            ("rules", "1"),
            ("r0-mon", "09:00-12:00, 12:00-09:00"),
            ("r0-tue", "09:00-12:00, 11:00-13:00"),
            ("r0-wed", "nine to five"),
            ("r0-slot", "2"),
            ("r0-gap", "-1"),
            ("r0-from", "2030-02-01"),
            ("r0-until", "2030-01-01"),
            ("days-off", "2030-12-24\n24/12/2030"),
            ("time-off", "2030-12-24 10:00-09:00"),
            ("extra-hours", "2030-12-27 14:00-18:00 1"),
        ]));
        let errors = form.read().unwrap_err();
        let at = |field: &str| errors.get(field).unwrap_or_else(|| panic!("{field}"));
        assert!(at("r0-mon").contains("“12:00-09:00”"), "{}", at("r0-mon"));
        assert!(at("r0-tue").contains("overlap"), "{}", at("r0-tue"));
        assert!(at("r0-wed").contains("09:00-12:00"), "{}", at("r0-wed"));
        assert!(at("r0-slot").contains("from 5 to 720"));
        assert!(at("r0-gap").contains("from 0 to 1440"));
        assert!(at("r0-until").contains("not be before"));
        assert!(errors.get("r0-from").is_none());
        assert!(
            at("days-off").starts_with("Line 2 (“24/12/2030”)"),
            "{}",
            at("days-off")
        );
        assert!(at("time-off").contains("later than the start"));
        assert!(at("extra-hours").contains("from 5 to 720"));
    }

    #[test]
    fn the_number_of_rules_is_kept_within_one_to_the_most_allowed() {
        let form = HoursForm::from_fields(&fields(&[("rules", "999")]));
        assert_eq!(form.rules.len(), MAX_RULES);
        let mut form = HoursForm::from_fields(&fields(&[("rules", "nope")]));
        assert_eq!(form.rules.len(), 1);
        assert!(form.add_rule(day("2030-01-01")));
        assert_eq!(form.rules[1].from, "2030-01-01");
        form.rules.resize(MAX_RULES, RuleForm::default());
        assert!(!form.add_rule(day("2030-01-01")));
    }

    #[test]
    fn many_bad_lines_name_the_first_few_and_count_the_rest() {
        let form = HoursForm {
            rules: Vec::new(),
            days_off: "a\nb\nc\nd\ne".to_owned(),
            ..HoursForm::default()
        };
        let errors = form.read().unwrap_err();
        let message = errors.get("days-off").unwrap();
        assert!(message.contains("line 3") && !message.contains("line 4"));
        assert!(message.ends_with("And 2 more."), "{message}");
    }
}
