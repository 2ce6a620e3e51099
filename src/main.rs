//! The `bouncer` binary: parse the command line, hand over (`cli::run`
//! reads the settings and sets up logging as they say).

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = bouncer::cli::Cli::parse();
    match bouncer::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole cause chain on one line.
            eprintln!("bouncer: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
