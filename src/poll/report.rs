//! What a poll did (records read, alerts raised, notes on records not read as they were,
//! lateness) and how it failed.

use std::time::Duration;

use super::found::{Found, NoteKind, RecordNote, MAX_NOTES};
use crate::source::aws::ApiError;
use crate::source::files::FolderError;
use crate::state::StateError;

/// An error of one poll.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
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
    /// Alerts new to the outbox, by rule.
    pub by_rule: std::collections::BTreeMap<String, u64>,
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
    /// Matches recorded but kept from delivery, by rule and why (`silenced`, `excepted`,
    /// `shadow`).
    pub quieted: std::collections::BTreeMap<(String, &'static str), u64>,
    /// Objects whose name's time is not trusted: (object, why).
    pub suspicious: Vec<(String, String)>,
    /// Objects set aside in this poll because they could not be read: (object, error).
    pub set_aside: Vec<(String, String)>,
    /// Symbolic links found for the first time in a `files` source's folder (not followed).
    pub links_skipped: u64,
    /// The trail's digests verified, the log files checked against them, and those read only
    /// because a digest listed them.
    pub digests: u64,
    pub log_files_checked: u64,
    pub log_files_read: u64,
    /// What checking the digests found.
    pub(crate) findings: Vec<crate::integrity::finding::Finding>,
}

impl PollReport {
    /// Adds another report's counts and notes (an object read on its own).
    pub fn absorb(&mut self, o: PollReport) {
        self.windows += o.windows;
        self.pages += o.pages;
        self.records += o.records;
        self.raised += o.raised;
        for (k, v) in o.by_rule {
            *self.by_rule.entry(k).or_default() += v;
        }
        self.repeated += o.repeated;
        self.malformed += o.malformed;
        self.undeliverable += o.undeliverable;
        for (k, v) in o.quieted {
            *self.quieted.entry(k).or_default() += v;
        }
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
        self.suspicious.extend(o.suspicious);
        self.set_aside.extend(o.set_aside);
        self.links_skipped += o.links_skipped;
        self.digests += o.digests;
        self.log_files_checked += o.log_files_checked;
        self.log_files_read += o.log_files_read;
        self.findings.extend(o.findings);
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
