//! The `trailwatch` command line: parses arguments, runs one command, maps errors to exit codes
//! (0 ran, 1 input or runtime failure, 2 bad rules or usage).

use std::process::ExitCode;

use clap::Parser;

use trailwatch::cmd::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("trailwatch: {e:#}");
            ExitCode::from(e.exit_code())
        }
    }
}
