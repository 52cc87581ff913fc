//! Objects of a bucket read by a standby for the instance that holds the lease (several
//! instances share the reading of an S3 queue): the standby reads an object as the holder
//! would, keeping the alerts as found (before thresholds, unraised); the holder takes each in
//! as if it had read it: an object it has read already is skipped, the others' alerts go
//! through thresholds, dedup, silences and the outbox, and the object is marked read, in one
//! flush. The holder judges the key again itself (its clock, its configuration).

use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::bucket::{Fetched, Reader};
use super::found::Found;
use super::raise::raise_all;
use super::report::{PollError, PollReport};
use crate::alert::Alert;
use crate::state::ObjectMark;
use crate::when;

/// One object read by a standby.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ObjectRead {
    pub key: String,
    pub etag: String,
    /// What could not be read of it (the object is not read again).
    pub problem: Option<String>,
    /// Its matches, as found.
    pub alerts: Vec<Alert>,
}

/// What the holder did with a handed batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TakenIn {
    /// Objects taken in (raised and marked read).
    pub taken: usize,
    /// Objects read before (by the holder's listing, or handed twice): skipped.
    pub already: usize,
    /// Keys that are not this source's logs (a standby with another configuration): skipped.
    pub foreign: usize,
}

impl Reader {
    /// Reads object `key` for the holder. `None` when told to stop before its end.
    pub(crate) async fn read_for_holder(
        &self,
        key: &str,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<Option<ObjectRead>, PollError> {
        let found = Arc::new(Mutex::new(Vec::new()));
        match self.fetch(key, now, Some(found.clone()), rep).await? {
            Fetched::Stopped => Ok(None),
            Fetched::Done { etag, problem } => {
                let alerts = std::mem::take(&mut *found.lock().expect("the collected alerts"));
                Ok(Some(ObjectRead {
                    key: key.to_string(),
                    etag,
                    problem,
                    alerts,
                }))
            }
        }
    }

    /// Takes in the objects a standby read, and makes them durable (one flush).
    pub(crate) fn take_in(
        &self,
        objects: Vec<ObjectRead>,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<TakenIn, PollError> {
        let mut t = TakenIn::default();
        for o in objects {
            let Some(k) = self.key_of(&o.key, now) else {
                tracing::warn!(source = %self.spec.name, key = %o.key, "a standby handed an object that is not one of this source's logs: skipped (is its configuration the same?)");
                t.foreign += 1;
                continue;
            };
            let stream = k.place.stream();
            if self.was_read(&stream, &o.key, &o.etag)? {
                t.already += 1;
                continue;
            }
            let mut found = Found::default();
            found.alerts = o.alerts;
            raise_all(&self.judge, &self.state, &mut found, now, rep)?;
            let mark = ObjectMark {
                etag: o.etag,
                time_ms: when::millis(k.mark_time(now)),
                problem: o.problem,
            };
            self.state
                .mark_object(&self.spec.name, &stream, &o.key, &mark)?;
            if let Some(why) = &k.doubt {
                self.doubted(&o.key, why, rep);
            }
            rep.windows += 1;
            t.taken += 1;
        }
        self.state.flush()?;
        Ok(t)
    }
}
