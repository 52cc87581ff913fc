//! Alerts of trailwatch itself: a failing or recovered stream or sink, a heartbeat, an event
//! that arrived later than `overlap`, a blind spot in what a source covers. They go through
//! the outbox like any alert, so they are delivered, retried and deduplicated the same way.

use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;

use crate::alert::{Alert, Event, Kind, RuleFacts};
use crate::names::OwnAlert;
use crate::severity::Severity;
use crate::state::State;

/// One alert of trailwatch itself.
pub(super) struct Own {
    /// Which of trailwatch's own alerts it is.
    pub rule: OwnAlert,
    pub title: String,
    pub severity: Severity,
    pub detail: String,
    /// What makes it unique: the same key is alerted once (`None`: every call is new).
    pub key: Option<String>,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// With a shared state, this instance's name: every alert of trailwatch itself names it (which
/// host's stream or sink fails matters when several run).
static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names this instance in its own alerts from now on.
pub(super) fn name_instance(name: &str) {
    let _ = INSTANCE.set(name.to_string());
}

/// Where alerts of trailwatch itself go when the state cannot be written: straight to the
/// delivery task, which sends them without the outbox.
pub(super) type Direct = tokio::sync::mpsc::UnboundedSender<(Alert, Vec<String>)>;

impl Own {
    /// The alert.
    fn alert(self) -> Alert {
        let now = Timestamp::now();
        let id = match self.key {
            Some(k) => self.rule.id(&k),
            None => self.rule.id(&format!(
                "{}-{}",
                now.as_millisecond(),
                SEQUENCE.fetch_add(1, Ordering::Relaxed)
            )),
        };
        let facts = RuleFacts {
            name: self.rule.name(),
            title: &self.title,
            subject: &self.title,
            severity: self.severity,
        };
        let event = Event {
            id,
            time: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            source: "trailwatch".into(),
            record: String::new(),
            principal: "trailwatch".into(),
        };
        Alert::new(
            facts,
            event,
            Kind::Own {
                detail: match INSTANCE.get() {
                    Some(i) => format!("{} (instance {i})", self.detail),
                    None => self.detail,
                },
            },
        )
    }

    /// Queues it for `sinks`; true when it is new. When the state cannot be written, it goes
    /// to `direct` instead (sent once, without the outbox).
    pub(super) fn raise(self, state: &State, sinks: Vec<String>, direct: &Direct) -> bool {
        let rule = self.rule;
        let alert = self.alert();
        let raised = state
            .raise(&alert, sinks.clone(), Timestamp::now())
            .and_then(|new| {
                state.flush()?;
                Ok(new)
            });
        match raised {
            Ok(new) => new,
            Err(e) => {
                tracing::error!(
                    "cannot queue an alert of trailwatch itself ({rule}): {e}; it is sent directly"
                );
                let _ = direct.send((alert, sinks));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(title: &str) -> Own {
        Own {
            rule: OwnAlert::Health,
            title: title.into(),
            severity: Severity::High,
            detail: "d".into(),
            key: None,
        }
    }

    #[test]
    fn two_health_alerts_in_the_same_millisecond_are_both_raised() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        let (direct, _rx) = tokio::sync::mpsc::unbounded_channel();
        // Raised back to back: well inside one millisecond.
        assert!(health("a failing").raise(&state, vec!["s".into()], &direct));
        assert!(health("b failing").raise(&state, vec!["s".into()], &direct));
        let out = state.outbox().unwrap();
        assert_eq!(out.len(), 2);
        assert_ne!(out[0].1.alert.event_id, out[1].1.alert.event_id);
    }
}
