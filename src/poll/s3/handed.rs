//! Objects read by a standby, taken in by the instance that holds the lease as if it had read
//! them itself: an object it has read already is skipped, the others' alerts go through
//! thresholds, dedup, silences and the outbox, and the object is marked read; every batch
//! taken at once is made durable in one flush.
//! The holder judges each key again itself (its clock, its configuration): what a standby
//! hands is only what it found.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::super::found::Found;
use super::super::raise::raise_staged;
use super::super::report::{PollError, PollReport};
use super::object::ObjectRead;
use super::reader::Reader;

/// What the holder did with a handed batch: the standby's answer.
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
    /// Takes in the batches standbys handed (each the JSON of its `ObjectRead`s) and makes
    /// them all durable in one flush: each batch's answer, or why it was not taken (a batch
    /// that is not one). An error of the state fails them all (their messages come back).
    pub(crate) fn take_in(
        &self,
        batches: &[&[u8]],
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<Vec<Result<TakenIn, String>>, PollError> {
        let mut answers = Vec::with_capacity(batches.len());
        for batch in batches {
            let objects: Vec<ObjectRead> = match serde_json::from_slice(batch) {
                Ok(o) => o,
                Err(e) => {
                    answers.push(Err(format!(
                        "a standby handed what is not a batch of objects: {e}"
                    )));
                    continue;
                }
            };
            answers.push(Ok(self.take_objects(objects, now, rep)?));
        }
        self.state.flush()?;
        Ok(answers)
    }

    /// Raises one batch's objects and marks them read, not yet durable.
    fn take_objects(
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
            if self.was_read(&k.place.stream(), &o.key, &o.etag)? {
                t.already += 1;
                continue;
            }
            let seen = o.seen();
            let mut found = Found::of_alerts(o.alerts);
            raise_staged(&self.judge, &self.state, &mut found, now, rep)?;
            self.mark_read(&o.key, &k, seen, now, rep)?;
            t.taken += 1;
        }
        Ok(t)
    }
}
