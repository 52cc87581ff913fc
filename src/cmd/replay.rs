//! `trailwatch rules replay`: the rules (the configuration's, or packs and files to try) over a
//! past window of the configured sources, as a backfill reads it, with the exceptions, the
//! silences in force and shadow modes applied; nothing is delivered or written. It answers
//! "what would this rule have cost us last month?" before a rule goes live.

use std::process::ExitCode;

use clap::Args;
use jiff::Timestamp;

use super::common::{ask_state, CmdError, ConfigArg};
use super::noise::Noise;
use crate::config::Config;
use crate::control::{Answer, Request};
use crate::poll::Judge;
use crate::rules::RuleSet;
use crate::settings::Settings;
use crate::state::Silence;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Rules to try instead of the configuration's: built-in packs or rules files
    /// (comma-separated or repeated), with the configuration's [vars].
    #[arg(long = "rules", value_name = "PACK_OR_FILE", value_delimiter = ',')]
    pub rules: Vec<String>,
    /// Start of the window: a duration back from now (30d) or a time.
    #[arg(long, value_name = "WHEN")]
    pub since: String,
    /// End of the window (default: now).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only this source (repeatable; default: every source).
    #[arg(long = "source", value_name = "NAME", value_hint = clap::ValueHint::Other)]
    pub sources: Vec<String>,
    /// One JSON object per rule.
    #[arg(long)]
    pub json: bool,
    /// Also build first-seen rules' history from the window: their sightings are recorded in
    /// the state (the daemon must not be running on it), and their matches are not counted.
    #[arg(long)]
    pub learn: bool,
}

/// The configuration's variables with the rules of `specs` instead of its own.
fn rules_to_try(s: &Settings, specs: &[String]) -> Result<RuleSet, CmdError> {
    let (mut cfg, src) = Config::load(&s.path).map_err(CmdError::usage)?;
    cfg.rule_packs = Some(Vec::new());
    cfg.rules.clear();
    let mut set = RuleSet::default();
    set.add_config(&cfg, &src).map_err(CmdError::usage)?;
    for spec in specs {
        set.add_spec(spec).map_err(CmdError::usage)?;
    }
    Ok(set)
}

/// The silences in force now (none when the state cannot be asked: said).
fn silences(s: &Settings, now: Timestamp) -> Vec<Silence> {
    match ask_state(s, &Request::Silences) {
        Ok(Answer::Silences { silences }) => {
            silences.into_iter().filter(|x| x.until() > now).collect()
        }
        Ok(_) => Vec::new(),
        Err(e) => {
            eprintln!("replay: silences not applied: {e}");
            Vec::new()
        }
    }
}

pub(super) fn run(a: ReplayArgs) -> Result<ExitCode, CmdError> {
    let mut s = a.config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    if !a.rules.is_empty() {
        s.rules = rules_to_try(&s, &a.rules)?;
    }
    let window = super::common::window(&a.since, a.until.as_deref())?;
    let (alerts, read) = super::backfill::collect(&s, window, &a.sources, a.learn)?;
    let now = Timestamp::now();
    let silences = silences(&s, now);
    let judge = Judge {
        eval: s.evaluator(),
        router: s.router(),
        wake: None,
    };
    let mut noise = Noise::default();
    // Each exception of each rule, and how many alerts it removed.
    let mut excepted: Vec<(String, String, u64)> = Vec::new();
    for r in s.rules.enabled() {
        for x in &r.exceptions {
            excepted.push((r.name.clone(), x.reason.clone(), 0));
        }
    }
    // One message per event, whatever number of rules it matched.
    let mut messages = std::collections::HashSet::new();
    for al in &alerts {
        let status = judge.quiet(al, &silences, now);
        if status.is_none() {
            messages.insert(al.event_id.as_str());
        }
        noise.add(al, status.as_ref().map_or("alert", |st| st.word()));
        if let Some(crate::state::Status::Excepted { reason }) = &status {
            if let Some(e) = excepted
                .iter_mut()
                .find(|(rule, why, _)| *rule == al.rule && why == reason)
            {
                e.2 += 1;
            }
        }
    }
    if a.json {
        print!("{}", noise.json());
        return Ok(ExitCode::SUCCESS);
    }
    let second = |t: jiff::Timestamp| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    println!(
        "replay from {} to {}: {} records read, {} matches: {} would alert ({} messages: one per event, whatever the rules it matched), {} excepted, {} silenced, {} shadow (nothing was sent)\n",
        second(window.0),
        second(window.1),
        read.records,
        noise.total(),
        noise.with_status("alert"),
        messages.len(),
        noise.with_status("excepted"),
        noise.with_status("silenced"),
        noise.with_status("shadow")
    );
    if noise.total() > 0 {
        print!(
            "{}",
            noise.table(&["alert", "excepted", "silenced", "shadow"])
        );
    }
    for (rule, why, n) in &excepted {
        if *n == 0 {
            println!(
                "warning: an exception of rule '{rule}' matched nothing in this window: {why}"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
