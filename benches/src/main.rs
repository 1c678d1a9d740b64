//! `medislot-benches`: runs the slot-rush benchmark, prints its table, writes JSON and Markdown
//! under `target/bench-results/`, and exits non-zero when the invariant failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use medislot_benches::Options;

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

/// `$CARGO_TARGET_DIR/bench-results`, or the workspace's `target/bench-results`.
fn default_out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("bench-results")
}
