//! The `herald` command line: run, demo, replay, inspect, route-test, check-config.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "One living chat message per CI/CD or ops story across an AWS organization"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode event files (JSON, JSON arrays or JSON Lines; `-` for stdin) and print one JSON
    /// object per event. Exits 2 if any input could not be decoded, after decoding the rest.
    Inspect {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect { files } => herald::cli::inspect::run(&files),
    }
}
