//! `trailwatch backfill`: the daemon's reading and rules over a fixed past window, printed as
//! `scan` prints (or as a table), without moving any watermark. With `--notify` the alerts go
//! through the outbox, deduplicated against every alert already raised, and are delivered.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;

use super::common::{CmdError, ConfigArg};
use crate::alert::Alert;
use crate::defaults;
use crate::delivery::Deliverer;
use crate::format::stream::Item;
use crate::poll::bucket::found_in_object;
use crate::poll::NoteKind;
use crate::poll::{raise_all, read_window, Found, Judge, PollReport};
use crate::record::Record;
use crate::rules::threshold::{self, InMemory};
use crate::settings::Settings;
use crate::source::files::{self, Folder};
use crate::source::s3::{layout, KeyKind, Listed, Trail};
use crate::source::{open_source, Query, SourceKind, SourceSpec, Window};
use crate::state::State;
use crate::text::{truncate, visible};
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

/// The window of `--since` and `--until` (default: now).
pub(super) fn window(since: &str, until: Option<&str>) -> Result<(Timestamp, Timestamp), CmdError> {
    let now = Timestamp::now();
    let since =
        when::point(since, now).map_err(|e| CmdError::usage(anyhow::anyhow!("--since: {e}")))?;
    let until = match until {
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
    Ok((since, until))
}

/// The sources a backfill reads (`--source`, default: all).
fn chosen(s: &Settings, names: &[String]) -> Result<Vec<Arc<SourceSpec>>, CmdError> {
    for n in names {
        if !s.sources.iter().any(|x| &x.name == n) {
            let all: Vec<_> = s.sources.iter().map(|x| x.name.as_str()).collect();
            return Err(CmdError::usage(anyhow::anyhow!(
                "no source named '{n}' (sources: {})",
                all.join(", ")
            )));
        }
    }
    Ok(s.sources
        .iter()
        .filter(|x| names.is_empty() || names.contains(&x.name))
        .cloned()
        .collect())
}

/// One backfill: what it read, and where its matches go.
struct Backfill<'a> {
    s: &'a Settings,
    output: Output,
    since: Timestamp,
    until: Timestamp,
    now: Timestamp,
    judge: Arc<Judge>,
    /// With `--notify`: matches go through the outbox.
    state: Option<State>,
    /// Without: matches printed so far.
    seen: HashSet<Vec<u8>>,
    total: PollReport,
    /// Threshold rules' counts (without `--notify`; with it, the state keeps them).
    tallies: InMemory,
    /// S3 files read, their stored bytes, bytes of JSON, and seconds spent.
    objects: (u64, u64, u64, f64),
    out: std::io::StdoutLock<'static>,
    /// For `rules replay`: matches kept here instead of printed.
    collected: Option<Vec<Alert>>,
}

impl Backfill<'_> {
    /// Prints (or raises) the matches of one read, keeping those whose eventTime is inside the
    /// window.
    fn emit(&mut self, mut found: Found) -> Result<(), CmdError> {
        let (since, until) = (self.since, self.until);
        found.alerts.retain(|al| {
            al.event_time
                .parse::<Timestamp>()
                .map_or(true, |t| t >= since && t <= until)
        });
        if let Some(st) = &self.state {
            return raise_all(&self.judge, st, &mut found, self.now, &mut self.total)
                .map_err(CmdError::failure);
        }
        // Threshold rules' matches are counted across the whole backfill.
        let alerts = std::mem::take(&mut found.alerts);
        let Ok(alerts) = threshold::apply(&self.s.rules, alerts, &mut self.tallies);
        found.alerts = alerts;
        found.sort();
        let mut buf = Vec::new();
        for al in &found.alerts {
            if !self.seen.insert(al.dedupe_key()) {
                continue;
            }
            if let Some(c) = &mut self.collected {
                c.push(al.clone());
                continue;
            }
            match self.output {
                Output::Table => table_row(&mut buf, al),
                Output::Json => {
                    let rule = self.s.rules.get(&al.rule).expect("the rule exists");
                    crate::scan::write_alert(&mut buf, rule, al, &al.source);
                }
            }
        }
        self.out.write_all(&buf).map_err(CmdError::failure)
    }

    /// The span a source reads for the backfill window. A CloudWatch Logs event's timestamp is
    /// its delivery time, at or after its eventTime: the read goes on past `--until` (for events
    /// delivered after the window's end) and starts a little before `--since` (for clocks that
    /// disagree); the eventTime filter then keeps exactly the window.
    fn read_window(&self, spec: &SourceSpec) -> (Timestamp, Timestamp) {
        match spec.kind {
            SourceKind::CloudwatchLogs { .. } => {
                let slack = when::signed(std::time::Duration::from_secs(300));
                let margin = when::signed(defaults::LOGS_DELIVERY_MARGIN);
                (
                    self.since.checked_sub(slack).unwrap_or(self.since),
                    self.until
                        .checked_add(margin)
                        .unwrap_or(self.until)
                        .min(Timestamp::now()),
                )
            }
            _ => (self.since, self.until),
        }
    }

    /// Reads every window of every stream of the AWS sources, then every file of the folders.
    async fn read(&mut self, chosen: &[Arc<SourceSpec>]) -> Result<(), CmdError> {
        let mut plan = Vec::new();
        let mut folders = Vec::new();
        let mut trails = Vec::new();
        for spec in chosen {
            if let SourceKind::Files { path } = &spec.kind {
                folders.push((spec.clone(), path.clone()));
                continue;
            }
            let opened = open_source(spec, &self.s.account_aliases)
                .await
                .map_err(CmdError::failure)?;
            for u in &opened.unreachable {
                tracing::error!(
                    "source '{}': account {} is NOT read: {}",
                    spec.name,
                    u.account,
                    u.why
                );
            }
            if let Some(t) = opened.trail {
                trails.push((spec.clone(), t));
            }
            for c in &opened.coverage {
                for w in c.warnings() {
                    tracing::warn!("{w}");
                }
            }
            for st in opened.streams {
                let queries = st.queries(&self.s.rules);
                // Pushdown reads are small: one sweep of the whole window. Full reads go an
                // hour at a time, so progress shows and memory stays bounded.
                let max = if queries == [Query::All] {
                    spec.max_window
                } else {
                    std::time::Duration::from_secs(90 * 86400)
                };
                let (since, until) = self.read_window(spec);
                let windows = Window::split(since, until, max);
                plan.push((st, queries, windows));
            }
        }
        let units = plan.iter().map(|p| p.2.len()).sum::<usize>() + folders.len();
        let bar = progress(units as u64);
        for (st, queries, windows) in &plan {
            for w in windows {
                let found = read_window(st, w, queries, &self.judge.eval, &mut self.total)
                    .await
                    .map_err(CmdError::failure)?;
                self.emit(found)?;
                bar.inc(1);
                bar.set_message(format!(
                    "{} records, {} pages",
                    self.total.records, self.total.pages
                ));
            }
        }
        for (spec, path) in folders {
            self.read_folder(&spec, path)?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        for (spec, trail) in trails {
            self.read_trail(&spec, &trail).await?;
        }
        Ok(())
    }

    fn read_folder(&mut self, spec: &SourceSpec, path: std::path::PathBuf) -> Result<(), CmdError> {
        let folder = Folder::new(path, spec.limits);
        for f in folder.list().map_err(CmdError::failure)? {
            let name = f.display().to_string();
            let mut found = Found::default();
            let eval = &self.judge.eval;
            let mut witness = eval.witness();
            let read = files::read_whole(&f, &spec.limits, Some(&mut witness), |item| {
                match item {
                    Item::Piece(p) => found.check_piece(eval, &p, &spec.name, &name),
                    Item::Problem(p) => found.note(NoteKind::Unread, &name, p.show(&name)),
                }
                true
            });
            if let Err(e) = read {
                found.note(NoteKind::Unread, &name, e);
            }
            self.total.records += found.records;
            let mut notes = Found::default();
            notes.absorb(&mut found);
            self.total.tell(&spec.name, notes);
            self.emit(found)?;
        }
        Ok(())
    }

    /// The files of a bucket delivered in the window (and up to a day after it: a file holds
    /// events from before its delivery), listed day by day for every account and region.
    async fn list_trail(
        &self,
        spec: &SourceSpec,
        trail: &Arc<Trail>,
    ) -> Result<Vec<Listed>, CmdError> {
        let places = trail.places().await.map_err(CmdError::failure)?;
        let last = self
            .until
            .checked_add(when::signed(defaults::LOGS_DELIVERY_MARGIN))
            .unwrap_or(self.until)
            .min(Timestamp::now());
        let (since, base) = (self.since, trail.bucket.base.clone());
        let gate = Arc::new(tokio::sync::Semaphore::new(LIST_AT_ONCE));
        let mut lists = tokio::task::JoinSet::new();
        for place in places {
            for day in layout::days(since, last) {
                let (t, gate, base, place) =
                    (trail.clone(), gate.clone(), base.clone(), place.clone());
                lists.spawn(async move {
                    let _permit = gate.acquire().await;
                    let prefix = place.day(&base, day);
                    let mut keys = Vec::new();
                    let mut token = None;
                    loop {
                        let page = t.bucket.list(&prefix, None, token).await?;
                        keys.extend(page.keys);
                        match page.next {
                            Some(n) => token = Some(n),
                            None => return Ok::<_, crate::source::aws::ApiError>(keys),
                        }
                    }
                });
            }
        }
        let mut all = Vec::new();
        while let Some(r) = lists.join_next().await {
            let keys = r
                .expect("a listing does not panic")
                .map_err(CmdError::failure)?;
            all.extend(keys.into_iter().filter(|k| {
                matches!(layout::parse(&base, &k.key), KeyKind::Log { place, time, .. }
                    if trail.wants(&place) && time >= since && time <= last)
            }));
        }
        all.sort_by(|a, b| a.key.cmp(&b.key));
        tracing::info!(source = %spec.name, "{} files to read", all.len());
        Ok(all)
    }

    /// Reads a bucket's files of the window, several at once, handing on their matches in key
    /// order; the bar counts files and bytes.
    async fn read_trail(
        &mut self,
        spec: &Arc<SourceSpec>,
        trail: &Arc<Trail>,
    ) -> Result<(), CmdError> {
        let keys = self.list_trail(spec, trail).await?;
        let total: u64 = keys.iter().map(|k| k.size).sum();
        let bar = object_progress(keys.len() as u64, total);
        let judge = self.judge.clone();
        let gate = Arc::new(tokio::sync::Semaphore::new(READ_AT_ONCE));
        let mut reads = tokio::task::JoinSet::new();
        for (i, k) in keys.iter().enumerate() {
            let (t, sp, ev, gate, key) = (
                trail.clone(),
                spec.clone(),
                judge.clone(),
                gate.clone(),
                k.key.clone(),
            );
            reads.spawn(async move {
                let _permit = gate.acquire().await;
                (i, found_in_object(&t, &sp, ev, &key).await)
            });
        }
        // Matches go on in key order: a file's are held until those before it are done.
        let mut done: std::collections::BTreeMap<usize, Found> = std::collections::BTreeMap::new();
        let mut next = 0;
        let started = std::time::Instant::now();
        while let Some(r) = reads.join_next().await {
            let (i, res) = r.expect("a read does not panic");
            let (mut found, bytes) = res.map_err(CmdError::failure)?;
            self.objects.0 += 1;
            self.objects.1 += keys[i].size;
            self.objects.2 += bytes;
            bar.inc(1);
            bar.set_message(format!(
                "{} of {} MB, {} records",
                self.objects.1 / 1_000_000,
                total / 1_000_000,
                self.total.records + found.records
            ));
            self.total.records += found.records;
            let mut notes = Found::default();
            notes.absorb(&mut found);
            self.total.tell(&spec.name, notes);
            done.insert(i, found);
            while let Some(f) = done.remove(&next) {
                self.emit(f)?;
                next += 1;
            }
        }
        self.objects.3 += started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        Ok(())
    }

    /// Delivers what was raised (`--notify`) and says what was done.
    async fn finish(&mut self) -> Result<(), CmdError> {
        let (since, until, t) = (self.since, self.until, &self.total);
        match &self.state {
            Some(st) => {
                let mut d = Deliverer::open(self.s.delivery_plan()).map_err(CmdError::failure)?;
                d.drain(st).await.map_err(CmdError::failure)?;
                eprintln!("backfill: {} new alerts queued and delivered, {} already raised before; {} still in the outbox", t.raised, t.repeated, st.outbox_len());
            }
            None => eprintln!(
                "backfill: {} matches in {} records ({} API pages) from {since} to {until}",
                self.seen.len(),
                t.records,
                t.pages
            ),
        }
        let (n, gz, json, secs) = self.objects;
        if n > 0 {
            eprintln!(
                "backfill: read {n} S3 files ({:.1} MB stored, {:.1} MB of JSON) in {secs:.1} s: {:.0} files/s, {:.1} MB/s of JSON",
                gz as f64 / 1e6,
                json as f64 / 1e6,
                n as f64 / secs.max(1e-9),
                json as f64 / 1e6 / secs.max(1e-9)
            );
        }
        Ok(())
    }
}

/// The matches of `s`'s rules over a past window of its sources (all, or `sources`), as a
/// backfill finds them (thresholds counted, each event and rule once), kept instead of
/// printed; nothing is written. For `rules replay`.
pub(super) fn collect(
    s: &Settings,
    (since, until): (Timestamp, Timestamp),
    sources: &[String],
) -> Result<(Vec<Alert>, PollReport), CmdError> {
    let chosen = chosen(s, sources)?;
    let mut b = Backfill {
        s,
        output: Output::Json,
        since,
        until,
        now: Timestamp::now(),
        judge: Arc::new(Judge {
            eval: s.evaluator(),
            router: s.router(),
        }),
        state: None,
        seen: HashSet::new(),
        objects: (0, 0, 0, 0.0),
        tallies: InMemory::default(),
        total: PollReport::default(),
        out: std::io::stdout().lock(),
        collected: Some(Vec::new()),
    };
    super::common::runtime()?.block_on(b.read(&chosen))?;
    Ok((b.collected.unwrap_or_default(), b.total))
}

/// S3 days listed at once, and files read at once.
const LIST_AT_ONCE: usize = 8;
const READ_AT_ONCE: usize = 8;

/// A bar counting files (and, in its message, bytes) on a terminal.
fn object_progress(files: u64, bytes: u64) -> ProgressBar {
    let b = progress(files);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} files ({} MB), {{msg}}",
            bytes / 1_000_000
        ))
        .expect("style"),
    );
    b
}

/// A progress bar on a terminal, nothing elsewhere.
fn progress(units: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(units);
    b.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} windows, {msg}",
        )
        .expect("style"),
    );
    b
}

pub(super) fn run(a: BackfillArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    let (since, until) = window(&a.since, a.until.as_deref())?;
    let chosen = chosen(&s, &a.sources)?;
    let state = if a.notify {
        Some(State::open(&s.state_dir).map_err(CmdError::failure)?)
    } else {
        None
    };
    let mut b = Backfill {
        s: &s,
        output: a.output,
        since,
        until,
        now: Timestamp::now(),
        judge: Arc::new(Judge {
            eval: s.evaluator(),
            router: s.router(),
        }),
        state,
        seen: HashSet::new(),
        objects: (0, 0, 0, 0.0),
        tallies: InMemory::default(),
        total: PollReport::default(),
        out: std::io::stdout().lock(),
        collected: None,
    };
    if matches!(a.output, Output::Table) {
        let _ = writeln!(
            b.out,
            "{:<21}{:<25}{:<10}{:<23}{:<49}{:<17}EVENT ID",
            "EVENT TIME", "RULE", "SEVERITY", "EVENT", "PRINCIPAL", "SOURCE IP"
        );
    }
    super::common::runtime()?.block_on(async {
        if a.explain {
            eprint!("{}", super::check::plan(&s).await.text);
        }
        b.read(&chosen).await?;
        b.finish().await
    })?;
    Ok(ExitCode::SUCCESS)
}
