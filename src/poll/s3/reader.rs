//! What every read of one `s3` source shares (`Reader`), and what it knows of a key: whether
//! it is one of the source's log files, from which account and region, delivered when, and
//! whether that time can be trusted (`Key`); whether an object was read before, and marking
//! it read. Nothing in the bucket may blind a stream: a key whose name gives a time outside
//! its folder's day or in the future is read and said but never moves the watermark.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::sync::OwnedMutexGuard;

use super::super::raise::Judge;
use super::super::reading::Disposal;
use super::super::report::{PollError, PollReport};
use super::object::{Fetch, Fetched, Seen};
use crate::source::s3::{layout, KeyKind, Place, Trail};
use crate::source::SourceSpec;
use crate::state::{ObjectMark, State};
use crate::when;

/// What every read of one source shares (owned: objects are read off the async threads).
#[derive(Clone)]
pub(crate) struct Reader {
    pub spec: Arc<SourceSpec>,
    pub trail: Arc<Trail>,
    pub judge: Arc<Judge>,
    pub state: Arc<State>,
    pub stop: Arc<AtomicBool>,
    /// One check of a place's digests at a time (the listing and the queue both start them).
    pub verifying: Arc<Turns>,
}

/// Whose turn it is to check each place's digests: one check at a time per place, whether the
/// listing or a notification of a new digest started it.
#[derive(Default)]
pub(crate) struct Turns(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl Turns {
    /// Waits for the turn of the place whose digests are checked under `stream`.
    pub(crate) async fn take(&self, stream: &str) -> OwnedMutexGuard<()> {
        let turn = self
            .0
            .lock()
            .expect("turns lock")
            .entry(stream.to_string())
            .or_default()
            .clone();
        turn.lock_owned().await
    }
}

/// A log file of a place this source reads, as its key names it.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub place: Place,
    /// The delivery time in its name.
    pub time: Timestamp,
    /// Why that time cannot be trusted, if it cannot (see `layout::doubt`).
    pub doubt: Option<String>,
}

impl Key {
    /// The time its read mark keeps: its name's, unless that cannot be trusted.
    pub(crate) fn mark_time(&self, now: Timestamp) -> Timestamp {
        if self.doubt.is_some() {
            self.time.min(now)
        } else {
            self.time
        }
    }
}

impl Reader {
    /// What the source's key `key` is, if it is a log file of a place this source reads.
    pub(crate) fn key_of(&self, key: &str, now: Timestamp) -> Option<Key> {
        match layout::parse(&self.trail.bucket.base, key) {
            KeyKind::Log {
                place,
                time,
                folder,
            } if self.trail.wants(&place) => Some(Key {
                doubt: layout::doubt(time, folder, now),
                place,
                time,
            }),
            _ => None,
        }
    }

    /// The place whose digest `key` is, if it is one of a place this source reads and checks
    /// the digests of.
    pub(crate) fn digest_of(&self, key: &str) -> Option<Place> {
        match layout::parse(&self.trail.bucket.base, key) {
            KeyKind::Digest { place, .. }
                if self.trail.keys.is_some() && self.trail.wants(&place) =>
            {
                Some(place)
            }
            _ => None,
        }
    }

    /// `s3://bucket/key`, as messages name an object.
    pub(crate) fn object_name(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.trail.bucket.name)
    }

    /// True when the object was read before (same ETag; `etag` empty: any).
    pub(crate) fn was_read(&self, stream: &str, key: &str, etag: &str) -> Result<bool, PollError> {
        let m = self.state.object_mark(&self.spec.name, stream, key)?;
        Ok(m.is_some_and(|m| etag.is_empty() || m.etag == etag))
    }

    /// Marks object `key` of `k`'s stream read (made durable with its batch, by the caller),
    /// and says it when its name cannot be trusted.
    pub(crate) fn mark_read(
        &self,
        key: &str,
        k: &Key,
        seen: Seen,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<(), PollError> {
        let mark = ObjectMark {
            etag: seen.etag,
            time_ms: when::millis(k.mark_time(now)),
            problem: seen.problem,
            proof: seen.proof,
            verified: false,
        };
        self.state
            .mark_object(&self.spec.name, &k.place.stream(), key, &mark)?;
        if let Some(why) = &k.doubt {
            self.doubted(key, why, rep);
        }
        rep.windows += 1;
        Ok(())
    }

    /// Says a key whose name cannot be trusted (read, alerted, but it moves no watermark).
    fn doubted(&self, key: &str, why: &str, rep: &mut PollReport) {
        let obj = self.object_name(key);
        tracing::warn!(source = %self.spec.name, key, "{obj}: its name is not trusted ({why}): read, but the stream's watermark does not move for it. Someone may be trying to blind trailwatch: check who wrote it");
        rep.suspicious.push((obj, why.to_string()));
    }

    /// Reads object `key`, its matches disposed of as `disposal` says.
    pub(crate) async fn fetch(
        &self,
        key: &str,
        disposal: Disposal,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<Fetched, PollError> {
        let f = Fetch {
            trail: &self.trail,
            source: &self.spec.name,
            limits: self.spec.limits,
            judge: &self.judge,
            state: Some(&self.state),
            disposal,
            stop: &self.stop,
        };
        f.object(key, now, rep).await
    }

    /// Reads object `key` of `k`'s place, raises its alerts and marks it read (durable with
    /// its batch, or by the caller). `Ok(false)` when told to stop before its end.
    pub(crate) async fn read_object(
        &self,
        key: &str,
        k: &Key,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<bool, PollError> {
        match self.fetch(key, Disposal::Raise, now, rep).await? {
            Fetched::Stopped => Ok(false),
            Fetched::Done(o) => {
                self.mark_read(key, k, o.seen(), now, rep)?;
                Ok(true)
            }
        }
    }
}
