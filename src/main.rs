//! The `bouncer` binary: parse the command line, set up logging, hand over.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = bouncer::cli::Cli::parse();
    bouncer::telemetry::init();
    match bouncer::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole cause chain on one line.
            eprintln!("bouncer: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
