//! `trailwatch backfill`: the daemon's reading and rules over a fixed past window, printed as
//! `scan` prints (or as a table), without moving any watermark. With `--notify` the alerts go
//! through the outbox, deduplicated against every alert already raised, and are delivered.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;

use super::{CmdError, ConfigArg};
use crate::alert::fields::{truncate, visible};
use crate::alert::Alert;
use crate::delivery::Deliverer;
use crate::poll::{raise_all, read_window, Found, PollReport};
use crate::record::Record;
use crate::rules::Evaluator;
use crate::source::files::Folder;
use crate::source::{open_streams, Query, SourceKind, Window};
use crate::state::State;
use crate::when;

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
    #[arg(long = "source", value_name = "NAME")]
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
}

fn table_row(out: &mut Vec<u8>, a: &Alert) {
    let r = Record::parse(a.record.as_str().into()).ok();
    let get = |p: &[&str]| {
        r.as_ref()
            .and_then(|r| r.str_at(p))
            .unwrap_or("-")
            .to_string()
    };
    let cell = |s: &str, w: usize| format!("{:<w$}", truncate(&visible(s), w.saturating_sub(1)));
    let _ = writeln!(
        out,
        "{} {} {} {} {} {} {}",
        cell(&a.event_time, 21),
        cell(&a.rule, 24),
        cell(&a.severity.to_string(), 9),
        cell(&get(&["eventName"]), 22),
        cell(&get(&["userIdentity", "arn"]), 48),
        cell(&get(&["sourceIPAddress"]), 16),
        visible(&a.event_id)
    );
}

pub fn run(a: BackfillArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    let now = Timestamp::now();
    let since =
        when::point(&a.since, now).map_err(|e| CmdError::usage(anyhow::anyhow!("--since: {e}")))?;
    let until = match &a.until {
        Some(u) => {
            when::point(u, now).map_err(|e| CmdError::usage(anyhow::anyhow!("--until: {e}")))?
        }
        None => now,
    };
    if since >= until {
        return Err(CmdError::usage(anyhow::anyhow!(
            "--since ({since}) must be before --until ({until})"
        )));
    }
    for n in &a.sources {
        if !s.sources.iter().any(|x| &x.name == n) {
            let names: Vec<_> = s.sources.iter().map(|x| x.name.as_str()).collect();
            return Err(CmdError::usage(anyhow::anyhow!(
                "no source named '{n}' (sources: {})",
                names.join(", ")
            )));
        }
    }
    let chosen: Vec<_> = s
        .sources
        .iter()
        .filter(|x| a.sources.is_empty() || a.sources.contains(&x.name))
        .cloned()
        .collect();
    let state = if a.notify {
        Some(State::open(&s.state_dir).map_err(CmdError::failure)?)
    } else {
        None
    };
    let eval = Evaluator::new(
        s.rules.clone(),
        s.sinks.iter().map(|k| k.name.clone()).collect(),
    );
    let rt = super::runtime()?;
    let mut stdout = std::io::stdout().lock();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut total = PollReport::default();
    let matches = std::cell::Cell::new(0u64);
    if matches!(a.output, Output::Table) {
        let _ = writeln!(
            stdout,
            "{:<21}{:<25}{:<10}{:<23}{:<49}{:<17}EVENT ID",
            "EVENT TIME", "RULE", "SEVERITY", "EVENT", "PRINCIPAL", "SOURCE IP"
        );
    }
    let mut emit =
        |found: &mut Found, total: &mut PollReport, out: &mut dyn Write| -> Result<(), CmdError> {
            found.alerts.retain(|al| {
                al.event_time
                    .parse::<Timestamp>()
                    .map_or(true, |t| t >= since && t <= until)
            });
            if let Some(st) = &state {
                raise_all(&eval, st, found, now, total).map_err(CmdError::failure)?;
                return Ok(());
            }
            found.sort();
            let mut buf = Vec::new();
            for al in &found.alerts {
                if !seen.insert(al.dedupe_key()) {
                    continue;
                }
                matches.set(matches.get() + 1);
                match a.output {
                    Output::Table => table_row(&mut buf, al),
                    Output::Json => {
                        let rule = s
                            .rules
                            .all()
                            .iter()
                            .find(|r| r.name == al.rule)
                            .expect("the rule exists");
                        let rec = Record::parse(al.record.as_str().into())
                            .expect("matched records parse");
                        crate::scan::write_match(&mut buf, rule, &rec, &al.source);
                    }
                }
            }
            out.write_all(&buf).map_err(CmdError::failure)
        };
    rt.block_on(async {
        if a.explain {
            eprint!("{}", super::check::plan(&s).await);
        }
        // Plan every unit of work first, for the progress bar.
        let mut plan = Vec::new();
        let mut folders = Vec::new();
        for spec in &chosen {
            if let SourceKind::Files { path } = &spec.kind {
                folders.push((spec.clone(), path.clone()));
                continue;
            }
            for st in open_streams(spec).await.map_err(CmdError::failure)? {
                let queries = st.queries(&s.rules);
                // Pushdown reads are small: one sweep of the whole window. Full reads go an
                // hour at a time, so progress shows and memory stays bounded.
                let max = if queries == [Query::All] { spec.max_window } else { std::time::Duration::from_secs(90 * 86400) };
                let windows = Window::split(since, until, max);
                plan.push((st, queries, windows));
            }
        }
        let units: usize = plan.iter().map(|p| p.2.len()).sum::<usize>() + folders.len();
        let bar = if std::io::stderr().is_terminal() {
            let b = ProgressBar::new(units as u64);
            b.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} windows, {msg}").expect("style"));
            b
        } else {
            ProgressBar::hidden()
        };
        for (st, queries, windows) in &plan {
            for w in windows {
                let mut found = read_window(st, w, queries, &eval, &mut total).await.map_err(CmdError::failure)?;
                emit(&mut found, &mut total, &mut stdout)?;
                bar.inc(1);
                bar.set_message(format!("{} records, {} pages", total.records, total.pages));
            }
        }
        for (spec, path) in folders {
            let folder = Folder::new(path);
            for f in folder.list().map_err(CmdError::failure)? {
                let fr = Folder::read(&f);
                match fr.result {
                    Ok((recs, _)) => {
                        let mut found = Found::default();
                        for r in &recs {
                            found.check(&eval, r, &spec.name);
                        }
                        total.records += found.records;
                        emit(&mut found, &mut total, &mut stdout)?;
                    }
                    Err(e) => tracing::warn!("{e}"),
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        if let Some(st) = &state {
            let mut d = Deliverer::new(&s).map_err(CmdError::failure)?;
            d.drain(st).await.map_err(CmdError::failure)?;
            eprintln!("backfill: {} new alerts queued and delivered, {} already raised before; {} still in the outbox", total.raised, total.repeated, st.outbox_len());
        } else {
            eprintln!("backfill: {} matches in {} records ({} API pages) from {since} to {until}", matches.get(), total.records, total.pages);
        }
        Ok::<_, CmdError>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
