//! One poll of one stream: its windows are read, every record is judged by the rules, matches
//! become alerts, and the alerts enter the outbox before the watermark moves. The same steps
//! serve the daemon (windows behind a watermark), the `files` source (one file at a time) and
//! `backfill` (a fixed past window).

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;

use crate::alert::Alert;
use crate::rules::evaluate::{Evaluator, Verdict};
use crate::source::aws::ApiError;
use crate::source::files::{Folder, FolderError};
use crate::source::{Query, SourceSpec, Stream, Window};
use crate::state::{State, StateError};
use crate::when;

/// What judging records found.
#[derive(Debug, Default)]
pub struct Found {
    pub records: u64,
    pub alerts: Vec<Alert>,
    /// Records that are not JSON objects, not JSON, or match without an eventID.
    pub malformed: u64,
    /// The first of them, described.
    pub first_malformed: Option<String>,
    /// Candidate flags, reused from record to record.
    cands: Vec<bool>,
}

impl Found {
    fn bad(&mut self, why: String) {
        self.malformed += 1;
        self.first_malformed.get_or_insert(why);
    }

    /// Judges one record's JSON text, adding an alert per matching rule.
    pub fn check(&mut self, eval: &Evaluator, text: &str, source: &str) {
        self.records += 1;
        let mut cands = std::mem::take(&mut self.cands);
        match eval.evaluate_text(text, &mut cands) {
            Verdict::Pass => {}
            Verdict::Malformed(m) => self.bad(m.to_string()),
            Verdict::Match(m) => match m.record.get_str("eventID") {
                None => self.bad("a matching record without an eventID".into()),
                Some(id) => {
                    let time = m.record.get_str("eventTime").unwrap_or("");
                    for (_, r) in &m.rules {
                        self.alerts.push(Alert::new(r, id, time, source, text));
                    }
                }
            },
        }
        self.cands = cands;
    }

    /// Sorts alerts oldest first (then by event ID and rule), dropping repeats within the read.
    pub fn sort(&mut self) {
        self.alerts.sort_by(|a, b| {
            (a.event_time.as_str(), a.event_id.as_str(), a.rule.as_str()).cmp(&(
                b.event_time.as_str(),
                b.event_id.as_str(),
                b.rule.as_str(),
            ))
        });
        self.alerts
            .dedup_by(|a, b| a.event_id == b.event_id && a.rule == b.rule);
    }
}

/// An error of one poll.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Folder(#[from] FolderError),
}

/// An event that became visible later than `overlap` after its eventTime: a poll's re-read
/// could have missed it (the sweep or a slow poll caught it).
#[derive(Debug, Clone)]
pub struct Late {
    pub rule: String,
    pub event_id: String,
    pub event_time: String,
    /// First seen minus eventTime.
    pub lateness: Duration,
}

/// What one poll of a stream did.
#[derive(Debug, Default, Clone)]
pub struct PollReport {
    pub windows: u64,
    pub pages: u64,
    pub records: u64,
    /// Alerts new to the outbox.
    pub raised: u64,
    /// Matches that had been raised before (overlap, another source).
    pub repeated: u64,
    pub malformed: u64,
    /// First seen minus eventTime of every alert raised, in seconds, where the stream had read
    /// the time before (a first poll or a catch-up tells nothing of delivery delays).
    pub lateness: Vec<f64>,
    /// Alerts raised for events later than `overlap`.
    pub late: Vec<Late>,
}

/// Puts found alerts into the outbox (oldest first), makes them durable, and counts them;
/// `on_raised` sees each alert new to the outbox.
pub fn raise_all(
    eval: &Evaluator,
    state: &State,
    found: &mut Found,
    now: Timestamp,
    rep: &mut PollReport,
) -> Result<(), StateError> {
    raise_found(eval, state, found, now, rep, &mut |_| {})
}

fn raise_found(
    eval: &Evaluator,
    state: &State,
    found: &mut Found,
    now: Timestamp,
    rep: &mut PollReport,
    on_raised: &mut dyn FnMut(&Alert),
) -> Result<(), StateError> {
    found.sort();
    for a in &found.alerts {
        if state.raise(a, eval.route(&a.rule), now)? {
            rep.raised += 1;
            tracing::info!(rule = %a.rule, event_id = %a.event_id, event_time = %a.event_time, source = %a.source, "alert raised");
            on_raised(a);
        } else {
            rep.repeated += 1;
        }
    }
    if !found.alerts.is_empty() {
        state.flush()?;
    }
    Ok(())
}

/// Reads one window of a stream with every query, judging records as they come; raises
/// nothing (`backfill` decides what to do with what was found).
pub async fn read_window(
    stream: &Stream,
    w: &Window,
    queries: &[Query],
    eval: &Evaluator,
    rep: &mut PollReport,
) -> Result<Found, PollError> {
    let mut found = Found::default();
    let mut ids: HashSet<String> = HashSet::new();
    for q in queries {
        let mut pages = stream.pages(w, q);
        while let Some(page) = pages.next().await? {
            rep.pages += 1;
            judge_page(stream, page, queries.len() > 1, &mut ids, eval, &mut found);
        }
    }
    rep.windows += 1;
    rep.records += found.records;
    rep.malformed += found.malformed;
    warn_malformed(stream, &found);
    Ok(found)
}

/// Judges a page's records, each event once per window (lookups overlap: an event can match
/// two attributes).
fn judge_page(
    stream: &Stream,
    page: Vec<String>,
    several_queries: bool,
    ids: &mut HashSet<String>,
    eval: &Evaluator,
    found: &mut Found,
) {
    for text in page {
        if several_queries && !ids.insert(event_id_of(&text)) {
            continue;
        }
        found.check(eval, &text, &stream.source.name);
    }
}

fn warn_malformed(stream: &Stream, found: &Found) {
    if let Some(m) = &found.first_malformed {
        tracing::warn!(source = %stream.source.name, stream = %stream.name, count = found.malformed, "skipped malformed records, e.g. {m}");
    }
}

/// The eventID of a record's text, found without parsing the whole record when possible.
fn event_id_of(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(rename = "eventID")]
        id: Option<String>,
    }
    match serde_json::from_str::<Id>(text) {
        Ok(Id { id: Some(id) }) => id,
        _ => text.to_string(),
    }
}

/// How lateness is judged during one read: the watermark before it, `overlap`, AWS's now.
struct Lateness {
    before: Option<Timestamp>,
    overlap: Duration,
    now: Timestamp,
}

impl Lateness {
    fn note(&self, a: &Alert, rep: &mut PollReport) {
        let (Some(before), Ok(t)) = (self.before, a.event_time.parse::<Timestamp>()) else {
            return;
        };
        let late = Duration::try_from(self.now.duration_since(t)).unwrap_or_default();
        rep.lateness.push(late.as_secs_f64());
        if t < before && late > self.overlap {
            rep.late.push(Late {
                rule: a.rule.clone(),
                event_id: a.event_id.clone(),
                event_time: a.event_time.clone(),
                lateness: late,
            });
        }
    }
}

/// Reads a window with every query, raising each page's matches as soon as the page is read
/// (durable before the next page is asked for): a later page's failure keeps them, and a long
/// catch-up does not hold alerts back.
async fn read_and_raise(
    stream: &Stream,
    w: &Window,
    queries: &[Query],
    eval: &Evaluator,
    state: &State,
    lateness: &Lateness,
    rep: &mut PollReport,
) -> Result<(), PollError> {
    let mut ids: HashSet<String> = HashSet::new();
    let mut malformed = Found::default();
    for q in queries {
        let mut pages = stream.pages(w, q);
        while let Some(page) = pages.next().await? {
            rep.pages += 1;
            let mut found = Found::default();
            judge_page(stream, page, queries.len() > 1, &mut ids, eval, &mut found);
            rep.records += found.records;
            rep.malformed += found.malformed;
            if let Some(m) = found.first_malformed.take() {
                malformed.bad(m);
            }
            raise_page(eval, state, &mut found, lateness, rep)?;
        }
    }
    rep.windows += 1;
    warn_malformed(stream, &malformed);
    Ok(())
}

/// Raises one page's alerts, noting each new one's lateness.
fn raise_page(
    eval: &Evaluator,
    state: &State,
    found: &mut Found,
    lateness: &Lateness,
    rep: &mut PollReport,
) -> Result<(), StateError> {
    let mut raised = Vec::new();
    raise_found(eval, state, found, lateness.now, rep, &mut |a| {
        raised.push(a.clone())
    })?;
    for a in &raised {
        lateness.note(a, rep);
    }
    Ok(())
}

/// One poll of a stream at `now` (AWS's time): every window from `overlap` behind the
/// watermark to `now`, oldest first; each page's alerts are durable as soon as it is read, and
/// the watermark moves past a window only once the whole window was read.
pub async fn poll_stream(
    stream: &Stream,
    eval: &Evaluator,
    state: &State,
    now: Timestamp,
) -> Result<PollReport, PollError> {
    poll_stream_measured(stream, eval, state, now, true).await
}

/// `poll_stream`, measuring lateness only when `measure` (the daemon's first poll after a start
/// cannot tell delivery delays from its own downtime).
pub async fn poll_stream_measured(
    stream: &Stream,
    eval: &Evaluator,
    state: &State,
    now: Timestamp,
    measure: bool,
) -> Result<PollReport, PollError> {
    let spec = &stream.source;
    let queries = stream.queries(eval.rules());
    let wm = state.watermark(&spec.name, &stream.name)?;
    let lateness = Lateness {
        before: wm.filter(|_| measure),
        overlap: spec.overlap,
        now,
    };
    let windows = Window::for_poll(wm, now, spec.overlap, spec.max_window);
    if let Some(first) = windows.first() {
        state.note_covered(&spec.name, &stream.name, first.start)?;
    }
    let mut rep = PollReport::default();
    for w in windows {
        read_and_raise(stream, &w, &queries, eval, state, &lateness, &mut rep).await?;
        state.advance_watermark(&spec.name, &stream.name, w.end)?;
    }
    Ok(rep)
}

/// The late sweep of a stream at `now`: `[now - late_sweep, now - overlap]` read again with the
/// same plan, for events that became visible after the polls' re-read had passed them. Moves no
/// watermark; what was raised before is not raised again.
pub async fn sweep_stream(
    stream: &Stream,
    eval: &Evaluator,
    state: &State,
    now: Timestamp,
) -> Result<PollReport, PollError> {
    let spec = &stream.source;
    let mut rep = PollReport::default();
    let Some(mut w) = Window::for_sweep(now, spec.overlap, spec.late_sweep) else {
        return Ok(rep);
    };
    // Never before the stream's first poll: that time was never promised.
    let Some(since) = state.covered(&spec.name, &stream.name)? else {
        return Ok(rep);
    };
    w.start = w.start.max(since);
    if w.start >= w.end {
        return Ok(rep);
    }
    let queries = stream.queries(eval.rules());
    let lateness = Lateness {
        before: state.watermark(&spec.name, &stream.name)?,
        overlap: spec.overlap,
        now,
    };
    // Pushdown reads are small: one sweep of the whole window; full reads go in pieces.
    let max = if queries == [Query::All] {
        spec.max_window
    } else {
        spec.late_sweep
    };
    for w in Window::split(w.start, w.end, max) {
        read_and_raise(stream, &w, &queries, eval, state, &lateness, &mut rep).await?;
    }
    Ok(rep)
}

/// One look at a `files` source's folder: every file not read before, oldest path first.
pub fn poll_folder(
    spec: &SourceSpec,
    folder: &mut Folder,
    eval: &Evaluator,
    state: &State,
    now: Timestamp,
) -> Result<PollReport, PollError> {
    let mut rep = PollReport::default();
    for path in folder.list()? {
        let key = path.to_string_lossy();
        if state.file_done(&spec.name, &key)? {
            continue;
        }
        let f = Folder::read(&path);
        match &f.result {
            Err(e) => {
                if folder.note_failure(&f) {
                    tracing::warn!(source = %spec.name, "cannot read {e}; trying again later");
                }
            }
            Ok((records, bad)) => {
                folder.forget_failure(&path);
                for b in bad {
                    tracing::warn!(source = %spec.name, "skipped a malformed record: {b}");
                }
                let mut found = Found::default();
                for r in records {
                    found.check(eval, r, &spec.name);
                }
                rep.records += found.records;
                rep.malformed += found.malformed + bad.len() as u64;
                raise_all(eval, state, &mut found, now, &mut rep)?;
                state.mark_file(&spec.name, &key, f.len)?;
                state.flush()?;
                rep.windows += 1;
            }
        }
    }
    Ok(rep)
}

/// Forgets raised alerts too old to be read again.
pub fn expire(state: &State, now: Timestamp, retention: Duration) -> Result<usize, StateError> {
    state.expire_raised(now.checked_sub(when::signed(retention)).unwrap_or(now))
}
