//! The tasks of an `s3` source: the lister (every `list_interval`, the bucket's accounts and
//! regions are found again and each is polled, a few at once) and, with a queue, the listener
//! (notifications read as they arrive, each deleted only once its objects' records are
//! raised). Both read objects off the async threads; a stop ends a read between two records
//! (the object is read again next time).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::mode::Mode;
use super::poller::Context;
use super::shutdown::Shutdown;
use crate::instances::handover::{self, Handed};
use crate::instances::table::Table;
use crate::poll::bucket::{gone, Reader};
use crate::poll::handed::{ObjectRead, TakenIn};
use crate::poll::{PollError, PollReport};
use crate::source::s3::queue::{self, Message};
use crate::source::s3::Queue;
use crate::when;

/// Accounts and regions polled at once.
const AT_ONCE: usize = 8;

/// Lists the bucket on the source's schedule and polls every account and region in it.
pub(super) struct BucketPoller {
    pub reader: Reader,
    pub cx: Context,
}

impl BucketPoller {
    pub(super) async fn run(self, mut shutdown: Shutdown) {
        let (r, sh) = (&self.reader, &self.cx);
        let spec = &r.spec;
        let every = match &spec.kind {
            crate::source::SourceKind::S3 { list_interval, .. } => *list_interval,
            _ => spec.poll_interval,
        };
        loop {
            let round = tokio::select! {
                _ = self.round() => false,
                _ = shutdown.recv() => true,
            };
            if round {
                r.stop.store(true, Ordering::Relaxed);
                return;
            }
            sh.metrics.api_calls(
                &spec.name,
                r.trail.stats.calls.load(Ordering::Relaxed),
                r.trail.stats.throttled.load(Ordering::Relaxed),
            );
            if sh.mode == Mode::Once {
                return;
            }
            if shutdown.sleep(every).await {
                r.stop.store(true, Ordering::Relaxed);
                return;
            }
        }
    }

    /// One round: the places found, then each polled (`AT_ONCE` at a time).
    async fn round(&self) {
        let (r, sh) = (&self.reader, &self.cx);
        let spec = &r.spec;
        let now = r.trail.clock.now();
        // Places found later are read from the source's first round on.
        let first = now - when::signed(spec.overlap);
        if let Err(e) = sh.state.note_covered(&spec.name, "", first) {
            sh.record(&spec.name, &Err(e.into()));
            return;
        }
        let places = match r.trail.places().await {
            Ok(p) => p,
            Err(e) => {
                sh.record(&spec.name, &Err(e.into()));
                return;
            }
        };
        sh.record(&spec.name, &Ok(PollReport::default()));
        let gate = Arc::new(Semaphore::new(AT_ONCE));
        let mut polls = JoinSet::new();
        for place in places {
            let (r, sh, gate) = (r.clone(), sh.clone(), gate.clone());
            polls.spawn(async move {
                let _permit = gate.acquire().await;
                let key = format!("{}/{}", r.spec.name, place.stream());
                let res = r.poll_place(&place, r.trail.clock.now()).await;
                sh.record(&key, &res);
                if let Ok(rep) = &res {
                    sh.note_counts(&r.spec.name, rep);
                }
            });
        }
        while polls.join_next().await.is_some() {}
    }
}

/// Receives running at once per queue, in the holder and in each standby (each takes up to 10
/// messages and reads their objects in turn; a standby then waits for the holder's answer).
pub(super) const READERS: usize = 4;

/// A message whose objects could not be read comes back after this long.
const RETRY_SOON: Duration = Duration::from_secs(60);

/// Keeps received messages hidden from other receivers while they are being dealt with (a
/// large object takes longer than the short visibility timeout); never returns.
async fn keep_hidden(q: &Queue, messages: &[Message]) {
    loop {
        tokio::time::sleep(queue::VISIBILITY / 3).await;
        for m in messages {
            if let Err(e) = q.release(m, queue::VISIBILITY).await {
                tracing::warn!("cannot keep message {} hidden while it is read (another reader may read its object too; it is alerted once): {e}", m.id);
            }
        }
    }
}

/// Makes messages visible again after `after`, saying any that cannot be.
async fn release(q: &Queue, messages: &[Message], after: Duration, source: &str) {
    for m in messages {
        if let Err(e) = q.release(m, after).await {
            tracing::warn!(source, "cannot hand message {} back to the queue (it comes back after its visibility timeout): {e}", m.id);
        }
    }
}

/// Deletes messages dealt with, saying any that cannot be.
async fn delete(q: &Queue, messages: &[Message], source: &str) {
    for m in messages {
        if let Err(e) = q.delete(m).await {
            tracing::warn!(
                source,
                "cannot delete message {} (it will come again, and be dropped as read): {e}",
                m.id
            );
        }
    }
}

/// Reads the bucket's notifications as they arrive.
pub(super) struct QueuePoller {
    pub reader: Reader,
    pub cx: Context,
    /// A standby's: the shared table it hands what it reads to (the holder raises it, and
    /// the messages are deleted once it answered).
    pub hand_to: Option<Arc<Table>>,
}

/// The messages of one receive read by a standby, each with the objects it announced.
type Batch = Vec<(Message, Vec<ObjectRead>)>;

impl QueuePoller {
    pub(super) async fn run(self, mut shutdown: Shutdown) {
        let (r, sh) = (&self.reader, &self.cx);
        let Some(q) = r.trail.queue.as_ref() else {
            return;
        };
        let key = format!("{}/queue", r.spec.name);
        // `--once` takes what is waiting, without a long poll.
        let wait = match sh.mode {
            Mode::Once => Duration::from_secs(1),
            Mode::Forever => queue::WAIT,
        };
        loop {
            let got = tokio::select! {
                g = q.receive(wait) => g,
                _ = shutdown.recv() => return,
            };
            let messages = match got {
                Ok(m) => m,
                Err(e) => {
                    sh.record(&key, &Err(e.into()));
                    if sh.mode == Mode::Once || shutdown.sleep(Duration::from_secs(5)).await {
                        return;
                    }
                    continue;
                }
            };
            if messages.is_empty() && sh.mode == Mode::Once {
                return;
            }
            let mut rep = PollReport::default();
            let mut failed = None;
            let mut batch = Batch::new();
            for (i, m) in messages.iter().enumerate() {
                let mut objects = Vec::new();
                let done = tokio::select! {
                    d = self.handle(m, &mut rep, self.hand_to.is_some().then_some(&mut objects)) => d,
                    _ = keep_hidden(q, &messages[i..]) => unreachable!("keeps hiding until dropped"),
                    _ = shutdown.recv() => Ok(false),
                };
                match done {
                    Ok(true) => batch.push((m.clone(), objects)),
                    Ok(false) => {
                        // Stopped: the messages not dealt with are handed back at once, not
                        // left in flight for the visibility timeout.
                        r.stop.store(true, Ordering::Relaxed);
                        let read: Vec<Message> = batch.into_iter().map(|(m, _)| m).collect();
                        release(q, &read, Duration::ZERO, &r.spec.name).await;
                        release(q, &messages[i..], Duration::ZERO, &r.spec.name).await;
                        return;
                    }
                    Err(e) => {
                        // It comes back in a minute (the listing reads the object meanwhile).
                        release(q, std::slice::from_ref(m), RETRY_SOON, &r.spec.name).await;
                        failed = Some(e);
                    }
                }
            }
            match &self.hand_to {
                Some(table) => self.hand(q, table, batch, &mut shutdown).await,
                None => {
                    if let Err(e) = self.settle(q, batch).await {
                        failed = Some(e);
                    }
                }
            }
            let res = match failed {
                Some(e) => Err(e),
                None => Ok(rep),
            };
            sh.record(&key, &res);
            if let Ok(rep) = &res {
                sh.note_counts(&r.spec.name, rep);
            }
        }
    }

    /// Reads the objects one message names; `Ok(true)` when it can be deleted, `Ok(false)`
    /// when stopped. A failure leaves it in the queue (it comes back, and the listing catches
    /// the object anyway); every error names the message and the object.
    /// A standby puts what it read in `objects` instead of raising it.
    async fn handle(
        &self,
        m: &Message,
        rep: &mut PollReport,
        mut objects: Option<&mut Vec<ObjectRead>>,
    ) -> Result<bool, PollError> {
        let r = &self.reader;
        let created = match queue::created(&m.body) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(source = %r.spec.name, "message {} is not an S3 notification ({e}): deleted", m.id);
                return Ok(true);
            }
        };
        for c in created {
            if c.bucket != r.trail.bucket.name {
                tracing::warn!(source = %r.spec.name, "message {} is about bucket {}, not {}: ignored", m.id, c.bucket, r.trail.bucket.name);
                continue;
            }
            let now = r.trail.clock.now();
            // Digests, Insights, other files, accounts and regions not read here.
            let Some(k) = r.key_of(&c.key, now) else {
                continue;
            };
            let stream = k.place.stream();
            if r.was_read(&stream, &c.key, "")? {
                continue;
            }
            let obj = format!("s3://{}/{}", r.trail.bucket.name, c.key);
            let time = if k.doubt.is_some() {
                k.time.min(now)
            } else {
                k.time
            };
            let read = match objects.as_deref_mut() {
                Some(o) => r
                    .read_for_holder(&c.key, now, rep)
                    .await
                    .map(|x| x.map(|x| o.push(x)).is_some()),
                None => r.read_object(&stream, &c.key, time, now, rep).await,
            };
            match read {
                Ok(true) if objects.is_some() => continue,
                // Made durable with the other messages of its receive (`settle`).
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) if gone(&e) && self.confirmed_gone(&c.key).await? => {
                    tracing::warn!(source = %r.spec.name, key = %c.key, "message {} announces {obj}, which is gone (NoSuchKey, and not listed): the message is deleted", m.id);
                    continue;
                }
                Err(e) => {
                    return Err(PollError::Object(format!(
                        "message {}, {obj}: {e} (left in the queue: it comes back, and the listing reads the object meanwhile)",
                        m.id
                    )))
                }
            }
            if let Some(why) = &k.doubt {
                r.doubted(&c.key, why, rep);
            }
        }
        Ok(true)
    }

    /// The holder's: the marks of the objects its messages announced are made durable in one
    /// flush (their alerts were, as they were raised), then the messages are deleted; a flush
    /// that fails leaves them to come back (their objects are read again, and found raised).
    async fn settle(&self, q: &Queue, batch: Batch) -> Result<(), PollError> {
        if batch.is_empty() {
            return Ok(());
        }
        let source = &self.reader.spec.name;
        let ms: Vec<Message> = batch.into_iter().map(|(m, _)| m).collect();
        match self.reader.state.flush() {
            Ok(()) => {
                delete(q, &ms, source).await;
                Ok(())
            }
            Err(e) => {
                release(q, &ms, RETRY_SOON, source).await;
                Err(e.into())
            }
        }
    }

    /// Hands what a standby read to the holder, and deletes the messages once it answered
    /// that their objects are durable; otherwise they go back to the queue. A batch too large
    /// for one item is handed in halves; one message's objects alone too large are left to
    /// the holder (its own queue reads, its listing).
    /// Stopped meanwhile (this instance takes over), the messages go back to the queue at once
    /// (the batch left in the table is taken in by the holder).
    async fn hand(&self, q: &Queue, table: &Arc<Table>, batch: Batch, shutdown: &mut Shutdown) {
        let source = &self.reader.spec.name;
        let mut todo = vec![batch];
        while let Some(part) = todo.pop() {
            let ms: Vec<Message> = part.iter().map(|(m, _)| m.clone()).collect();
            let objects: Vec<&ObjectRead> = part.iter().flat_map(|(_, o)| o).collect();
            if objects.is_empty() {
                delete(q, &ms, source).await;
                continue;
            }
            let body = serde_json::to_vec(&objects).expect("objects serialize");
            let handed = tokio::select! {
                h = handover::hand(table, source, &body) => h,
                _ = keep_hidden(q, &ms) => unreachable!("keeps hiding until dropped"),
                _ = shutdown.recv() => {
                    let all: Vec<Message> = todo.into_iter().flatten().map(|(m, _)| m).collect();
                    release(q, &ms, Duration::ZERO, source).await;
                    release(q, &all, Duration::ZERO, source).await;
                    return;
                }
            };
            match handed {
                Ok(Handed::Answered(a)) => match serde_json::from_value::<TakenIn>(a.clone()) {
                    Ok(t) => {
                        tracing::debug!(source = %source, taken = t.taken, already = t.already, "objects handed to the instance that holds the lease");
                        self.cx.metrics.objects_handed(source, objects.len() as u64);
                        delete(q, &ms, source).await;
                    }
                    Err(_) => {
                        tracing::warn!(source = %source, "the instance that holds the lease could not take in {} objects ({a}): their messages go back to the queue", objects.len());
                        release(q, &ms, RETRY_SOON, source).await;
                    }
                },
                Ok(Handed::Unanswered) => {
                    tracing::warn!(source = %source, "no instance took in {} objects read here within 30s (does one hold the lease?): their messages go back to the queue", objects.len());
                    release(q, &ms, Duration::ZERO, source).await;
                }
                Ok(Handed::TooLarge(_)) if part.len() > 1 => {
                    let mut part = part;
                    let rest = part.split_off(part.len() / 2);
                    todo.push(part);
                    todo.push(rest);
                }
                Ok(Handed::TooLarge(size)) => {
                    tracing::warn!(source = %source, "message {}: its objects' alerts weigh {size} bytes compressed, more than a table item holds: left to the instance that holds the lease (back in the queue in a minute; its listing reads them too)", ms[0].id);
                    release(q, &ms, RETRY_SOON, source).await;
                }
                Err(e) => {
                    tracing::warn!(source = %source, "{} objects read here cannot be handed to the instance that holds the lease: {e}; their messages go back to the queue", objects.len());
                    release(q, &ms, RETRY_SOON, source).await;
                }
            }
        }
    }

    /// True when a listing confirms that `key` is not in the bucket.
    async fn confirmed_gone(&self, key: &str) -> Result<bool, PollError> {
        let listed = self.reader.trail.bucket.list(key, None, None).await?;
        Ok(!listed.keys.iter().any(|l| l.key == key))
    }
}
