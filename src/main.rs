//! The `trailwatch` command line: parses arguments, runs one command, maps errors to exit codes
//! (0 ran, 1 input or runtime failure, 2 bad rules or usage).

use std::process::ExitCode;

use clap::Parser;

use trailwatch::cmd::{self, Cli};

extern "C" {
    fn signal(sig: i32, handler: usize) -> usize;
    fn umask(mask: u32) -> u32;
}

fn main() -> ExitCode {
    // A write past a file-size limit must fail with an error trailwatch reports (and recovers
    // from), not kill the process: SIGXFSZ (25 on Linux) is ignored.
    const SIGXFSZ: i32 = 25;
    const SIG_IGN: usize = 1;
    unsafe { signal(SIGXFSZ, SIG_IGN) };
    // What trailwatch writes (the state holds whole CloudTrail records, the configuration
    // may hold secrets) is its user's alone, however it was started: files 0600, folders 0700.
    unsafe { umask(0o077) };
    let cli = Cli::parse();
    // `trailwatch state show | head`: a reader that stops early ends a command quietly, as it
    // ends `cat`, instead of a panic on the next print. The daemon keeps Rust's default (the
    // signal ignored): a console sink whose reader went away is an error it reports.
    if !cli.command.is_daemon() {
        const SIGPIPE: i32 = 13;
        const SIG_DFL: usize = 0;
        unsafe { signal(SIGPIPE, SIG_DFL) };
    }
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("trailwatch: {e:#}");
            ExitCode::from(e.exit_code())
        }
    }
}
