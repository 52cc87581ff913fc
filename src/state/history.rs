//! The alert history: every alert raised, kept 90 days from when it was raised with what
//! became of it — delivered (to which sinks, when), silenced (by which silence), excepted (by
//! which exception), shadow (a rule on trial), dead-lettered, or with nowhere to go. Written in
//! the raise's own transaction, brought up to date by the delivery worker's outbox updates.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::open::{Result, State};
use super::StateError;
use crate::alert::Alert;
use crate::when;

/// What became of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "is", rename_all = "snake_case")]
pub enum Status {
    /// In the outbox: some sink has not taken it yet.
    Queued,
    /// Every sink took it.
    Delivered,
    /// Given up on (dead letters), or refused for good by a sink.
    Dead,
    /// No sink takes it (none configured, or every sink's min_severity is above it).
    Nowhere,
    /// Not delivered: a silence covered it.
    Silenced { silence: u64, reason: String },
    /// Not delivered: an exception of its rule covered it.
    Excepted { reason: String },
    /// Not delivered: its rule runs in shadow mode.
    Shadow,
}

impl Status {
    /// One word: queued, delivered, dead, nowhere, silenced, excepted, shadow.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Delivered => "delivered",
            Status::Dead => "dead",
            Status::Nowhere => "nowhere",
            Status::Silenced { .. } => "silenced",
            Status::Excepted { .. } => "excepted",
            Status::Shadow => "shadow",
        }
    }

    /// True for an alert kept from delivery on purpose (silenced, excepted, shadow).
    pub fn is_quiet(&self) -> bool {
        matches!(
            self,
            Status::Silenced { .. } | Status::Excepted { .. } | Status::Shadow
        )
    }
}

/// One alert of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: u64,
    pub alert: Alert,
    pub raised_ms: i64,
    pub status: Status,
    /// The sinks it was routed to.
    #[serde(default)]
    pub sinks: Vec<String>,
    /// Each sink that took it, and when (ms).
    #[serde(default)]
    pub delivered: Vec<(String, i64)>,
    /// The sinks that refused it for good (it is in the dead letters for them).
    #[serde(default)]
    pub refused: Vec<String>,
    /// The last delivery error.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl HistoryEntry {
    /// An alert raised at `raised_ms`, routed to `sinks`, nothing delivered yet.
    pub(super) fn new(
        id: u64,
        alert: Alert,
        raised_ms: i64,
        status: Status,
        sinks: Vec<String>,
    ) -> Self {
        HistoryEntry {
            id,
            alert,
            raised_ms,
            status,
            sinks,
            delivered: Vec::new(),
            refused: Vec::new(),
            last_error: None,
        }
    }

    pub fn raised(&self) -> Timestamp {
        when::from_millis(self.raised_ms)
    }

    /// What became of it at `sink`: delivered (when), refused, not sent (kept quiet), not yet.
    pub fn at_sink(&self, sink: &str) -> String {
        if let Some((_, at)) = self.delivered.iter().find(|(s, _)| s == sink) {
            format!("delivered at {}", when::from_millis(*at))
        } else if self.refused.iter().any(|s| s == sink) {
            "refused for good (in the dead letters)".to_string()
        } else if self.status.is_quiet() {
            "not sent".to_string()
        } else {
            "not yet".to_string()
        }
    }
}

/// An entry as stored; a damaged one is said as such, not taken for a database that cannot
/// be read.
fn entry_of(v: &[u8]) -> std::result::Result<HistoryEntry, StateError> {
    serde_json::from_slice(v)
        .map_err(|e| StateError::Corrupt(format!("an alert of the history: {e}")))
}

/// The value stored for an entry.
pub(super) fn value_of(e: &HistoryEntry) -> Vec<u8> {
    serde_json::to_vec(e).expect("a history entry serializes")
}

impl State {
    /// The alerts raised at or after `since`, oldest first.
    pub fn history(&self, since: Timestamp) -> Result<Vec<HistoryEntry>> {
        self.history_page(since, 0, usize::MAX)
    }

    /// At most `limit` alerts raised since `since` whose id is above `after`, by id: a page of
    /// the history (read page by page, a history of any size costs a page of memory).
    pub fn history_page(
        &self,
        since: Timestamp,
        after: u64,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>> {
        let from = when::millis(since);
        let start = after.saturating_add(1).to_be_bytes();
        self.with(|st| {
            let mut out = Vec::new();
            for kv in st.history.range_from(&start) {
                let (_, v) = kv?;
                let e = match entry_of(&v) {
                    Ok(e) => e,
                    Err(e) => return Ok(Err(e)),
                };
                if e.raised_ms >= from {
                    out.push(e);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(Ok(out))
        })?
    }

    /// Hands `f` every alert raised at or after `since`, newest first, one at a time: read
    /// from the end (ids follow the raises), so a short window of a long history costs the
    /// window, not the history. Entries up to a day older are read past (clocks move).
    pub fn history_each(&self, since: Timestamp, mut f: impl FnMut(&HistoryEntry)) -> Result<()> {
        let from = when::millis(since);
        let stop = from - 86_400_000;
        self.with(|st| {
            for kv in st.history.iter().rev() {
                let (_, v) = kv?;
                let e = match entry_of(&v) {
                    Ok(e) => e,
                    Err(e) => return Ok(Err(e)),
                };
                if e.raised_ms < stop {
                    break;
                }
                if e.raised_ms >= from {
                    f(&e);
                }
            }
            Ok(Ok(()))
        })?
    }

    /// The newest alerts `keep` takes, newest first, at most `limit`: what a page of the
    /// latest alerts shows (read from the end, a page's worth of entries at a time).
    pub fn history_newest(
        &self,
        limit: usize,
        keep: impl Fn(&HistoryEntry) -> bool,
    ) -> Result<Vec<HistoryEntry>> {
        self.with(|st| {
            let mut out = Vec::new();
            for kv in st.history.iter().rev() {
                let (_, v) = kv?;
                let e = match entry_of(&v) {
                    Ok(e) => e,
                    Err(e) => return Ok(Err(e)),
                };
                if keep(&e) {
                    out.push(e);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(Ok(out))
        })?
    }

    /// One alert of the history.
    pub fn history_entry(&self, id: u64) -> Result<Option<HistoryEntry>> {
        let v = self.with(|st| st.history.get(id.to_be_bytes()))?;
        v.map(|v| {
            serde_json::from_slice(&v)
                .map_err(|e| StateError::Corrupt(format!("alert {id} of the history: {e}")))
        })
        .transpose()
    }

    /// Brings an alert of the history up to date with `f`. Not durable until the next flush
    /// (the outbox update that goes with it flushes).
    pub(super) fn touch_history(&self, id: u64, f: impl FnOnce(&mut HistoryEntry)) -> Result<()> {
        let Some(mut e) = self.history_entry(id)? else {
            return Ok(());
        };
        f(&mut e);
        self.with(|st| {
            st.history
                .insert(id.to_be_bytes(), value_of(&e))
                .map(|_| ())
        })
    }

    /// Forgets the history raised before `before`; returns how many alerts.
    pub fn expire_history(&self, before: Timestamp) -> Result<usize> {
        /// What expiring reads of an alert: its time (one alert at a time, never the whole
        /// history in memory).
        #[derive(Deserialize)]
        struct Raised {
            raised_ms: i64,
        }
        let limit = when::millis(before);
        self.with(|st| {
            let mut n = 0;
            for kv in st.history.iter() {
                let (k, v) = kv?;
                // One that cannot be read is left for `alerts` to say.
                if serde_json::from_slice::<Raised>(&v).is_ok_and(|r| r.raised_ms < limit) {
                    st.history.remove(k)?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }
}

/// The history's view of an outbox update: the sinks that took the alert since, and whether
/// every one has.
pub(super) fn delivered_now(e: &mut HistoryEntry, pending: &[String], now_ms: i64) {
    for s in &e.sinks {
        let took = !pending.contains(s) && !e.refused.contains(s);
        if took && !e.delivered.iter().any(|(d, _)| d == s) {
            e.delivered.push((s.clone(), now_ms));
        }
    }
    if pending.is_empty() && e.status == Status::Queued {
        e.status = Status::Delivered;
    }
}
