//! Threshold rules' counts, per rule and key: kept in the state so that a restart does not reset
//! them (the counting itself is `rules::threshold`'s).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::keys::key2;
use super::open::{Result, State};
use super::StateError;
use crate::when;

/// The matches counted for one rule and key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// (eventTime in ms, eventID) of the matches in the current window, oldest first.
    pub events: Vec<(i64, String)>,
    /// After an alert: matches before this time (ms) are not counted.
    pub quiet_until: i64,
}

impl Tally {
    /// The newest time it knows (its last event, or the end of its quiet time).
    pub fn newest(&self) -> i64 {
        self.events
            .last()
            .map_or(self.quiet_until, |e| e.0.max(self.quiet_until))
    }
}

impl State {
    /// A threshold rule's count for one key.
    pub fn tally(&self, rule: &str, key: &str) -> Result<Tally> {
        let Some(v) = self.with(|s| s.tallies.get(key2(rule, key)))? else {
            return Ok(Tally::default());
        };
        serde_json::from_slice(&v).map_err(|e| StateError::Corrupt(format!("count of {rule}: {e}")))
    }

    /// Keeps a threshold rule's count (made durable with the alerts it goes with).
    pub fn put_tally(&self, rule: &str, key: &str, t: &Tally) -> Result<()> {
        let v = serde_json::to_vec(t).expect("a tally serializes");
        self.with(|s| s.tallies.insert(key2(rule, key), v).map(|_| ()))
    }

    /// Forgets counts with nothing since `before` (their period is long over).
    pub fn expire_tallies(&self, before: Timestamp) -> Result<usize> {
        let before = when::millis(before);
        self.with(|s| {
            let mut n = 0;
            for kv in s.tallies.iter() {
                let (k, v) = kv?;
                let old = serde_json::from_slice::<Tally>(&v).map_or(true, |t| t.newest() < before);
                if old {
                    s.tallies.remove(k)?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }
}
