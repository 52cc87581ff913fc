//! `trailwatch state show` and `trailwatch state reset`: look into and rewind the state
//! database (the daemon must not be running on it: sled allows one process).

use std::process::ExitCode;

use clap::Subcommand;
use jiff::Timestamp;

use super::common::{CmdError, ConfigArg};
use crate::state::State;

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print watermarks (and how far behind now they are), remembered alerts, outbox depth and
    /// dead letters.
    Show {
        #[command(flatten)]
        config: ConfigArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back in the outbox, to be sent again by the next `run` (after the cause
    /// was fixed: a rotated webhook URL, a new SMTP password). Their age starts over.
    Redrive {
        #[command(flatten)]
        config: ConfigArg,
        /// Only the dead letters of this sink.
        #[arg(long, value_name = "NAME")]
        sink: Option<String>,
        /// Confirm (required).
        #[arg(long)]
        yes: bool,
    },
    /// Forget watermarks and read files, so the next run reads again from `overlap` before now
    /// (or re-reads a files folder). Alerts already raised stay remembered and are not sent again.
    Reset {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this source.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Confirm the reset (required).
        #[arg(long)]
        yes: bool,
    },
}

pub(super) fn run(c: StateCommand) -> Result<ExitCode, CmdError> {
    match c {
        StateCommand::Show { config, json } => show(&config, json),
        StateCommand::Reset {
            config,
            source,
            yes,
        } => reset(&config, source, yes),
        StateCommand::Redrive { config, sink, yes } => redrive(&config, sink, yes),
    }
}

fn redrive(config: &ConfigArg, sink: Option<String>, yes: bool) -> Result<ExitCode, CmdError> {
    let s = config.load()?;
    if let Some(n) = &sink {
        if !s.sinks.iter().any(|k| &k.name == n) {
            return Err(CmdError::usage(anyhow::anyhow!("no sink named '{n}'")));
        }
    }
    let st = State::open(&s.state_dir).map_err(CmdError::failure)?;
    let waiting = st
        .dead_letters()
        .map_err(CmdError::failure)?
        .iter()
        .filter(|(_, e)| sink.as_ref().is_none_or(|k| e.pending.contains(k)))
        .count();
    if !yes {
        return Err(CmdError::usage(anyhow::anyhow!(
            "this puts {waiting} dead letters back in the outbox (they are sent by the next `run`): add --yes to confirm"
        )));
    }
    let n = st.redrive(sink.as_deref()).map_err(CmdError::failure)?;
    println!("redrive: {n} dead letters back in the outbox; the next `run` sends them");
    Ok(ExitCode::SUCCESS)
}

fn show(config: &ConfigArg, json: bool) -> Result<ExitCode, CmdError> {
    let s = config.load()?;
    let st = State::open(&s.state_dir).map_err(CmdError::failure)?;
    let marks = st.watermarks().map_err(CmdError::failure)?;
    let dead = st.dead_letters().map_err(CmdError::failure)?;
    let aside = st.all_aside().map_err(CmdError::failure)?;
    let now = Timestamp::now();
    if json {
        let v = serde_json::json!({
            "state_dir": s.state_dir,
            "watermarks": marks,
            "set_aside": aside,
            "raised": st.raised_len(),
            "outbox": st.outbox_len(),
            "dead_letters": dead.len(),
            "files_read": s.sources.iter().map(|x| (x.name.clone(), st.files_read(&x.name))).collect::<std::collections::BTreeMap<_, _>>(),
        });
        println!("{v:#}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("state: {}", s.state_dir.display());
    if marks.is_empty() {
        println!("watermarks: none yet (the first poll reads `overlap` behind now)");
    }
    for m in &marks {
        let lag = now.duration_since(m.watermark);
        println!(
            "watermark {}/{}: {} ({}s behind now)",
            m.source,
            m.stream,
            m.watermark,
            lag.as_secs()
        );
    }
    for x in &s.sources {
        let n = st.files_read(&x.name);
        if n > 0 {
            println!("files read by '{}': {n}", x.name);
        }
    }
    if !aside.is_empty() {
        println!("objects that could not be read, set aside: {}", aside.len());
    }
    for a in &aside {
        println!(
            "  {}/{}: {} — {} (since {}, {} tries, next at {})",
            a.source, a.stream, a.key, a.error, a.since, a.tries, a.next_try
        );
    }
    println!("alerts remembered (event ID + rule): {}", st.raised_len());
    println!("outbox: {} waiting", st.outbox_len());
    println!("dead letters: {}", dead.len());
    for (_, e) in dead.iter().take(20) {
        println!(
            "  {} {} {}: {}",
            e.alert.event_time,
            e.alert.rule,
            e.alert.event_id,
            e.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn reset(config: &ConfigArg, source: Option<String>, yes: bool) -> Result<ExitCode, CmdError> {
    let s = config.load()?;
    if let Some(n) = &source {
        if !s.sources.iter().any(|x| &x.name == n) {
            return Err(CmdError::usage(anyhow::anyhow!("no source named '{n}'")));
        }
    }
    if !yes {
        return Err(CmdError::usage(anyhow::anyhow!(
            "this rewinds {}: add --yes to confirm",
            source
                .as_deref()
                .map_or("every source".to_string(), |n| format!("source '{n}'"))
        )));
    }
    let st = State::open(&s.state_dir).map_err(CmdError::failure)?;
    let n = st.reset(source.as_deref()).map_err(CmdError::failure)?;
    println!("reset: {n} entries forgotten");
    Ok(ExitCode::SUCCESS)
}
