//! Start-up and shutdown: open the store, bootstrap an admin, start the sweeper, listen, and
//! on SIGINT or SIGTERM stop accepting, let in-flight requests finish, then exit.

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Listener, TcpListener};
use poem::Server;

use crate::accounts::{ensure_admin, AdminOutcome};
use crate::auth::Passwords;
use crate::config::{CreateAdmin, Settings};
use crate::metrics::metrics_app;
use crate::state::AppState;
use crate::{app, delivery, stores, sweeper};

/// A start-up failure, reported to the operator.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// Runs the server until a shutdown signal.
///
/// # Errors
/// When the store cannot be opened, the settings are unusable, or the address cannot be bound.
pub async fn serve(settings: Settings) -> Result<(), StartError> {
    let mut outlets: Vec<Arc<dyn delivery::Outlet>> = Vec::new();
    if let Some(webhooks) = settings.webhooks()? {
        tracing::info!(?webhooks, "delivering messages to webhooks");
        outlets.push(Arc::new(webhooks));
    }
    if let Some(mailer) = settings.mailer()? {
        tracing::info!(?mailer, "emailing messages to patients");
        outlets.push(Arc::new(mailer));
    }
    if let Some(broker) = settings.broker().await? {
        tracing::info!(?broker, "publishing messages to NATS JetStream");
        outlets.push(Arc::new(broker));
    }
    if outlets.is_empty() {
        tracing::info!(
            "no delivery channel configured: messages stay in the outbox (the admin's /admin/outbox page)"
        );
    }
    let stores = stores::open_with_replica(&settings.store_url(), settings.replica_url()).await?;
    let description = stores.description.clone();
    if !settings.has_session_secret() {
        tracing::warn!(
            "no MEDISLOT_SESSION_SECRET given: using a random key, so sessions end when the server restarts"
        );
    }
    let mut config = settings.app_config();
    config.delivered_channels = outlets.iter().map(|outlet| outlet.channel()).collect();
    let state = AppState::new(stores, config)?;

    match (&settings.admin_email, &settings.admin_password) {
        (Some(email), Some(password)) => {
            let (account, outcome) = ensure_admin(
                state.accounts(),
                state.passwords(),
                email,
                password,
                state.engine().now(),
            )
            .await
            .map_err(|p| format!("bootstrapping the admin failed: {}", p.detail()))?;
            tracing::info!(admin = %account.email, ?outcome, "admin account ready");
        }
        (Some(_), None) | (None, Some(_)) => tracing::warn!(
            "set both MEDISLOT_ADMIN_EMAIL and MEDISLOT_ADMIN_PASSWORD to bootstrap an admin"
        ),
        (None, None) => {}
    }

    // Bound before anything is served, so that a busy metrics address stops the start-up.
    let metrics = match settings.metrics_listen {
        Some(address) => {
            let acceptor = TcpListener::bind(address)
                .into_acceptor()
                .await
                .map_err(|err| format!("cannot listen for metrics on {address}: {err}"))?;
            tracing::info!("metrics served on http://{address}/metrics");
            let metrics = metrics_app(state.clone());
            Some(tokio::spawn(async move {
                if let Err(err) = Server::new_with_acceptor(acceptor).run(metrics).await {
                    tracing::error!(error = %err, "the metrics listener stopped");
                }
            }))
        }
        None => {
            if settings.metrics_token.is_none() {
                tracing::info!(
                    "no metrics served: set --metrics-listen or --metrics-token to serve /metrics"
                );
            }
            None
        }
    };
    let sweeper = sweeper::spawn(
        state.clone(),
        Duration::from_secs(settings.sweep_interval_secs.max(1)),
    );
    let delivery: Vec<_> = outlets
        .into_iter()
        .map(|outlet| {
            delivery::spawn(
                state.clone(),
                outlet,
                Duration::from_secs(settings.delivery_interval_secs.max(1)),
                settings.delivery_lease(),
            )
        })
        .collect();
    let listener = TcpListener::bind(settings.listen);
    tracing::info!(
        "MediSlot listening on http://{} (web pages at /, API docs at /docs); the data is {}",
        settings.listen,
        description
    );
    let result = Server::new(listener)
        .run_with_graceful_shutdown(
            app(state),
            shutdown_signal(),
            Some(Duration::from_secs(settings.shutdown_grace_secs)),
        )
        .await;
    sweeper.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    for worker in delivery {
        worker.abort();
    }
    tracing::info!("MediSlot stopped");
    Ok(result?)
}

/// `create-admin`: creates or promotes an admin in the configured store.
///
/// # Errors
/// When no password is given, the store cannot be opened, or the email or password is refused.
pub async fn create_admin(settings: Settings, args: CreateAdmin) -> Result<(), StartError> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        settings.admin_password.clone().ok_or(
            "give the password on standard input with --password-stdin, or in MEDISLOT_ADMIN_PASSWORD",
        )?
    };
    let stores = stores::open_with_replica(&settings.store_url(), settings.replica_url()).await?;
    let passwords = Passwords::owasp();
    let (account, outcome) = ensure_admin(
        &*stores.accounts,
        &passwords,
        &args.email,
        &password,
        chrono::Utc::now(),
    )
    .await
    .map_err(|p| p.detail().to_owned())?;
    let verb = match outcome {
        AdminOutcome::Created => "created",
        AdminOutcome::Promoted => "promoted",
    };
    println!(
        "admin {} {verb}; the data is {}",
        account.email, stores.description
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
}
