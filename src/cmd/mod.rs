//! The commands and their arguments. Each command lives in its own file; this one holds the
//! clap definitions and the error type that carries an exit code.

mod alerts;
mod backfill;
mod check;
mod common;
mod demo;
mod generate;
mod noise;
mod notify;
mod pattern;
mod progress;
mod replay;
mod rules;
mod run;
mod scan;
mod silence;
mod state;
mod verify;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

pub use self::common::CmdError;

/// Watches AWS CloudTrail for dangerous activity and alerts people within minutes.
///
/// Rules are written in the languages their users already know: CloudWatch Logs filter
/// patterns and EventBridge event patterns, with AWS's semantics, and Sigma rules, all pasted
/// unchanged.
#[derive(Debug, Parser)]
#[command(
    name = "trailwatch",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply rules to CloudTrail files, folders or stdin and print one JSON line per match.
    ///
    /// Reads S3 delivery files ({"Records":[...]}), the same gzipped (.json.gz), JSON Lines of
    /// records, single records, EventBridge events (the record is "detail"), and the output of
    /// `aws cloudtrail lookup-events`. Folders are read recursively (*.json, *.jsonl, *.ndjson,
    /// optionally .gz; digest files are skipped). Malformed records are reported on stderr with
    /// their location and skipped.
    ///
    /// Exit status: 0 when the scan ran (with or without matches), 1 when an input could not be
    /// read, 2 for invalid rules or usage.
    #[command(
        after_help = "Examples:\n  trailwatch scan ./cloudtrail/\n  trailwatch scan --rules cis,threats --rules my-rules.toml trail.jsonl.gz\n  aws s3 cp s3://bucket/AWSLogs/.../file.json.gz - \\\n    | trailwatch scan --filter '{ $.errorCode = \"AccessDenied*\" }'"
    )]
    Scan(scan::ScanArgs),
    /// Work with single patterns.
    #[command(subcommand)]
    Pattern(pattern::PatternCommand),
    /// Show rules.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Watch CloudTrail and send alerts: the daemon (systemd: systemd/trailwatch.service).
    ///
    /// Every source polls on its own schedule, re-reading `overlap` behind its watermark, and
    /// the delivery worker sends what the rules raise. SIGTERM/SIGINT stop cleanly; SIGHUP
    /// reloads the configuration (a broken one is rejected, the old one keeps running).
    #[command(
        after_help = "Examples:\n  trailwatch run --config /etc/trailwatch/config.toml\n  cargo run --release -- run --config examples/demo.toml"
    )]
    Run(run::RunArgs),
    /// Try trailwatch with nothing to set up: the example CloudTrail files built into it are
    /// written into a folder of their own and watched, and their alerts printed here (no AWS
    /// account needed). Ctrl-C stops it.
    #[command(
        after_help = "Examples:\n  trailwatch demo\n  trailwatch demo --once\n  trailwatch demo --dir ~/trailwatch-demo"
    )]
    Demo(demo::DemoArgs),
    /// Read a past window with the configured sources and rules; print (or send) the matches.
    ///
    /// Watermarks do not move. Without --notify nothing is written: the daemon may be running.
    #[command(
        after_help = "Examples:\n  trailwatch backfill --since 7d\n  trailwatch backfill --since 2026-11-20T00:00:00Z --until 2026-11-21T00:00:00Z \\\n    --source lookup --output table\n  trailwatch backfill --since 24h --notify"
    )]
    Backfill(backfill::BackfillArgs),
    /// Check a past window of the trail's bucket by CloudTrail's signed digests: every digest's
    /// signature and its link to the one before, every log file's hash, and the log files no
    /// digest lists. One line per finding; exit 1 when anything is found.
    Verify(verify::VerifyArgs),
    /// Validate the configuration, run the rules' tests and print the plan; --probe also tests
    /// AWS access and sinks.
    ///
    /// Exits 1 when `run` would refuse the configuration or a rule fails one of its tests;
    /// warns about rules that can never match (a variable they need is empty).
    Check(check::CheckArgs),
    /// Look into or rewind the state database.
    #[command(subcommand)]
    State(state::StateCommand),
    /// Send a labelled test alert through every sink (or one) and report what happened.
    NotifyTest(notify::NotifyArgs),
    /// Quiet a rule's alerts on some records for a while, without a reload.
    #[command(subcommand)]
    Silence(silence::SilenceCommand),
    /// The alert history: every alert of the last 90 days and what became of it.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// The noise of a week (or any window): alerts per rule and per principal, delivered,
    /// silenced, excepted, shadow; or, with --format html, the status page as one file.
    #[command(
        after_help = "Examples:\n  trailwatch report --since 7d\n  trailwatch report --since 30d --json\n  trailwatch report --since 7d --format html -o report.html\n  trailwatch report --since 7d --send"
    )]
    Report(alerts::ReportArgs),
    /// Print a shell completion script (the packages install them).
    #[command(
        after_help = "Examples:\n  trailwatch completions bash > /etc/bash_completion.d/trailwatch\n  trailwatch completions zsh > \"${fpath[1]}/_trailwatch\"\n  trailwatch completions fish > ~/.config/fish/completions/trailwatch.fish"
    )]
    Completions(generate::CompletionsArgs),
    /// Write the manual pages (roff), for the packages.
    #[command(hide = true)]
    Man(generate::ManArgs),
}

impl Command {
    /// True for the commands that run until stopped (a broken pipe must not kill them).
    pub fn is_daemon(&self) -> bool {
        matches!(self, Command::Run(_) | Command::Demo(_))
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode, CmdError> {
    match cli.command {
        Command::Scan(a) => scan::run(a),
        Command::Pattern(c) => pattern::run(c),
        Command::Rules(c) => rules::run(c),
        Command::Run(a) => run::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Backfill(a) => backfill::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Check(a) => check::run(a),
        Command::State(c) => state::run(c),
        Command::NotifyTest(a) => notify::run(a),
        Command::Silence(c) => silence::run(c),
        Command::Alerts(c) => alerts::run(c),
        Command::Report(a) => alerts::report(a),
        Command::Completions(a) => generate::completions(a, Cli::command()),
        Command::Man(a) => generate::man(a, Cli::command()),
    }
}
