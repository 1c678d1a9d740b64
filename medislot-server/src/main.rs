//! The `medislot-server` binary: parses the command line and runs the chosen command.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser;
use medislot_server::config::{Cli, Command};
use medislot_server::{backup, serve};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: a request allocates and frees many small buffers
/// (headers, JSON, rows), and the slot-rush benchmark's HTTP phase served 16-23% more requests
/// per CPU second with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cli.settings.log))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to standard error, so that a command's own output (create-admin) stays clean;
    // colours only on a terminal (and never with NO_COLOR), so log files stay plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();

    let result = match cli.command {
        None | Some(Command::Serve) => serve::serve(cli.settings).await,
        Some(Command::CreateAdmin(args)) => serve::create_admin(cli.settings, args).await,
        Some(Command::Backup(args)) => backup::back_up(&cli.settings, &args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The whole chain of causes: "cannot open the store: unavailable: connection refused".
            let mut message = err.to_string();
            let mut source = err.source();
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            eprintln!("medislot-server: {message}");
            ExitCode::FAILURE
        }
    }
}
