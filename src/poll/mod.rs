//! One poll of one stream: its windows are read, every record is judged by the rules, matches
//! become alerts, and the alerts enter the outbox before the watermark moves. The same steps
//! serve the daemon, `backfill` (a fixed past window) and every kind of source:
//! - `window`: AWS streams read in windows behind a watermark (lookup_events, cloudwatch_logs),
//!   and their late sweep;
//! - `files`: a folder, one file at a time;
//! - `found`: judging records and noting what could not be read as it was.

pub mod bucket;
mod files;
mod found;
mod reading;
mod window;

use std::time::Duration;

use jiff::Timestamp;

pub use self::files::poll_folder;
use self::found::MAX_NOTES;
pub use self::found::{Found, NoteKind, RecordNote};
pub use self::window::{poll_stream, poll_stream_measured, read_window, sweep_stream};
use crate::alert::Alert;
use crate::rules::evaluate::Evaluator;
use crate::rules::threshold;
use crate::source::aws::ApiError;
use crate::source::files::FolderError;
use crate::state::{State, StateError, StateTallies};
use crate::when;

/// An error of one poll.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// An object could not be read to its end (it is read again).
    #[error("{0}")]
    Object(String),
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
    /// Records skipped (unreadable, no rule's literals in them).
    pub malformed: u64,
    /// Records not read as they were: the first few, described, and counts per kind.
    pub notes: Vec<RecordNote>,
    pub note_counts: std::collections::BTreeMap<NoteKind, u64>,
    /// First seen minus eventTime of every alert raised, in seconds, where the stream had read
    /// the time before (a first poll or a catch-up tells nothing of delivery delays).
    pub lateness: Vec<f64>,
    /// Alerts raised for events later than `overlap`.
    pub late: Vec<Late>,
    /// Alerts raised that no sink takes (logged as errors).
    pub undeliverable: u64,
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
    // Threshold rules' matches are counted; what reaches a threshold takes their place. The
    // counts are saved after the raises, before the flush.
    let alerts = std::mem::take(&mut found.alerts);
    let mut tallies = StateTallies::new(state);
    found.alerts = threshold::apply(eval.rules(), alerts, &mut tallies)?;
    found.sort();
    for a in &found.alerts {
        let sinks = eval.route(&a.rule, a.severity);
        let nowhere = sinks.is_empty();
        if state.raise(a, sinks, now)? {
            rep.raised += 1;
            if nowhere {
                // Loud, with the facts: the log is the one place this alert reaches.
                rep.undeliverable += 1;
                tracing::error!(rule = %a.rule, event_id = %a.event_id, event_time = %a.event_time, source = %a.source, severity = %a.severity, "ALERT WITH NOWHERE TO GO (no sink takes it: none configured, the rule's `sinks` is empty, or every sink's min_severity is above it): {}; record: {}", a.title, crate::alert::fields::truncate(&a.record, 2000));
            } else {
                tracing::info!(rule = %a.rule, event_id = %a.event_id, event_time = %a.event_time, source = %a.source, "alert raised");
            }
            on_raised(a);
        } else {
            rep.repeated += 1;
        }
    }
    tallies.commit()?;
    if !found.alerts.is_empty() {
        state.flush()?;
    }
    Ok(())
}

impl PollReport {
    /// Adds another report's counts and notes (an object read on its own).
    pub fn absorb(&mut self, o: PollReport) {
        self.windows += o.windows;
        self.pages += o.pages;
        self.records += o.records;
        self.raised += o.raised;
        self.repeated += o.repeated;
        self.malformed += o.malformed;
        self.undeliverable += o.undeliverable;
        for (k, v) in o.note_counts {
            *self.note_counts.entry(k).or_default() += v;
        }
        for n in o.notes {
            if self.notes.len() < MAX_NOTES {
                self.notes.push(n);
            }
        }
        self.lateness.extend(o.lateness);
        self.late.extend(o.late);
    }

    /// Logs what a read noted about its records (each with its place) and keeps the counts.
    pub fn tell(&mut self, source: &str, mut found: Found) {
        for n in &found.notes {
            let said = if n.what.starts_with(&n.place) {
                n.what.clone()
            } else {
                format!("{}: {}", n.place, n.what)
            };
            // A part of an input left unread may hide anything: an error, not a warning.
            if n.kind == NoteKind::Unread {
                tracing::error!(source, kind = n.kind.label(), "{said}");
            } else {
                tracing::warn!(source, kind = n.kind.label(), "{said}");
            }
        }
        let shown = found.notes.len() as u64;
        let total: u64 = found.counts.values().sum();
        if total > shown {
            tracing::warn!(
                source,
                "… and {} more records not read as they were",
                total - shown
            );
        }
        self.malformed += found.skipped();
        for (k, v) in std::mem::take(&mut found.counts) {
            *self.note_counts.entry(k).or_default() += v;
        }
        if self.notes.len() < MAX_NOTES {
            self.notes.append(&mut found.notes);
        }
    }
}

/// Forgets raised alerts too old to be read again.
pub fn expire(state: &State, now: Timestamp, retention: Duration) -> Result<usize, StateError> {
    // Threshold counts with nothing for longer than the longest period allowed.
    let counts = now
        .checked_sub(when::signed(crate::rules::threshold::MAX_PERIOD))
        .unwrap_or(now);
    state.expire_tallies(counts)?;
    state.expire_raised(now.checked_sub(when::signed(retention)).unwrap_or(now))
}
