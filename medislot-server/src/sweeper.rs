//! Background housekeeping: tidies the stored statuses of lapsed holds and ended buffers
//! (readers already see them correctly without it), forgets logouts past their expiry (in the
//! store) and idle rate-limit entries.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::state::AppState;

/// Runs the sweep every `every` until the task is aborted.
pub fn spawn(state: AppState, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            sweep(&state).await;
        }
    })
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
