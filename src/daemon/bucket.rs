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
use super::poller::Shared;
use super::shutdown::Shutdown;
use crate::poll::bucket::{gone, Reader};
use crate::poll::{PollError, PollReport};
use crate::source::s3::queue::{self, Message};
use crate::source::s3::Queue;
use crate::when;

/// Accounts and regions polled at once.
const AT_ONCE: usize = 8;

/// Lists the bucket on the source's schedule and polls every account and region in it.
pub(super) struct BucketPoller {
    pub reader: Reader,
    pub shared: Shared,
}

impl BucketPoller {
    pub(super) async fn run(self, mut shutdown: Shutdown) {
        let (r, sh) = (&self.reader, &self.shared);
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
        let (r, sh) = (&self.reader, &self.shared);
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

/// Reads the bucket's notifications as they arrive.
pub(super) struct QueuePoller {
    pub reader: Reader,
    pub shared: Shared,
}

impl QueuePoller {
    pub(super) async fn run(self, mut shutdown: Shutdown) {
        let (r, sh) = (&self.reader, &self.shared);
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
            for (i, m) in messages.iter().enumerate() {
                let done = tokio::select! {
                    d = self.handle(m, &mut rep) => d,
                    _ = keep_hidden(q, &messages[i..]) => unreachable!("keeps hiding until dropped"),
                    _ = shutdown.recv() => Ok(false),
                };
                match done {
                    Ok(true) => {
                        if let Err(e) = q.delete(m).await {
                            tracing::warn!(source = %r.spec.name, "cannot delete message {} (it will come again, and be dropped as read): {e}", m.id);
                        }
                    }
                    Ok(false) => {
                        // Stopped: the messages not dealt with are handed back at once, not
                        // left in flight for the visibility timeout.
                        r.stop.store(true, Ordering::Relaxed);
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
    async fn handle(&self, m: &Message, rep: &mut PollReport) -> Result<bool, PollError> {
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
            match r.read_object(&stream, &c.key, time, now, rep).await {
                Ok(true) => r.state.flush()?,
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

    /// True when a listing confirms that `key` is not in the bucket.
    async fn confirmed_gone(&self, key: &str) -> Result<bool, PollError> {
        let listed = self.reader.trail.bucket.list(key, None, None).await?;
        Ok(!listed.keys.iter().any(|l| l.key == key))
    }
}
