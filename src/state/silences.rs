//! Silences: conditions on a rule's records (a glob on the rule's name, `path=value` on the
//! record) under which its alerts are recorded but not delivered, until they end. Added and
//! removed at run time (`trailwatch silence`), read by every raise, so a silence takes effect
//! at the next poll; an ended silence is removed (and said) by the daemon.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::open::{Result, State};
use super::StateError;
use crate::conditions::{glob, valid_path, Conditions};
use crate::names::OwnAlert;
use crate::when;

/// The longest a silence may last: it must end, and a month is long.
pub(crate) const LONGEST: std::time::Duration = std::time::Duration::from_secs(30 * 86400);
/// How far ahead of this host's clock a silence's start may be (another host's clock).
const CLOCK_MARGIN_MS: i64 = 5 * 60_000;
/// The most conditions a silence holds, and the longest text of any of its parts.
const MOST_CONDITIONS: usize = 32;
const LONGEST_TEXT: usize = 1024;

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
        self.names(rule, now) && self.when.hold(record)
    }

    /// True when it is in force at `now` and names this rule (whatever its conditions).
    pub fn names(&self, rule: &str, now: Timestamp) -> bool {
        when::millis(now) < self.until_ms && glob(&self.rule, rule)
    }

    pub fn until(&self) -> Timestamp {
        when::from_millis(self.until_ms)
    }

    /// Why it may not be kept, if it may not: what `trailwatch silence add` checks, checked
    /// again here whatever door it came through. It names a rule (never trailwatch's own
    /// alerts), says why, holds sound conditions, starts by now and ends within `LONGEST`.
    pub(crate) fn refused(&self, now: Timestamp) -> Option<String> {
        let now = when::millis(now);
        let long = |t: &str| t.chars().count() > LONGEST_TEXT;
        let days = LONGEST.as_secs() / 86400;
        if self.rule.trim().is_empty() || long(&self.rule) {
            return Some("a silence names a rule (or a glob of rules)".into());
        }
        if OwnAlert::is_own(&self.rule) {
            return Some(format!(
                "rule '{}': trailwatch's own alerts cannot be silenced",
                self.rule
            ));
        }
        if self.reason.trim().is_empty() || long(&self.reason) {
            return Some(format!(
                "a silence says why, in at most {LONGEST_TEXT} characters"
            ));
        }
        let bad = |c: &crate::conditions::Condition| {
            !valid_path(&c.path)
                || c.any.is_empty()
                || long(&c.path)
                || c.any.iter().any(|v| long(v))
        };
        if self.when.0.len() > MOST_CONDITIONS || self.when.0.iter().any(bad) {
            return Some(format!(
                "a silence holds at most {MOST_CONDITIONS} conditions, each a record path and values"
            ));
        }
        let longest = i64::try_from(LONGEST.as_millis()).expect("30 days in ms");
        if self.since_ms > now + CLOCK_MARGIN_MS
            || self.until_ms <= self.since_ms
            || self.until_ms - self.since_ms > longest
            || self.until_ms > now + longest + CLOCK_MARGIN_MS
        {
            return Some(format!(
                "a silence starts by now and ends within {days} days of it (from {} to {})",
                when::from_millis(self.since_ms),
                when::from_millis(self.until_ms)
            ));
        }
        None
    }
}

impl State {
    /// Adds a silence (its `id` is given here) and makes it durable; returns it. One that
    /// breaks a silence's rules (`Silence::refused`) is refused.
    pub fn add_silence(&self, mut s: Silence) -> Result<Silence> {
        if let Some(why) = s.refused(Timestamp::now()) {
            return Err(StateError::Refused(why));
        }
        self.with(|st| {
            // Ids start at 1 and count one by one: people type them.
            s.id = st.silence_id();
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

    /// The silences in force at `now`. One that ends further ahead than a silence may (kept
    /// by an older version, or written into the table by hand) is not honoured, and said.
    pub fn active_silences(&self, now: Timestamp) -> Result<Vec<Silence>> {
        let ms = when::millis(now);
        let longest = i64::try_from(LONGEST.as_millis()).expect("30 days in ms");
        Ok(self
            .silences()?
            .into_iter()
            .filter(|s| s.until_ms > ms)
            .filter(|s| {
                let sound = s.until_ms.saturating_sub(s.since_ms) <= longest
                    && s.until_ms <= ms.saturating_add(longest + CLOCK_MARGIN_MS);
                if !sound {
                    tracing::error!(silence = s.id, "silence {} (rule {}) ends at {} ms, further than a silence may: it is not honoured (`trailwatch silence remove {}`)", s.id, s.rule, s.until_ms, s.id);
                }
                sound
            })
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

    #[test]
    fn a_silence_that_breaks_the_rules_is_refused_whatever_door_it_came_through() {
        let dir = tempfile::tempdir().unwrap();
        let st = State::open(dir.path()).unwrap();
        let now = Timestamp::now();
        let ms = when::millis(now);
        let good = Silence {
            id: 0,
            rule: "iam-*".into(),
            when: Conditions::parse_pairs(&["userIdentity.userName=ci-bot".into()]).unwrap(),
            since_ms: ms,
            until_ms: ms + 3_600_000,
            reason: "CI".into(),
        };
        let bad = |f: &dyn Fn(&mut Silence)| {
            let mut s = good.clone();
            f(&mut s);
            match st.add_silence(s) {
                Err(StateError::Refused(why)) => why,
                other => panic!("not refused: {other:?}"),
            }
        };
        assert!(bad(&|s| s.until_ms = 9_000_000_000_000_000_000).contains("ends within 30 days"));
        assert!(bad(&|s| s.until_ms = s.since_ms).contains("ends within"));
        assert!(bad(&|s| s.since_ms = ms + 86_400_000).contains("starts by now"));
        let own = OwnAlert::Health.name();
        assert!(bad(&|s| s.rule = own.into()).contains("own alerts"));
        assert!(bad(&|s| s.rule = " ".into()).contains("names a rule"));
        assert!(bad(&|s| s.reason = "".into()).contains("says why"));
        assert!(bad(&|s| s.when.0[0].path = "a..b".into()).contains("conditions"));
        assert!(bad(&|s| s.when.0[0].any.clear()).contains("conditions"));
        assert!(
            st.silences().unwrap().is_empty(),
            "nothing refused was kept"
        );
        assert_eq!(st.add_silence(good.clone()).unwrap().rule, "iam-*");
        // One kept by an older version that ends too far ahead is not honoured.
        st.with(|x| {
            let mut s = good.clone();
            s.id = 99;
            s.until_ms = 9_000_000_000_000_000_000;
            x.silences
                .insert(99u64.to_be_bytes(), serde_json::to_vec(&s).unwrap())
                .map(|_| ())
        })
        .unwrap();
        let active: Vec<u64> = st
            .active_silences(now)
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(active.len(), 1);
        assert!(!active.contains(&99));
    }
}
