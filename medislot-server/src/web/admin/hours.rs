//! A doctor's working hours and time off, edited in one form (`hours_form.rs`) with two
//! buttons: **Preview** asks the engine what saving would do (`preview_hours`) and **Save**
//! does it (`save_hours`); both answer with the same outcome: the slots created and
//! withdrawn, day by day, the booked ones now outside the hours (each linking to its booking),
//! the ones that clash with those, and how many exist already.
//!
//! The form answers with its page rather than a redirect, as the day form's preview does: the
//! outcome is what the admin asked to see, and saving the same hours again changes nothing.

use askama::Template;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use medislot_core::{Doctor, HoursOutcome, Slot, SlotStatus, TimeRange};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};

use super::hours_form::{HoursForm, RuleForm, WEEKDAYS};
use super::parse_doctor_id;
use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::AppState;
use crate::web::page::{self, parse_form, respond, Errors, Flash, Layout, PageError};
use crate::web::time;

/// One input as the template shows it: its id (also its name), label, value, and the ids
/// that describe it (a shared hint, its error).
#[derive(Debug)]
struct Field {
    id: String,
    label: String,
    value: String,
    error: Option<String>,
    /// The id of the hint this field shares (a rule's "how to write intervals").
    hint: Option<String>,
}

impl Field {
    fn new(id: String, label: &str, value: &str, errors: &Errors, hint: Option<&str>) -> Self {
        Self {
            error: errors.get(&id).map(str::to_owned),
            id,
            label: label.to_owned(),
            value: value.to_owned(),
            hint: hint.map(str::to_owned),
        }
    }

    /// `aria-describedby`: the hint, then the error; empty when neither.
    fn described_by(&self) -> String {
        let error = self.error.as_ref().map(|_| format!("{}-error", self.id));
        [self.hint.clone(), error]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One weekly rule's fieldset.
#[derive(Debug)]
struct RuleView {
    /// From 1, for the legend.
    n: usize,
    days: Vec<Field>,
    slot: Field,
    gap: Field,
    from: Field,
    until: Field,
    /// Focus its first field (the rule was just added).
    focus: bool,
}

impl RuleView {
    fn new(i: usize, rule: &RuleForm, errors: &Errors) -> Self {
        let hint = format!("r{i}-days-hint");
        let field = |key: &str, label: &str, value: &str, hint: Option<&str>| {
            Field::new(format!("r{i}-{key}"), label, value, errors, hint)
        };
        Self {
            n: i + 1,
            days: WEEKDAYS
                .iter()
                .zip(&rule.days)
                .map(|((key, label), value)| field(key, label, value, Some(&hint)))
                .collect(),
            slot: field("slot", "Slot length (minutes)", &rule.slot, None),
            gap: field("gap", "Gap between slots (minutes)", &rule.gap, None),
            from: field("from", "Valid from", &rule.from, None),
            until: field("until", "Valid until (optional)", &rule.until, None),
            focus: false,
        }
    }

    fn fields(&self) -> impl Iterator<Item = &Field> {
        self.days
            .iter()
            .chain([&self.slot, &self.gap, &self.from, &self.until])
    }
}

/// Consecutive slots of one day with one length, evenly spaced: "09:00–12:00: 6 slots of
/// 30 min".
#[derive(Debug)]
struct Run {
    first_start: DateTime<Utc>,
    length: Duration,
    last_start: DateTime<Utc>,
    count: usize,
    /// From one start to the next (zero while the run holds one slot).
    step: Duration,
}

impl Run {
    fn new(range: &TimeRange) -> Self {
        Self {
            first_start: range.starts_at(),
            length: range.ends_at() - range.starts_at(),
            last_start: range.starts_at(),
            count: 1,
            step: Duration::zero(),
        }
    }

    /// Adds `range` when it continues the run (same length, same spacing); `false` otherwise.
    fn extend(&mut self, range: &TimeRange) -> bool {
        let step = range.starts_at() - self.last_start;
        let fits = range.ends_at() - range.starts_at() == self.length
            && step >= self.length
            && (self.count == 1 || step == self.step);
        if fits {
            self.step = step;
            self.count += 1;
            self.last_start = range.starts_at();
        }
        fits
    }

    fn text(&self, tz: Tz) -> String {
        let clock = |at: DateTime<Utc>| at.with_timezone(&tz).format("%H:%M").to_string();
        let span = format!(
            "{}–{}",
            clock(self.first_start),
            clock(self.last_start + self.length)
        );
        if self.count == 1 {
            return span;
        }
        let gap = (self.step - self.length).num_minutes();
        let gap = if gap > 0 {
            format!(", {gap} min apart")
        } else {
            String::new()
        };
        format!(
            "{span}: {} slots of {} min{gap}",
            self.count,
            self.length.num_minutes()
        )
    }
}

/// One day's slots of a kind (created, withdrawn), as runs.
#[derive(Debug)]
struct DayLine {
    date: String,
    heading: String,
    count: usize,
    runs: Vec<String>,
}

/// Groups slots (in start order) by their day in `tz`, each day's into runs.
fn by_day(slots: &[Slot], tz: Tz) -> Vec<DayLine> {
    let mut days: Vec<(NaiveDate, Vec<Run>)> = Vec::new();
    for slot in slots {
        let range = &slot.range;
        let date = range.starts_at().with_timezone(&tz).date_naive();
        match days.last_mut() {
            Some((day, runs)) if *day == date => {
                if !runs.last_mut().is_some_and(|run| run.extend(range)) {
                    runs.push(Run::new(range));
                }
            }
            _ => days.push((date, vec![Run::new(range)])),
        }
    }
    days.into_iter()
        .map(|(date, runs)| DayLine {
            date: date.format("%Y-%m-%d").to_string(),
            heading: date.format("%a %-d %b %Y").to_string(),
            count: runs.iter().map(|r| r.count).sum(),
            runs: runs.iter().map(|r| r.text(tz)).collect(),
        })
        .collect()
}

/// A slot outside the hours that is kept because someone occupies it.
#[derive(Debug)]
struct OutsideLine {
    when: String,
    state: String,
    booking: String,
}

/// What saving did, or would do.
#[derive(Debug)]
struct OutcomeView {
    saved: bool,
    created: Vec<DayLine>,
    created_count: usize,
    withdrawn: Vec<DayLine>,
    withdrawn_count: usize,
    outside: Vec<OutsideLine>,
    clashing: Vec<String>,
    existing: usize,
}

impl OutcomeView {
    fn new(outcome: &HoursOutcome, saved: bool, tz: Tz, now: DateTime<Utc>) -> Self {
        Self {
            saved,
            created: by_day(&outcome.created, tz),
            created_count: outcome.created.len(),
            withdrawn: by_day(&outcome.withdrawn, tz),
            withdrawn_count: outcome.withdrawn.len(),
            outside: outcome
                .outside
                .iter()
                .map(|(slot, booking)| OutsideLine {
                    when: time::span(&slot.range, tz),
                    state: match SlotStatus::at(slot, Some(booking), now) {
                        SlotStatus::Available => "Free".to_owned(),
                        SlotStatus::Held { until } => {
                            format!("Held until {}", time::clock_zoned(until, tz))
                        }
                        SlotStatus::Booked => "Booked".to_owned(),
                        SlotStatus::Buffer { until } => {
                            format!("Buffer until {}", time::clock_zoned(until, tz))
                        }
                        SlotStatus::Started => "Started".to_owned(),
                    },
                    booking: booking.id.to_string(),
                })
                .collect(),
            clashing: outcome
                .clashing
                .iter()
                .map(|r: &TimeRange| time::span(r, tz))
                .collect(),
            existing: outcome.existing,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/hours.html")]
struct HoursPage {
    layout: Layout,
    doctor: Doctor,
    zone: String,
    weeks: u32,
    /// The last day slots are kept for, on the doctor's clock.
    horizon: String,
    rules: Vec<RuleView>,
    can_add_rule: bool,
    days_off: Field,
    time_off: Field,
    extra_hours: Field,
    /// Every error, in the form's order: the field's id and what to show.
    summary: Vec<(String, String)>,
    form_error: Option<String>,
    outcome: Option<OutcomeView>,
}

/// What the page shows besides the doctor: the form as typed, its errors, an outcome.
struct HoursView {
    form: HoursForm,
    errors: Errors,
    outcome: Option<OutcomeView>,
    /// Focus the last rule's first field (it was just added).
    focus_last_rule: bool,
}

/// What the form's button asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Preview,
    Save,
    AddRule,
}

impl Action {
    fn of(fields: &[(String, String)]) -> Self {
        match fields
            .iter()
            .find(|(n, _)| n == "action")
            .map(|(_, v)| v.as_str())
        {
            Some("save") => Action::Save,
            Some("add_rule") => Action::AddRule,
            // Enter in a field submits as the form's first button does: a preview.
            _ => Action::Preview,
        }
    }
}

/// Today on the doctor's clock.
fn today(doctor: &Doctor, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&doctor.timezone).date_naive()
}

/// `GET /admin/doctors/{id}/hours`: the doctor's stored hours in the form.
#[handler]
pub(crate) async fn hours_page(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let engine = state.engine();
            let doctor = engine.doctor(parse_doctor_id(&id)?).await?;
            let hours = engine.doctor_hours(doctor.id).await?;
            let view = HoursView {
                form: HoursForm::of(&hours, today(&doctor, engine.now())),
                errors: Errors::default(),
                outcome: None,
                focus_last_rule: false,
            };
            hours_page_with(state, &caller, doctor, view, StatusCode::OK, None)
        }
        .await,
    )
}

/// `POST /admin/doctors/{id}/hours`: previews the hours typed (`action=preview`), saves them
/// (`action=save`), or shows the form with one more rule (`action=add_rule`).
#[handler]
pub(crate) async fn change_hours(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let fields: Vec<(String, String)> = parse_form(&body)?;
            let engine = caller.engine(state);
            let doctor = engine.doctor(parse_doctor_id(&id)?).await?;
            let now = engine.now();
            let mut view = HoursView {
                form: HoursForm::from_fields(&fields),
                errors: Errors::default(),
                outcome: None,
                focus_last_rule: false,
            };
            let action = Action::of(&fields);
            if action == Action::AddRule {
                view.focus_last_rule = view.form.add_rule(today(&doctor, now));
                return hours_page_with(state, &caller, doctor, view, StatusCode::OK, None);
            }
            let hours = match view.form.read() {
                Ok(hours) => hours,
                Err(errors) => {
                    view.errors = errors;
                    let status = StatusCode::UNPROCESSABLE_ENTITY;
                    return hours_page_with(state, &caller, doctor, view, status, None);
                }
            };
            let weeks = state.config().horizon_weeks;
            let save = action == Action::Save;
            let outcome = match save {
                true => engine.save_hours(doctor.id, hours.clone(), weeks).await,
                false => engine.preview_hours(doctor.id, hours.clone(), weeks).await,
            };
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(err) => {
                    let problem = Problem::from(err);
                    if !problem.status().is_client_error() {
                        return Err(problem.into());
                    }
                    let status = problem.status();
                    // The detail may open by quoting the API's name of the field
                    // (`rules`): the form has no such field, so the words stand alone.
                    let detail = problem.detail();
                    let detail = match detail.strip_prefix('`').and_then(|d| d.split_once("` ")) {
                        Some((_, rest)) => rest,
                        None => detail,
                    };
                    view.errors.form = Some(page::sentence(detail));
                    return hours_page_with(state, &caller, doctor, view, status, None);
                }
            };
            let flash = save.then(|| {
                tracing::info!(
                    doctor = %doctor.id,
                    created = outcome.created.len(),
                    withdrawn = outcome.withdrawn.len(),
                    outside = outcome.outside.len(),
                    "working hours saved on the web"
                );
                // The form shows the hours as saved (rules without hours left out).
                view.form = HoursForm::of(&hours, today(&doctor, now));
                Flash::ok(format!(
                    "Working hours saved: {} slots created, {} withdrawn.",
                    outcome.created.len(),
                    outcome.withdrawn.len()
                ))
            });
            view.outcome = Some(OutcomeView::new(&outcome, save, doctor.timezone, now));
            hours_page_with(state, &caller, doctor, view, StatusCode::OK, flash)
        }
        .await,
    )
}

fn hours_page_with(
    state: &AppState,
    caller: &Caller,
    doctor: Doctor,
    view: HoursView,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, PageError> {
    let now = state.engine().now();
    let tz = doctor.timezone;
    let weeks = state.config().horizon_weeks;
    let errors = &view.errors;
    let mut rules: Vec<RuleView> = view
        .form
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| RuleView::new(i, rule, errors))
        .collect();
    if view.focus_last_rule {
        if let Some(rule) = rules.last_mut() {
            rule.focus = true;
        }
    }
    let days_off = Field::new(
        "days-off".to_owned(),
        "Days off",
        &view.form.days_off,
        errors,
        None,
    );
    let time_off = Field::new(
        "time-off".to_owned(),
        "Time off",
        &view.form.time_off,
        errors,
        None,
    );
    let extra_hours = Field::new(
        "extra-hours".to_owned(),
        "Extra hours",
        &view.form.extra_hours,
        errors,
        None,
    );
    let mut summary = Vec::new();
    for rule in &rules {
        for field in rule.fields() {
            if let Some(error) = &field.error {
                let label = field.label.trim_end_matches(" (optional)");
                summary.push((
                    field.id.clone(),
                    format!("Rule {}, {label}: {error}", rule.n),
                ));
            }
        }
    }
    for field in [&days_off, &time_off, &extra_hours] {
        if let Some(error) = &field.error {
            summary.push((field.id.clone(), format!("{}: {error}", field.label)));
        }
    }
    let horizon = (now + Duration::weeks(i64::from(weeks)))
        .with_timezone(&tz)
        .format("%a %-d %b %Y")
        .to_string();
    page::page(
        status,
        &HoursPage {
            layout: Layout::new(
                format!("{}: working hours", doctor.name),
                "doctors",
                Some(caller),
                tz,
            )
            .with_fixed_zone(format!("{}'s zone", doctor.name))
            .with_flash(flash),
            zone: time::zone_label(now, tz),
            weeks,
            horizon,
            can_add_rule: rules.len() < medislot_core::doctor_hours::MAX_RULES,
            rules,
            days_off,
            time_off,
            extra_hours,
            summary,
            form_error: view.errors.form.clone(),
            outcome: view.outcome,
            doctor,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use medislot_core::{DoctorId, SlotId};

    fn slot(start: &str, minutes: i64) -> Slot {
        let starts_at: DateTime<Utc> = start.parse().unwrap();
        Slot {
            id: SlotId::new(),
            doctor_id: DoctorId::new(),
            range: TimeRange::new(starts_at, starts_at + Duration::minutes(minutes)).unwrap(),
            created_at: starts_at,
        }
    }

    #[test]
    fn a_days_slots_read_as_runs_of_one_length_and_spacing() {
        let slots = [
            slot("2030-01-07T08:00:00Z", 30),
            slot("2030-01-07T08:30:00Z", 30),
            slot("2030-01-07T09:00:00Z", 30),
            slot("2030-01-07T13:00:00Z", 20),
            slot("2030-01-07T13:30:00Z", 20),
            slot("2030-01-07T15:00:00Z", 60),
            slot("2030-01-08T08:00:00Z", 30),
        ];
        let days = by_day(&slots, chrono_tz::Europe::Paris);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].heading, "Mon 7 Jan 2030");
        assert_eq!(days[0].count, 6);
        assert_eq!(
            days[0].runs,
            [
                "09:00–10:30: 3 slots of 30 min",
                "14:00–14:50: 2 slots of 20 min, 10 min apart",
                "16:00–17:00",
            ]
        );
        assert_eq!(days[1].runs, ["09:00–09:30"]);
    }

    #[test]
    fn a_described_field_names_its_hint_and_its_error() {
        let mut errors = Errors::default();
        errors.add("r0-mon", "Wrong.");
        let field = Field::new(
            "r0-mon".into(),
            "Monday",
            "x",
            &errors,
            Some("r0-days-hint"),
        );
        assert_eq!(field.described_by(), "r0-days-hint r0-mon-error");
        let field = Field::new("r0-tue".into(), "Tuesday", "", &errors, None);
        assert_eq!(field.described_by(), "");
    }
}
