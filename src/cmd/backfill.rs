//! `trailwatch backfill`: the daemon's reading and rules over a fixed past window
//! (`poll::past`), printed as `scan` prints (or as a table), without moving any watermark. With
//! `--notify` the alerts go through the outbox, deduplicated against every alert already
//! raised, and are delivered.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use jiff::Timestamp;

use super::common::{window, CmdError, ConfigArg};
use super::progress::Bars;
use crate::alert::Alert;
use crate::delivery::Deliverer;
use crate::poll::past::{learn, Judged, Objects, Past};
use crate::poll::{raise_all, Found, Judge, PollReport};
use crate::settings::Settings;
use crate::source::SourceSpec;
use crate::state::State;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    /// One JSON line per match, as `scan` prints.
    Json,
    /// An aligned table for reading.
    Table,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Start of the window: an RFC 3339 time (2026-11-20T09:00:00Z) or a duration back from
    /// now (90m, 7d).
    #[arg(long, value_name = "WHEN")]
    pub since: String,
    /// End of the window (default: now); same forms as --since.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only this source (repeatable; default: every source).
    #[arg(long = "source", value_name = "NAME", value_hint = clap::ValueHint::Other)]
    pub sources: Vec<String>,
    /// Send the alerts through the sinks (deduplicated against alerts already sent). Needs the
    /// state directory, so the daemon must not be running on it.
    #[arg(long)]
    pub notify: bool,
    #[arg(long, value_enum, default_value = "json")]
    pub output: Output,
    /// Print each source's read plan on stderr first.
    #[arg(long)]
    pub explain: bool,
    /// Build first-seen rules' history from the window: their sightings are recorded in the
    /// state (the daemon must not be running on it) and nothing of theirs is printed or sent,
    /// so that the daemon starts knowing what is usual (its learning already done).
    #[arg(long)]
    pub learn: bool,
}

/// The sources a backfill reads (`--source`, default: all).
fn chosen(s: &Settings, names: &[String]) -> Result<Vec<Arc<SourceSpec>>, CmdError> {
    if let Some(n) = names
        .iter()
        .find(|n| !s.sources.iter().any(|x| &x.name == *n))
    {
        let all: Vec<_> = s.sources.iter().map(|x| x.name.as_str()).collect();
        let all = all.join(", ");
        return Err(CmdError::usage(anyhow::anyhow!(
            "no source named '{n}' (sources: {all})"
        )));
    }
    let wanted = |x: &&Arc<SourceSpec>| names.is_empty() || names.contains(&x.name);
    Ok(s.sources.iter().filter(wanted).cloned().collect())
}

/// Where a backfill's matches go: the outbox (`--notify`), printed, or kept (`rules replay`).
enum To {
    Outbox,
    Print(Output),
    Keep(Vec<Alert>),
}

/// What a backfill's matches become, once each (event, rule).
struct Matches<'a> {
    s: &'a Settings,
    judge: Arc<Judge>,
    to: To,
    /// The state, with `--notify` or `--learn`.
    state: Option<State>,
    /// First-seen rules' sightings go into the state (`--learn`).
    learn: bool,
    /// Matches printed or kept, judged as the daemon would.
    judged: Judged,
    /// What was raised into the outbox.
    raised: PollReport,
}

impl Matches<'_> {
    fn take(&mut self, mut found: Found) -> Result<(), CmdError> {
        if let (true, Some(st)) = (self.learn, &self.state) {
            found.alerts = learn(&self.judge, st, std::mem::take(&mut found.alerts))?;
        }
        if let (To::Outbox, Some(st)) = (&self.to, &self.state) {
            let (rep, now) = (&mut self.raised, Timestamp::now());
            return raise_all(&self.judge, st, &mut found, now, rep).map_err(CmdError::failure);
        }
        let mut buf = Vec::new();
        for al in self.judged.judge(&self.judge.eval, found) {
            match &mut self.to {
                To::Keep(kept) => kept.push(al),
                To::Print(Output::Table) => crate::scan::write_row(&mut buf, &al),
                To::Print(Output::Json) => {
                    let rule = self.s.rules.get(&al.rule).expect("the rule exists");
                    crate::scan::write_alert(&mut buf, rule, &al, &al.source);
                }
                To::Outbox => unreachable!("raised above"),
            }
        }
        std::io::stdout()
            .lock()
            .write_all(&buf)
            .map_err(CmdError::failure)
    }
}

/// Reads `s`'s chosen sources over `window`; what matched goes `to`.
async fn read<'s>(
    s: &'s Settings,
    (since, until): (Timestamp, Timestamp),
    chosen: &[Arc<SourceSpec>],
    (to, state, learn): (To, Option<State>, bool),
) -> Result<(Past<'s>, Matches<'s>), CmdError> {
    let judge = Arc::new(Judge {
        eval: s.evaluator(),
        router: s.router(),
        wake: None,
    });
    let mut past = Past {
        rules: &s.rules,
        aliases: &s.account_aliases,
        judge: judge.clone(),
        since,
        until,
        total: PollReport::default(),
        objects: Objects::default(),
    };
    let mut m = Matches {
        s,
        judge,
        to,
        state,
        learn,
        judged: Judged::default(),
        raised: PollReport::default(),
    };
    let bars = Bars::default();
    past.read(chosen, &bars, &mut |f| m.take(f)).await?;
    Ok((past, m))
}

/// The matches of `s`'s rules over a past window of its sources (all, or `sources`), as a
/// backfill finds them (thresholds counted, each event and rule once), kept instead of
/// printed; nothing is written, but first-seen rules' sightings with `learn`. For `rules
/// replay`.
pub(super) fn collect(
    s: &Settings,
    window: (Timestamp, Timestamp),
    sources: &[String],
    learn: bool,
) -> Result<(Vec<Alert>, PollReport), CmdError> {
    let chosen = chosen(s, sources)?;
    let rt = super::common::runtime()?;
    let state = match learn {
        true => Some(State::open(&s.state_dir).map_err(CmdError::failure)?),
        false => None,
    };
    let to = (To::Keep(Vec::new()), state, learn);
    let (past, m) = rt.block_on(read(s, window, &chosen, to))?;
    let To::Keep(kept) = m.to else {
        unreachable!("kept")
    };
    Ok((kept, past.total))
}

/// Says what a backfill did (and delivers what it raised, with `--notify`).
async fn finish(s: &Settings, past: &Past<'_>, m: &Matches<'_>) -> Result<(), CmdError> {
    let (since, until, t) = (past.since, past.until, &past.total);
    match &m.to {
        To::Outbox => {
            let st = m.state.as_ref().expect("--notify opens the state");
            let mut d = Deliverer::open(s.delivery_plan()).map_err(CmdError::failure)?;
            d.drain(st).await.map_err(CmdError::failure)?;
            let (left, r) = (st.outbox_len(), &m.raised);
            eprintln!("backfill: {} new alerts queued and delivered, {} already raised before; {left} still in the outbox", r.raised, r.repeated);
        }
        _ => eprintln!(
            "backfill: {} matches in {} records ({} API pages) from {since} to {until}",
            m.judged.matches(),
            t.records,
            t.pages
        ),
    }
    if past.objects.files > 0 {
        eprintln!("backfill: {}", past.objects);
    }
    Ok(())
}

pub(super) fn run(a: BackfillArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    let window = window(&a.since, a.until.as_deref())?;
    let chosen = chosen(&s, &a.sources)?;
    let state = match a.notify || a.learn {
        true => Some(State::open(&s.state_dir).map_err(CmdError::failure)?),
        false => None,
    };
    let to = match a.notify {
        true => To::Outbox,
        false => To::Print(a.output),
    };
    if matches!(a.output, Output::Table) && !a.notify {
        println!("{}", crate::scan::ROW_HEADER);
    }
    super::common::runtime()?.block_on(async {
        if a.explain {
            eprint!("{}", super::check::plan(&s).await.text);
        }
        let (past, m) = read(&s, window, &chosen, (to, state, a.learn)).await?;
        finish(&s, &past, &m).await
    })?;
    Ok(ExitCode::SUCCESS)
}
