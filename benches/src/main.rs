//! `medislot-benches`: runs the slot-rush benchmark, prints its table, writes JSON and Markdown
//! under `target/bench-results/`, and exits non-zero when the invariant failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use medislot_benches::Options;

/// The allocator `medislot-server` runs with, since the benchmark runs the server's
/// application in this process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=error,medislot_server=warn,poem=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    if !options.preload_slots.is_empty() {
        return growth(&runtime, &options);
    }
    let report = match runtime.block_on(medislot_benches::run(&options)) {
        Ok(report) => report,
        Err(e) => {
            tracing::error!(error = %e, "the benchmark could not run");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report.table());
    if !options.no_files {
        let dir = options.out_dir.clone().unwrap_or_else(default_out_dir);
        match report.write(&dir) {
            Ok([json, md]) => {
                tracing::info!(json = %json.display(), markdown = %md.display(), "results written");
            }
            Err(e) => tracing::error!(error = %e, "could not write the results"),
        }
    }
    if report.holds() {
        ExitCode::SUCCESS
    } else {
        tracing::error!("INVARIANT VIOLATED: a slot was booked twice or a success was lost");
        ExitCode::from(2)
    }
}

/// The growth table: printed, and written as Markdown and JSON beside the rush's results.
fn growth(runtime: &tokio::runtime::Runtime, options: &Options) -> ExitCode {
    let report = match runtime.block_on(medislot_benches::growth(options)) {
        Ok(report) => report,
        Err(e) => {
            tracing::error!(error = %e, "the growth table could not be measured");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report.table());
    if !options.no_files {
        let dir = options.out_dir.clone().unwrap_or_else(default_out_dir);
        let stem = format!(
            "{}-growth-{:?}",
            report.started_at.format("%Y%m%dT%H%M%SZ"),
            report.store
        )
        .to_lowercase();
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join(format!("{stem}.md")), report.table()))
            .and_then(|()| {
                let json = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
                std::fs::write(dir.join(format!("{stem}.json")), json)
            });
        match written {
            Ok(()) => tracing::info!(dir = %dir.display(), stem, "growth table written"),
            Err(e) => tracing::error!(error = %e, "could not write the growth table"),
        }
    }
    ExitCode::SUCCESS
}

/// `$CARGO_TARGET_DIR/bench-results`, or the workspace's `target/bench-results`.
fn default_out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("bench-results")
}
