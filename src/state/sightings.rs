//! First-seen rules' history, kept in the state so that a restart (or another instance) knows
//! what was seen: each combination's sighting, by rule and values, and since when each rule
//! judges each account (its learning). The judging itself is `rules::first_seen`'s. A
//! combination is forgotten once its window has passed since it was last seen; a sighting is
//! made durable with the alerts of its batch, and before any watermark past it.
//!
//! Keys: `seen` NUL rule NUL value NUL value…; `learn` NUL rule NUL account. Values are
//! compact: three big-endian times (first, last, forgotten after) and the network in words.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::keys::i64_of;
use super::open::{Result, State};
use crate::when;

/// What is remembered of one combination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sighting {
    /// The eventTimes (ms) it was first and last seen at.
    pub(crate) first_ms: i64,
    pub(crate) last_ms: i64,
    /// Forgotten after this: the last sighting plus the rule's window.
    pub(crate) until_ms: i64,
    /// Its network in words, when a field is the source's network (`AS64501 Acme Corp`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) said: String,
}

const SEEN: &str = "seen";
const LEARN: &str = "learn";

/// A key: `kind` and the parts, NUL between them (a NUL in a part becomes U+FFFD).
fn key(kind: &str, parts: &[&str]) -> Vec<u8> {
    let mut k = kind.as_bytes().to_vec();
    for p in parts {
        k.push(0);
        match memchr::memchr(0, p.as_bytes()) {
            None => k.extend_from_slice(p.as_bytes()),
            Some(_) => k.extend_from_slice(p.replace('\0', "\u{fffd}").as_bytes()),
        }
    }
    k
}

fn encode(s: &Sighting) -> Vec<u8> {
    let mut v = Vec::with_capacity(24 + s.said.len());
    for t in [s.first_ms, s.last_ms, s.until_ms] {
        v.extend_from_slice(&t.to_be_bytes());
    }
    v.extend_from_slice(s.said.as_bytes());
    v
}

fn decode(v: &[u8]) -> Sighting {
    let at = |i: usize| v.get(i * 8..).map_or(0, i64_of);
    Sighting {
        first_ms: at(0),
        last_ms: at(1),
        until_ms: at(2),
        said: v
            .get(24..)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
    }
}

impl State {
    /// Since when `rule` judges `account` (its first record's eventTime, ms).
    pub(crate) fn learning_since(&self, rule: &str, account: &str) -> Result<Option<i64>> {
        let v = self.with(|s| s.sightings.get(key(LEARN, &[rule, account])))?;
        Ok(v.map(|v| i64_of(&v)))
    }

    pub(crate) fn set_learning_since(&self, rule: &str, account: &str, ms: i64) -> Result<()> {
        let k = key(LEARN, &[rule, account]);
        self.with(|s| s.sightings.insert(k, ms.to_be_bytes().to_vec()).map(|_| ()))
    }

    /// The sighting of one combination of `rule`.
    pub(crate) fn sighting(&self, rule: &str, combo: &[String]) -> Result<Option<Sighting>> {
        let mut parts = vec![rule];
        parts.extend(combo.iter().map(String::as_str));
        let v = self.with(|s| s.sightings.get(key(SEEN, &parts)))?;
        Ok(v.map(|v| decode(&v)))
    }

    /// Keeps a sighting (durable with the alerts of its batch).
    pub(crate) fn put_sighting(&self, rule: &str, combo: &[String], s: &Sighting) -> Result<()> {
        let mut parts = vec![rule];
        parts.extend(combo.iter().map(String::as_str));
        let k = key(SEEN, &parts);
        self.with(|t| t.sightings.insert(k, encode(s)).map(|_| ()))
    }

    /// Every combination of `rule` whose first value is `first`, with its sighting.
    pub(crate) fn sightings_with_first(
        &self,
        rule: &str,
        first: &str,
    ) -> Result<Vec<(Vec<String>, Sighting)>> {
        let mut prefix = key(SEEN, &[rule, first]);
        prefix.push(0);
        let skip = key(SEEN, &[rule]).len() + 1;
        self.with(|s| {
            let mut out = Vec::new();
            for kv in s.sightings.scan_prefix(&prefix) {
                let (k, v) = kv?;
                let combo = String::from_utf8_lossy(&k[skip.min(k.len())..])
                    .split('\0')
                    .map(String::from)
                    .collect();
                out.push((combo, decode(&v)));
            }
            Ok(out)
        })
    }

    /// Forgets the combinations whose window has passed at `now`; how many.
    pub(crate) fn expire_sightings(&self, now: Timestamp) -> Result<usize> {
        let now = when::millis(now);
        let prefix = key(SEEN, &[]);
        self.with(|s| {
            let mut n = 0;
            for kv in s.sightings.scan_prefix(&prefix) {
                let (k, v) = kv?;
                if decode(&v).until_ms < now {
                    s.sightings.remove(k)?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sightings_are_kept_found_by_their_first_value_and_forgotten_after_their_window() {
        let dir = tempfile::tempdir().unwrap();
        let st = State::open(dir.path()).unwrap();
        let combo = |a: &str, n: &str| vec![a.to_string(), n.to_string()];
        let s = |last: i64, said: &str| Sighting {
            first_ms: 1,
            last_ms: last,
            until_ms: last + 100,
            said: said.into(),
        };
        st.put_sighting("r", &combo("alice", "AS1"), &s(10, "AS1 One"))
            .unwrap();
        st.put_sighting("r", &combo("alice", "AS2"), &s(500, ""))
            .unwrap();
        st.put_sighting("r", &combo("alicea", "AS1"), &s(10, ""))
            .unwrap();
        st.put_sighting("r", &combo("al\0ice", "AS3"), &s(10, ""))
            .unwrap();
        assert_eq!(
            st.sighting("r", &combo("alice", "AS1")).unwrap(),
            Some(s(10, "AS1 One"))
        );
        let mine = st.sightings_with_first("r", "alice").unwrap();
        assert_eq!(mine.len(), 2, "{mine:?}");
        assert_eq!(mine[1].0, combo("alice", "AS2"));
        st.set_learning_since("r", "111122223333", 42).unwrap();
        assert_eq!(st.learning_since("r", "111122223333").unwrap(), Some(42));
        let gone = st
            .expire_sightings(Timestamp::from_millisecond(200).unwrap())
            .unwrap();
        assert_eq!(gone, 3, "the three last seen at 10: forgotten at 110");
        assert_eq!(st.sightings_with_first("r", "alice").unwrap().len(), 1);
        assert_eq!(
            st.learning_since("r", "111122223333").unwrap(),
            Some(42),
            "learning is kept"
        );
    }
}
