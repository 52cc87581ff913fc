//! A fixed past window read from the chosen sources (`backfill`, `rules replay`), with the
//! daemon's own readers and without moving any watermark: the AWS streams window by window,
//! the folders file by file, the buckets object by object (listed day by day, read several at
//! once, handed on in key order: `poll::s3`). What matched, with an eventTime inside the
//! window, is handed to the caller as it is read, in order; nothing is raised here. What the
//! caller prints is judged as the daemon would (`Judged`), or, with `--learn`, builds the
//! first-seen rules' history in the state (`learn`).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use jiff::Timestamp;

use std::collections::HashSet;

use super::found::Found;
use super::raise::{Judge, StateSightings};
use super::reading::{read_input_handing, Disposal, Input};
use super::report::{PollError, PollReport};
use super::s3::{in_order, keys_between, Fetch, Fetched};
use super::window::read_window;
use crate::alert::Alert;
use crate::defaults;
use crate::rules::evaluate::Evaluator;
use crate::rules::first_seen::{self, Judging};
use crate::rules::threshold;
use crate::rules::RuleSet;
use crate::source::files::{self, Folder};
use crate::source::s3::Trail;
use crate::source::{open_source, Query, SourceKind, SourceSpec, Window};
use crate::state::State;
use crate::when;

/// S3 days listed at once, and objects read at once.
const LIST_AT_ONCE: usize = 8;
const READ_AT_ONCE: usize = 8;

/// The S3 objects a past read read.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Objects {
    pub files: u64,
    /// Bytes as stored (gzip), and of JSON once inflated.
    pub stored: u64,
    pub json: u64,
    pub seconds: f64,
}

impl std::fmt::Display for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (stored, json) = (self.stored as f64 / 1e6, self.json as f64 / 1e6);
        let secs = self.seconds.max(1e-9);
        write!(
            f,
            "read {} S3 files ({stored:.1} MB stored, {json:.1} MB of JSON) in {:.1} s: {:.0} files/s, {:.1} MB/s of JSON",
            self.files,
            self.seconds,
            self.files as f64 / secs,
            json / secs
        )
    }
}

/// How a past read's matches are judged when nothing is raised: first-seen rules against a
/// history of the read's own (learning from its first record of each account), threshold
/// rules counted across the read, each (event, rule) once.
#[derive(Default)]
pub(crate) struct Judged {
    history: first_seen::InMemory,
    tallies: threshold::InMemory,
    seen: HashSet<Vec<u8>>,
}

impl Judged {
    /// What `found` adds, oldest first.
    pub(crate) fn judge(&mut self, eval: &Evaluator, mut found: Found) -> Vec<Alert> {
        let (rules, enricher) = (eval.rules(), eval.enricher());
        let alerts = std::mem::take(&mut found.alerts);
        let Ok(alerts) =
            first_seen::apply(rules, alerts, enricher, &mut self.history, Judging::Alert);
        let Ok(alerts) = threshold::apply(rules, alerts, &mut self.tallies);
        found.alerts = alerts;
        found.sort();
        let seen = &mut self.seen;
        found.alerts.retain(|a| seen.insert(a.dedupe_key()));
        found.alerts
    }

    /// The matches judged so far.
    pub(crate) fn matches(&self) -> usize {
        self.seen.len()
    }
}

/// Records the sightings of first-seen rules' matches in the state and takes those matches out
/// (`backfill --learn`: a history built from the past, nothing alerted); the other alerts are
/// returned. Durable when this returns.
pub(crate) fn learn(
    judge: &Judge,
    state: &State,
    alerts: Vec<Alert>,
) -> Result<Vec<Alert>, PollError> {
    let (rules, enricher) = (judge.eval.rules(), judge.eval.enricher());
    let mut history = StateSightings::new(state);
    let rest = first_seen::apply(rules, alerts, enricher, &mut history, Judging::LearnOnly)?;
    history.commit()?;
    state.flush()?;
    Ok(rest)
}

/// What a past read tells as it goes (a progress bar, or nothing).
pub(crate) trait Progress {
    /// `windows` windows of AWS streams and folders to read.
    fn windows(&self, windows: u64);
    /// One of them read; `total` so far.
    fn window_read(&self, total: &PollReport);
    /// `files` objects of a bucket, `bytes` stored, to read.
    fn objects(&self, files: u64, bytes: u64);
    /// One of them read; the objects and records so far.
    fn object_read(&self, objects: &Objects, records: u64);
    /// A phase is over.
    fn done(&self);
}

/// One read of a past window.
pub(crate) struct Past<'a> {
    pub rules: &'a RuleSet,
    pub aliases: &'a std::collections::BTreeMap<String, String>,
    pub judge: Arc<Judge>,
    pub since: Timestamp,
    pub until: Timestamp,
    /// What was read.
    pub total: PollReport,
    pub objects: Objects,
}

/// Where a past read hands what it found.
pub(crate) type Emit<'e, E> = dyn FnMut(Found) -> Result<(), E> + 'e;

/// Hands on what matched with an eventTime inside `since..=until`.
fn in_window<E>(
    mut found: Found,
    (since, until): (Timestamp, Timestamp),
    emit: &mut Emit<'_, E>,
) -> Result<(), E> {
    found.alerts.retain(|al| {
        al.event_time
            .parse::<Timestamp>()
            .map_or(true, |t| t >= since && t <= until)
    });
    emit(found)
}

impl Past<'_> {
    /// Keeps what matched with an eventTime inside the window, and hands it on.
    fn emit<E>(&self, found: Found, emit: &mut Emit<'_, E>) -> Result<(), E> {
        in_window(found, (self.since, self.until), emit)
    }

    /// The span a source reads for the window. A CloudWatch Logs event's timestamp is its
    /// delivery time, at or after its eventTime: the read goes on past `until` (for events
    /// delivered after the window's end) and starts a little before `since` (for clocks that
    /// disagree); the eventTime filter then keeps exactly the window.
    fn span(&self, spec: &SourceSpec) -> (Timestamp, Timestamp) {
        match spec.kind {
            SourceKind::CloudwatchLogs { .. } => {
                let slack = when::signed(std::time::Duration::from_secs(300));
                (
                    self.since.checked_sub(slack).unwrap_or(self.since),
                    self.delivered_by(),
                )
            }
            _ => (self.since, self.until),
        }
    }

    /// The latest a record of the window can have been delivered (not after now).
    fn delivered_by(&self) -> Timestamp {
        let margin = when::signed(defaults::LOGS_DELIVERY_MARGIN);
        self.until
            .checked_add(margin)
            .unwrap_or(self.until)
            .min(Timestamp::now())
    }

    /// Reads every window of every stream of the AWS sources, then every file of the folders,
    /// then every object of the buckets, handing what matched to `emit` as it goes.
    pub(crate) async fn read<E: From<PollError>>(
        &mut self,
        chosen: &[Arc<SourceSpec>],
        progress: &dyn Progress,
        emit: &mut Emit<'_, E>,
    ) -> Result<(), E> {
        let mut plan = Vec::new();
        let mut folders = Vec::new();
        let mut trails = Vec::new();
        for spec in chosen {
            if let SourceKind::Files { path } = &spec.kind {
                folders.push((spec.clone(), path.clone()));
                continue;
            }
            let opened = open_source(spec, self.aliases)
                .await
                .map_err(PollError::from)?;
            for u in &opened.unreachable {
                tracing::error!(
                    "source '{}': account {} is NOT read: {}",
                    spec.name,
                    u.account,
                    u.why
                );
            }
            for w in opened.coverage.iter().flat_map(|c| c.warnings()) {
                tracing::warn!("{w}");
            }
            if let Some(t) = opened.trail {
                trails.push((spec.clone(), t));
            }
            for st in opened.streams {
                let queries = st.queries(self.rules);
                // Pushdown reads are small: one sweep of the whole window. Full reads go an
                // hour at a time, so progress shows and memory stays bounded.
                let max = if queries == [Query::All] {
                    spec.max_window
                } else {
                    std::time::Duration::from_secs(90 * 86400)
                };
                let (since, until) = self.span(spec);
                plan.push((st, queries, Window::split(since, until, max)));
            }
        }
        let units = plan.iter().map(|p| p.2.len()).sum::<usize>() + folders.len();
        progress.windows(units as u64);
        for (st, queries, windows) in &plan {
            for w in windows {
                let found = read_window(st, w, queries, &self.judge.eval, &mut self.total).await?;
                self.emit(found, emit)?;
                progress.window_read(&self.total);
            }
        }
        for (spec, path) in folders {
            self.read_folder(&spec, path, emit)?;
            progress.window_read(&self.total);
        }
        progress.done();
        for (spec, trail) in trails {
            self.read_trail(&spec, &trail, progress, emit).await?;
        }
        Ok(())
    }

    /// Reads every file of a folder, whole (judged on every core as it is read, as the
    /// daemon's `files` source reads).
    fn read_folder<E: From<PollError>>(
        &mut self,
        spec: &SourceSpec,
        path: std::path::PathBuf,
        emit: &mut Emit<'_, E>,
    ) -> Result<(), E> {
        let mut folder = Folder::new(path, spec.limits);
        let stop = AtomicBool::new(false);
        for f in folder.list().map_err(PollError::from)?.0 {
            let name = f.display().to_string();
            let input = Input {
                source: &spec.name,
                name: &name,
                judge: &self.judge,
                state: None,
                disposal: Disposal::Keep,
                now: Timestamp::now(),
                stop: &stop,
                again: "what follows is not read by this backfill",
            };
            let eval = &self.judge.eval;
            let search = |b: &[u8]| eval.next_hit(b);
            // Handed on as they are found; a failure to hand them on stops the reading.
            let (window, mut failed) = ((self.since, self.until), None);
            let mut hand = |alerts| {
                if failed.is_none() {
                    if let Err(e) = in_window(Found::of_alerts(alerts), window, emit) {
                        failed = Some(e);
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            };
            let read = read_input_handing(
                &input,
                &mut self.total,
                |w, on| files::read_whole(&f, &spec.limits, Some(w), Some(&search), on),
                &mut hand,
            );
            if let Some(e) = failed {
                return Err(e);
            }
            read?;
        }
        Ok(())
    }

    /// Reads a bucket's files delivered in the window (and up to a day after it: a file holds
    /// events from before its delivery), several at once, handing on their matches in key
    /// order.
    async fn read_trail<E: From<PollError>>(
        &mut self,
        spec: &Arc<SourceSpec>,
        trail: &Arc<Trail>,
        progress: &dyn Progress,
        emit: &mut Emit<'_, E>,
    ) -> Result<(), E> {
        let window = (self.since, self.delivered_by());
        let keys = keys_between(trail, window, LIST_AT_ONCE)
            .await
            .map_err(PollError::from)?;
        tracing::info!(source = %spec.name, "{} files to read", keys.len());
        progress.objects(keys.len() as u64, keys.iter().map(|k| k.size).sum());
        let (judge, stop) = (self.judge.clone(), Arc::new(AtomicBool::new(false)));
        let read = |k: &crate::source::s3::Listed| {
            let (trail, spec, judge, stop, key) = (
                trail.clone(),
                spec.clone(),
                judge.clone(),
                stop.clone(),
                k.key.clone(),
            );
            async move {
                let f = Fetch {
                    trail: &trail,
                    source: &spec.name,
                    limits: spec.limits,
                    judge: &judge,
                    state: None,
                    disposal: Disposal::Keep,
                    stop: &stop,
                };
                let mut r = PollReport::default();
                let fetched = f.object(&key, Timestamp::now(), &mut r).await;
                (fetched, r)
            }
        };
        let started = std::time::Instant::now();
        let mut failed: Option<E> = None;
        in_order(&keys, READ_AT_ONCE, read, |i, (fetched, r)| {
            let o = match fetched {
                Ok(Fetched::Done(o)) => o,
                Ok(Fetched::Stopped) => return false,
                Err(e) => {
                    failed = Some(e.into());
                    return false;
                }
            };
            self.objects.files += 1;
            self.objects.stored += keys[i].size;
            self.objects.json += o.bytes;
            self.total.absorb(r);
            progress.object_read(&self.objects, self.total.records);
            match self.emit(Found::of_alerts(o.alerts), emit) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })
        .await;
        self.objects.seconds += started.elapsed().as_secs_f64();
        progress.done();
        failed.map_or(Ok(()), Err)
    }
}
