//! What can be asked of the state through the control socket, and the one function that
//! answers it (in the daemon, or in a command when no daemon runs).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::state::{HistoryEntry, Silence, State};
use crate::when;

/// The socket's file name in the state directory.
pub(crate) const SOCKET: &str = "control.sock";

/// Alerts of the history in one answer: a history of any size is read a page at a time, by
/// the daemon and by the command.
pub(crate) const HISTORY_PAGE: usize = 500;

/// A request, one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "ask", rename_all = "snake_case")]
pub(crate) enum Request {
    AddSilence {
        silence: Silence,
    },
    Silences,
    RemoveSilence {
        id: u64,
    },
    /// A page of the alerts raised since a time (ms): at most `HISTORY_PAGE`, those whose id
    /// is above `after`, by id (the asker asks again after the last one until a page is short).
    History {
        since_ms: i64,
        #[serde(default)]
        after: u64,
    },
    HistoryEntry {
        id: u64,
    },
    /// What the status page shows besides the history (`report --format html`).
    Kept,
    /// Dead letters (of one sink, or all) back in the outbox.
    Redrive {
        sink: Option<String>,
    },
}

impl Request {
    /// True when answering it writes to the state.
    pub(crate) fn writes(&self) -> bool {
        matches!(
            self,
            Request::AddSilence { .. } | Request::RemoveSilence { .. } | Request::Redrive { .. }
        )
    }
}

/// The answer, one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub(crate) enum Answer {
    Silence {
        silence: Silence,
    },
    Silences {
        silences: Vec<Silence>,
    },
    Removed {
        silence: Option<Silence>,
    },
    History {
        alerts: Vec<HistoryEntry>,
    },
    HistoryEntry {
        alert: Option<Box<HistoryEntry>>,
    },
    Redriven {
        count: usize,
    },
    Kept {
        kept: Box<crate::status::facts::Kept>,
    },
    Error {
        error: String,
    },
}

/// Answers a request on the state; what changes is logged (by the daemon, in its journal).
pub(crate) fn answer(state: &State, req: Request) -> Answer {
    let out = match req {
        Request::AddSilence { silence } => state.add_silence(silence).map(|s| {
            tracing::info!(
                silence = s.id,
                rule = %s.rule,
                until = %s.until(),
                "silence {} added: rule {}, {}: {}",
                s.id,
                s.rule,
                s.when.describe(),
                s.reason
            );
            Answer::Silence { silence: s }
        }),
        Request::Silences => state
            .silences()
            .map(|silences| Answer::Silences { silences }),
        Request::RemoveSilence { id } => state.remove_silence(id).map(|s| {
            if let Some(s) = &s {
                tracing::info!(
                    silence = s.id,
                    "silence {} removed (rule {}, {})",
                    s.id,
                    s.rule,
                    s.reason
                );
            }
            Answer::Removed { silence: s }
        }),
        Request::History { since_ms, after } => state
            .history_page(when::from_millis(since_ms), after, HISTORY_PAGE)
            .map(|alerts| Answer::History { alerts }),
        Request::HistoryEntry { id } => state.history_entry(id).map(|alert| Answer::HistoryEntry {
            alert: alert.map(Box::new),
        }),
        Request::Kept => {
            crate::status::facts::Kept::read(state, jiff::Timestamp::now()).map(|kept| {
                Answer::Kept {
                    kept: Box::new(kept),
                }
            })
        }
        Request::Redrive { sink } => state.redrive(sink.as_deref()).map(|count| {
            tracing::info!("redrive: {count} dead letters back in the outbox");
            Answer::Redriven { count }
        }),
    };
    out.unwrap_or_else(|e| Answer::Error {
        error: e.to_string(),
    })
}

/// Removes the silences that ended, saying each in the log.
pub(crate) fn end_silences(state: &State, now: Timestamp) {
    match state.expire_silences(now) {
        Ok(ended) => {
            for s in ended {
                tracing::info!(
                    silence = s.id,
                    "silence {} ended at {} (rule {}, {}: {}): matching alerts are delivered again",
                    s.id,
                    s.until(),
                    s.rule,
                    s.when.describe(),
                    s.reason
                );
            }
        }
        Err(e) => tracing::error!("silences: {e}"),
    }
}
