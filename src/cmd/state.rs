//! `trailwatch state show` and `trailwatch state reset`: look into and rewind the state
//! database (the daemon must not be running on it: sled allows one process); `state init` and
//! `state migrate`: set up a state several instances share (DynamoDB).

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
        #[arg(long, value_name = "NAME", value_hint = clap::ValueHint::Other)]
        sink: Option<String>,
        /// Confirm (required).
        #[arg(long)]
        yes: bool,
    },
    /// Create the DynamoDB table of `[state] backend = "dynamodb"` (on-demand capacity; keys
    /// t: string, k: binary), and wait until it can be used. Nothing happens if it exists.
    Init {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Copy this host's state (sled, in state_dir) into the empty DynamoDB table of `[state]`,
    /// so that instances continue where it stopped: nothing read or sent again. Stop the daemon
    /// first; afterwards state_dir is the table's local cache.
    Migrate {
        #[command(flatten)]
        config: ConfigArg,
        /// The backend the state is in now: sled.
        #[arg(long, value_name = "BACKEND", value_parser = ["sled"])]
        from: String,
        /// The backend it goes to: dynamodb (the `[state]` table of the configuration).
        #[arg(long, value_name = "BACKEND", value_parser = ["dynamodb"])]
        to: String,
    },
    /// Forget watermarks and read files, so the next run reads again from `overlap` before now
    /// (or re-reads a files folder). Alerts already raised stay remembered and are not sent again.
    Reset {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this source.
        #[arg(long, value_name = "NAME", value_hint = clap::ValueHint::Other)]
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
        StateCommand::Init { config } => init(&config),
        StateCommand::Migrate { config, .. } => migrate(&config),
    }
}

/// The shared state the configuration names, or why there is none.
fn shared_of(
    s: &crate::settings::Settings,
) -> Result<crate::instances::config::InstancesConfig, CmdError> {
    s.instances.clone().ok_or_else(|| {
        CmdError::usage(anyhow::anyhow!(
            "{} keeps its state in {} (sled): add [state] backend = \"dynamodb\", region = \"…\" (and table = \"…\", default trailwatch) for a state several instances share",
            s.path.display(),
            s.state_dir.display()
        ))
    })
}

fn init(config: &ConfigArg) -> Result<ExitCode, CmdError> {
    let s = config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    let cfg = shared_of(&s)?;
    let (created, what) = crate::instances::setup::init(&cfg).map_err(CmdError::failure)?;
    match created {
        true => println!(
            "created {what}; instances of {} can start",
            s.path.display()
        ),
        false => println!("{what} exists already: nothing changed"),
    }
    Ok(ExitCode::SUCCESS)
}

fn migrate(config: &ConfigArg) -> Result<ExitCode, CmdError> {
    let s = config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    let cfg = shared_of(&s)?;
    let m =
        crate::instances::setup::migrate(&cfg, &s.state_dir, &s.path).map_err(CmdError::failure)?;
    println!(
        "copied {} entries from {} into {}; {} is now its local cache, and instances continue from the table",
        m.items,
        s.state_dir.display(),
        m.table,
        s.state_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuses a change the shared state cannot take from a command yet.
fn not_shared(s: &crate::settings::Settings, what: &str) -> Result<(), CmdError> {
    match &s.instances {
        Some(cfg) => Err(CmdError::usage(anyhow::anyhow!(
            "state {what} works on a state of one host; this configuration's state is shared (DynamoDB table {}), which `state {what}` cannot change yet",
            cfg.table
        ))),
        None => Ok(()),
    }
}

fn redrive(config: &ConfigArg, sink: Option<String>, yes: bool) -> Result<ExitCode, CmdError> {
    let s = config.load()?;
    if let Some(n) = &sink {
        if !s.sinks.iter().any(|k| &k.name == n) {
            return Err(CmdError::usage(anyhow::anyhow!("no sink named '{n}'")));
        }
    }
    if s.instances.is_some() {
        return redrive_shared(&s, sink, yes);
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

/// Redrive on a shared state: made by the instance that holds the lease, asked from any host.
fn redrive_shared(
    s: &crate::settings::Settings,
    sink: Option<String>,
    yes: bool,
) -> Result<ExitCode, CmdError> {
    if !yes {
        return Err(CmdError::usage(anyhow::anyhow!(
            "this puts the dead letters{} back in the outbox of the shared state (the instance that holds the lease sends them): add --yes to confirm",
            sink.as_deref().map(|k| format!(" of sink '{k}'")).unwrap_or_default()
        )));
    }
    let req = crate::control::Request::Redrive { sink };
    match super::common::ask_state(s, &req).map_err(CmdError::failure)? {
        crate::control::Answer::Redriven { count } => {
            println!("redrive: {count} dead letters back in the outbox; the instance that holds the lease sends them");
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(CmdError::failure(anyhow::anyhow!(
            "an unexpected answer to redrive"
        ))),
    }
}

fn show(config: &ConfigArg, json: bool) -> Result<ExitCode, CmdError> {
    let s = config.load()?;
    // A shared state is read from its table, from any host.
    let snap = match &s.instances {
        Some(cfg) => Some(crate::instances::setup::snapshot(cfg).map_err(CmdError::failure)?),
        None => None,
    };
    let dir = snap.as_ref().map_or(s.state_dir.clone(), |x| x.dir.clone());
    let where_ = match &s.instances {
        Some(cfg) => format!("DynamoDB table {} in {} (read now)", cfg.table, cfg.region),
        None => s.state_dir.display().to_string(),
    };
    let st = State::open(&dir).map_err(CmdError::failure)?;
    let marks = st.watermarks().map_err(CmdError::failure)?;
    let dead = st.dead_letters().map_err(CmdError::failure)?;
    let aside = st.all_aside().map_err(CmdError::failure)?;
    let now = Timestamp::now();
    if json {
        let v = serde_json::json!({
            "state_dir": s.state_dir,
            "state": where_,
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
    println!("state: {where_}");
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
    not_shared(&s, "reset")?;
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
