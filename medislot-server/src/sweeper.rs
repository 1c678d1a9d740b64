//! Background housekeeping: rolls each doctor's working hours forward to the horizon, tidies
//! the stored statuses of lapsed holds and ended buffers (readers already see them correctly
//! without it), forgets logouts past their expiry (in the store) and idle rate-limit entries.

use std::time::Duration;

use medislot_core::DoctorFilter;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::state::AppState;

/// How often the sweeper rolls working hours forward: the horizon is counted in days, so once
/// an hour keeps it full; saving hours makes their slots at once, without waiting for this.
pub const EXTEND_EVERY: Duration = Duration::from_secs(60 * 60);

/// Runs the sweep every `every` until the task is aborted. The first sweep runs at once and
/// extends every doctor's hours to the horizon; later ones extend them every [`EXTEND_EVERY`].
pub fn spawn(state: AppState, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut extended: Option<Instant> = None;
        loop {
            ticks.tick().await;
            if extended.is_none_or(|at| at.elapsed() >= EXTEND_EVERY) {
                extend_hours(&state).await;
                extended = Some(Instant::now());
            }
            sweep(&state).await;
        }
    })
}

/// Extends every doctor's slots to the horizon from their saved working hours
/// ([`BookingEngine::extend_hours`](medislot_core::BookingEngine::extend_hours)): idempotent,
/// under each doctor's lock, so several instances sweeping at once create each slot once.
/// Answers how many slots were created.
pub async fn extend_hours(state: &AppState) -> usize {
    let engine = state.engine();
    let weeks = state.config().horizon_weeks;
    let doctors = match engine.doctors(&DoctorFilter::default()).await {
        Ok(doctors) => doctors,
        Err(err) => {
            tracing::warn!(error = %err, "listing doctors to extend their hours failed");
            return 0;
        }
    };
    let mut created = 0;
    for doctor in doctors {
        match engine.extend_hours(doctor.id, weeks).await {
            Ok(outcome) => created += outcome.created.len(),
            Err(err) => {
                tracing::warn!(doctor = %doctor.id, error = %err, "extending working hours failed");
            }
        }
    }
    if created > 0 {
        tracing::info!(created, weeks, "extended working hours to the horizon");
    }
    created
}

/// One sweep.
pub async fn sweep(state: &AppState) {
    match state.engine().release_expired().await {
        Ok(0) => {}
        Ok(changed) => tracing::debug!(changed, "released expired holds and buffers"),
        Err(err) => tracing::warn!(error = %err, "sweeping expired bookings failed"),
    }
    match state
        .accounts()
        .prune_revoked_sessions(state.engine().now())
        .await
    {
        Ok(0) => {}
        Ok(forgotten) => tracing::debug!(forgotten, "forgot logouts past their expiry"),
        Err(err) => tracing::warn!(error = %err, "pruning expired logouts failed"),
    }
    if let Err(err) = state.auth_limiter().forget_past(state.engine().now()).await {
        tracing::warn!(error = %err, "pruning past sign-in attempt counts failed");
    }
}
