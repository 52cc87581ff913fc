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
}

/// Puts found alerts into the outbox (oldest first), makes them durable, and counts them.
pub fn raise_all(
    eval: &Evaluator,
    state: &State,
    found: &mut Found,
    now: Timestamp,
    rep: &mut PollReport,
) -> Result<(), StateError> {
    found.sort();
    for a in &found.alerts {
        if state.raise(a, eval.route(&a.rule), now)? {
            rep.raised += 1;
            tracing::info!(rule = %a.rule, event_id = %a.event_id, event_time = %a.event_time, source = %a.source, "alert raised");
        } else {
            rep.repeated += 1;
        }
    }
    if !found.alerts.is_empty() {
        state.flush()?;
    }
    Ok(())
}

/// Reads one window of a stream with every query, judging records as they come.
pub async fn read_window(
    stream: &Stream,
    w: &Window,
    queries: &[Query],
    eval: &Evaluator,
    rep: &mut PollReport,
) -> Result<Found, PollError> {
    let mut found = Found::default();
    let mut ids: HashSet<String> = HashSet::new();
    let source = stream.source.name.clone();
    for q in queries {
        let mut on = |text: &str| {
            // Lookups overlap (an event can match two attributes): judge each event once.
            if queries.len() > 1 {
                let id = event_id_of(text);
                if !ids.insert(id) {
                    return;
                }
            }
            found.check(eval, text, &source);
        };
        rep.pages += stream.read(w, q, &mut on).await?;
    }
    rep.windows += 1;
    rep.records += found.records;
    rep.malformed += found.malformed;
    if let Some(m) = &found.first_malformed {
        tracing::warn!(source = %source, stream = %stream.name, count = found.malformed, "skipped malformed records, e.g. {m}");
    }
    Ok(found)
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

/// One poll of a stream at `now`: every window from `overlap` behind the watermark to `now`,
/// oldest first; each window's alerts are durable before the watermark moves past it.
pub async fn poll_stream(
    stream: &Stream,
    eval: &Evaluator,
    state: &State,
    now: Timestamp,
) -> Result<PollReport, PollError> {
    let spec = &stream.source;
    let queries = stream.queries(eval.rules());
    let wm = state.watermark(&spec.name, &stream.name)?;
    let mut rep = PollReport::default();
    for w in Window::for_poll(wm, now, spec.overlap, spec.max_window) {
        let mut found = read_window(stream, &w, &queries, eval, &mut rep).await?;
        raise_all(eval, state, &mut found, now, &mut rep)?;
        state.advance_watermark(&spec.name, &stream.name, w.end)?;
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
