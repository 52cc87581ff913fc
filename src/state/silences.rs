//! Silences: conditions on a rule's records (a glob on the rule's name, `path=value` on the
//! record) under which its alerts are recorded but not delivered, until they end. Added and
//! removed at run time (`trailwatch silence`), read by every raise, so a silence takes effect
//! at the next poll; an ended silence is removed (and said) by the daemon.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::open::{Result, State};
use super::StateError;
use crate::conditions::{glob, Conditions};
use crate::when;

/// One silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: u64,
    /// A rule name, or a glob of names (`cis-*`).
    pub rule: String,
    /// What the record must hold (all of it).
    pub when: Conditions,
    pub since_ms: i64,
    pub until_ms: i64,
    pub reason: String,
}

impl Silence {
    /// True when it is in force at `now` and covers this rule's record.
    pub fn covers(&self, rule: &str, record: &serde_json::Value, now: Timestamp) -> bool {
        when::millis(now) < self.until_ms && glob(&self.rule, rule) && self.when.hold(record)
    }

    pub fn until(&self) -> Timestamp {
        when::from_millis(self.until_ms)
    }
}

impl State {
    /// Adds a silence (its `id` is given here) and makes it durable; returns it.
    pub fn add_silence(&self, mut s: Silence) -> Result<Silence> {
        self.with(|st| {
            // Ids start at 1: people type them.
            s.id = st.new_id()? + 1;
            let v = serde_json::to_vec(&s).expect("a silence serializes");
            st.silences.insert(s.id.to_be_bytes(), v)?;
            st.flush()?;
            Ok(s.clone())
        })
    }

    /// Every silence, ended ones included (until the daemon removes them), oldest first.
    pub fn silences(&self) -> Result<Vec<Silence>> {
        let raw: Vec<sled::IVec> = self.with(|st| {
            st.silences
                .iter()
                .values()
                .collect::<std::result::Result<_, _>>()
        })?;
        raw.iter()
            .map(|v| {
                serde_json::from_slice(v)
                    .map_err(|e| StateError::Corrupt(format!("a silence: {e}")))
            })
            .collect()
    }

    /// The silences in force at `now`.
    pub fn active_silences(&self, now: Timestamp) -> Result<Vec<Silence>> {
        let ms = when::millis(now);
        Ok(self
            .silences()?
            .into_iter()
            .filter(|s| s.until_ms > ms)
            .collect())
    }

    /// Removes a silence; returns it, or `None` when there is none with this id.
    pub fn remove_silence(&self, id: u64) -> Result<Option<Silence>> {
        let old = self.with(|st| {
            let old = st.silences.remove(id.to_be_bytes())?;
            st.flush()?;
            Ok(old)
        })?;
        Ok(old.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Removes the silences that ended before `now`; returns them.
    pub fn expire_silences(&self, now: Timestamp) -> Result<Vec<Silence>> {
        let ms = when::millis(now);
        let ended: Vec<Silence> = self
            .silences()?
            .into_iter()
            .filter(|s| s.until_ms <= ms)
            .collect();
        for s in &ended {
            self.with(|st| st.silences.remove(s.id.to_be_bytes()).map(|_| ()))?;
        }
        if !ended.is_empty() {
            self.flush()?;
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silences_cover_their_rules_and_records_until_they_end() {
        let dir = tempfile::tempdir().unwrap();
        let st = State::open(dir.path()).unwrap();
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let s = st
            .add_silence(Silence {
                id: 0,
                rule: "iam-*".into(),
                when: Conditions::parse_pairs(&["userIdentity.userName=ci-bot".into()]).unwrap(),
                since_ms: when::millis(now),
                until_ms: when::millis(now) + 3_600_000,
                reason: "CI".into(),
            })
            .unwrap();
        let ci = serde_json::json!({"userIdentity": {"userName": "ci-bot"}});
        let eve = serde_json::json!({"userIdentity": {"userName": "eve"}});
        assert!(s.covers("iam-user-lifecycle", &ci, now));
        assert!(!s.covers("iam-user-lifecycle", &eve, now));
        assert!(!s.covers("root-usage", &ci, now));
        let later = now + jiff::SignedDuration::from_hours(2);
        assert!(!s.covers("iam-user-lifecycle", &ci, later));
        assert_eq!(st.active_silences(now).unwrap().len(), 1);
        assert!(st.active_silences(later).unwrap().is_empty());
        assert_eq!(st.expire_silences(later).unwrap(), vec![s.clone()]);
        assert!(st.silences().unwrap().is_empty());
        assert_eq!(st.remove_silence(s.id).unwrap(), None);
    }
}
