//! Objects announced by the bucket's notifications: what the messages of one receive name is
//! read, and what it holds disposed of in one place (`Reader::take_messages`): the instance
//! that holds the lease (or one host) raises it and makes it durable in one flush; a standby
//! hands it to the holder through the table and waits for its answer. A new digest of the
//! trail has the holder check its place's digests at once (`verify`). Then each message gets
//! its verdict: deleted, or handed back to the queue (at once, or in a minute when it could
//! not be dealt with; the listing reads its objects meanwhile). Receiving, keeping messages
//! hidden and carrying out the verdicts is the daemon's queue task.

use std::time::Duration;

use super::super::reading::Disposal;
use super::super::report::{PollError, PollReport};
use super::handed::TakenIn;
use super::listing::gone;
use super::object::{Fetched, ObjectRead};
use super::reader::Reader;
use crate::instances::handover::{self, Handed};
use crate::instances::table::Table;
use crate::source::s3::queue::{self, Message};

/// A message whose objects could not be dealt with comes back after this long.
pub(crate) const RETRY_SOON: Duration = Duration::from_secs(60);

/// What becomes of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Its objects are read and durable (or it names none): deleted.
    Delete,
    /// Handed back to the queue, visible again after this long.
    Release(Duration),
}

/// What dealing with one receive came to.
#[derive(Debug, Default)]
pub(crate) struct Dealt {
    /// One per message, in order.
    pub verdicts: Vec<Verdict>,
    pub rep: PollReport,
    /// The first failure (its messages come back).
    pub failed: Option<PollError>,
    /// Objects handed to the instance that holds the lease and taken in by it.
    pub handed: u64,
}

/// What reading one message's objects came to.
enum Read {
    /// Every object it names read (and, handing, what they hold).
    Done(Vec<ObjectRead>),
    /// Told to stop.
    Stopped,
}

impl Reader {
    /// Reads the objects `messages` announce and disposes of what they hold: raised and made
    /// durable here, or, with `hand_to` (a standby), handed to the instance that holds the
    /// lease. `None` when told to stop (every message goes back to the queue at once).
    pub(crate) async fn take_messages(
        &self,
        messages: &[Message],
        hand_to: Option<&Table>,
    ) -> Option<Dealt> {
        let disposal = match hand_to {
            Some(_) => Disposal::Hand,
            None => Disposal::Raise,
        };
        let mut d = Dealt::default();
        let mut read = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            match self.read_message(m, disposal, &mut d.rep).await {
                Ok(Read::Done(objects)) => read.push((i, objects)),
                Ok(Read::Stopped) => return None,
                Err(e) => {
                    d.failed.get_or_insert(e);
                }
            }
        }
        // A message not dealt with comes back in a minute (the listing reads its objects).
        d.verdicts = vec![Verdict::Release(RETRY_SOON); messages.len()];
        match hand_to {
            None => self.make_durable(&read, &mut d),
            Some(table) => self.hand(table, messages, read, &mut d).await,
        }
        Some(d)
    }

    /// Reads the objects one message names, as `disposal` says. A failure leaves it to come
    /// back (the listing catches the object anyway); every error names the message and the
    /// object. A message that is not a notification, or names no object of this source, is
    /// dealt with at once.
    async fn read_message(
        &self,
        m: &Message,
        disposal: Disposal,
        rep: &mut PollReport,
    ) -> Result<Read, PollError> {
        let source = &self.spec.name;
        let created = match queue::created(&m.body) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(source = %source, "message {} is not an S3 notification ({e}): deleted", m.id);
                return Ok(Read::Done(Vec::new()));
            }
        };
        let mut objects = Vec::new();
        for c in created {
            if c.bucket != self.trail.bucket.name {
                tracing::warn!(source = %source, "message {} is about bucket {}, not {}: ignored", m.id, c.bucket, self.trail.bucket.name);
                continue;
            }
            let now = self.trail.clock.now();
            if let Some(place) = self.digest_of(&c.key) {
                // A new digest: the holder checks its place's digests now (a standby leaves
                // that to the holder's listing).
                if disposal == Disposal::Raise {
                    let checked = self.verify_place(&place, now).await.map_err(|e| {
                        PollError::Object(format!(
                            "message {}, {}: checking the digests of {}: {e} (left in the queue: it comes back, and the listing checks them meanwhile)",
                            m.id,
                            self.object_name(&c.key),
                            place.stream()
                        ))
                    })?;
                    rep.absorb(checked);
                }
                continue;
            }
            // Insights, other files, accounts and regions not read here.
            let Some(k) = self.key_of(&c.key, now) else {
                continue;
            };
            if self.was_read(&k.place.stream(), &c.key, "")? {
                continue;
            }
            let fetched = match self.fetch(&c.key, disposal, now, rep).await {
                Err(e) if gone(&e) && self.confirmed_gone(&c.key).await? => {
                    tracing::warn!(source = %source, key = %c.key, "message {} announces {}, which is gone (NoSuchKey, and not listed): the message is deleted", m.id, self.object_name(&c.key));
                    continue;
                }
                Err(e) => {
                    return Err(PollError::Object(format!(
                        "message {}, {}: {e} (left in the queue: it comes back, and the listing reads the object meanwhile)",
                        m.id,
                        self.object_name(&c.key)
                    )))
                }
                Ok(f) => f,
            };
            match fetched {
                Fetched::Stopped => return Ok(Read::Stopped),
                // Made durable with the other messages of its receive (`make_durable`).
                Fetched::Done(o) if disposal == Disposal::Raise => {
                    self.mark_read(&c.key, &k, o.seen(), now, rep)?;
                }
                Fetched::Done(o) => objects.push(o),
            }
        }
        Ok(Read::Done(objects))
    }

    /// The holder's: the marks of the objects its messages announced are made durable in one
    /// flush (their alerts were, as they were raised), then the messages can be deleted; a
    /// flush that fails leaves them to come back (their objects are read again, and found
    /// raised).
    fn make_durable(&self, read: &[(usize, Vec<ObjectRead>)], d: &mut Dealt) {
        if read.is_empty() {
            return;
        }
        match self.state.flush() {
            Ok(()) => {
                for (i, _) in read {
                    d.verdicts[*i] = Verdict::Delete;
                }
            }
            Err(e) => {
                d.failed.get_or_insert(e.into());
            }
        }
    }

    /// A standby's: hands what it read to the holder; the messages are deleted once it
    /// answered that their objects are durable, otherwise they go back to the queue. A batch
    /// too large for one item is handed in halves; one message's objects alone too large are
    /// left to the holder (its own queue reads, its listing).
    async fn hand(
        &self,
        table: &Table,
        messages: &[Message],
        read: Vec<(usize, Vec<ObjectRead>)>,
        d: &mut Dealt,
    ) {
        let source = &self.spec.name;
        let mut todo = vec![read];
        while let Some(part) = todo.pop() {
            let ids: Vec<usize> = part.iter().map(|(i, _)| *i).collect();
            let objects: Vec<&ObjectRead> = part.iter().flat_map(|(_, o)| o).collect();
            let mut verdict = |v| ids.iter().for_each(|i| d.verdicts[*i] = v);
            if objects.is_empty() {
                verdict(Verdict::Delete);
                continue;
            }
            let body = serde_json::to_vec(&objects).expect("objects serialize");
            match handover::hand(table, source, &body).await {
                Ok(Handed::Answered(a)) => match serde_json::from_value::<TakenIn>(a.clone()) {
                    Ok(t) => {
                        tracing::debug!(source = %source, taken = t.taken, already = t.already, "objects handed to the instance that holds the lease");
                        d.handed += objects.len() as u64;
                        verdict(Verdict::Delete);
                    }
                    Err(_) => {
                        tracing::warn!(source = %source, "the instance that holds the lease could not take in {} objects ({a}): their messages go back to the queue", objects.len());
                    }
                },
                Ok(Handed::Unanswered) => {
                    tracing::warn!(source = %source, "no instance took in {} objects read here within 30s (does one hold the lease?): their messages go back to the queue", objects.len());
                    verdict(Verdict::Release(Duration::ZERO));
                }
                Ok(Handed::TooLarge(_)) if part.len() > 1 => {
                    let mut part = part;
                    let rest = part.split_off(part.len() / 2);
                    todo.push(part);
                    todo.push(rest);
                }
                Ok(Handed::TooLarge(size)) => {
                    tracing::warn!(source = %source, "message {}: its objects' alerts weigh {size} bytes compressed, more than a table item holds: left to the instance that holds the lease (back in the queue in a minute; its listing reads them too)", messages[ids[0]].id);
                }
                Err(e) => {
                    tracing::warn!(source = %source, "{} objects read here cannot be handed to the instance that holds the lease: {e}; their messages go back to the queue", objects.len());
                }
            }
        }
    }

    /// True when a listing confirms that `key` is not in the bucket.
    async fn confirmed_gone(&self, key: &str) -> Result<bool, PollError> {
        let listed = self.trail.bucket.list(key, None, None).await?;
        Ok(!listed.keys.iter().any(|l| l.key == key))
    }
}
