//! The queue readers of an `s3` source: the bucket's notifications received as they arrive
//! (long polling, `READERS` receives at once), kept hidden from other receivers while their
//! objects are dealt with (`poll::s3`: raised here, or handed to the instance that holds the
//! lease by a standby), then deleted or handed back to the queue as each message's verdict
//! says. A stop hands every message held back at once.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::mode::Mode;
use super::poller::Context;
use super::shutdown::Shutdown;
use crate::instances::table::Table;
use crate::poll::s3::{Reader, Verdict};
use crate::source::s3::queue::{self, Message};
use crate::source::s3::Queue;

/// Receives running at once per queue, in the holder and in each standby (each takes up to 10
/// messages and reads their objects in turn; a standby then waits for the holder's answer).
pub(super) const READERS: usize = 4;
/// A standby's receives at once: each waits for the holder's answer before deleting its
/// messages, so more of them keep its reading going meanwhile.
pub(super) const STANDBY_READERS: usize = 8;

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

/// Deletes a message dealt with, saying it when it cannot be.
async fn delete(q: &Queue, m: &Message, source: &str) {
    if let Err(e) = q.delete(m).await {
        tracing::warn!(
            source,
            "cannot delete message {} (it will come again, and be dropped as read): {e}",
            m.id
        );
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

impl QueuePoller {
    pub(super) async fn run(self, mut shutdown: Shutdown) {
        let (r, cx) = (&self.reader, &self.cx);
        let Some(q) = r.trail.queue.as_ref() else {
            return;
        };
        let (key, source) = (format!("{}/queue", r.spec.name), &r.spec.name);
        // `--once` takes what is waiting, without a long poll.
        let wait = match cx.mode {
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
                    cx.record(&key, &Err(e.into()));
                    if cx.mode == Mode::Once || shutdown.sleep(Duration::from_secs(5)).await {
                        return;
                    }
                    continue;
                }
            };
            if messages.is_empty() && cx.mode == Mode::Once {
                return;
            }
            let dealt = tokio::select! {
                d = r.take_messages(&messages, self.hand_to.as_deref()) => d,
                _ = keep_hidden(q, &messages) => unreachable!("keeps hiding until dropped"),
                _ = shutdown.recv() => None,
            };
            let Some(dealt) = dealt else {
                // Stopped: the messages go back to the queue at once, not left in flight for
                // the visibility timeout (what was read of them is found read next time).
                r.stop.store(true, Ordering::Relaxed);
                release(q, &messages, Duration::ZERO, source).await;
                return;
            };
            for (m, v) in messages.iter().zip(&dealt.verdicts) {
                match v {
                    Verdict::Delete => delete(q, m, source).await,
                    Verdict::Release(after) => {
                        release(q, std::slice::from_ref(m), *after, source).await
                    }
                }
            }
            if dealt.rep.raised > 0 {
                // Even when another message of the receive failed.
                cx.wake.notify_one();
            }
            if dealt.handed > 0 {
                cx.metrics.objects_handed(source, dealt.handed);
            }
            let res = match dealt.failed {
                Some(e) => Err(e),
                None => Ok(dealt.rep),
            };
            cx.record(&key, &res);
            if let Ok(rep) = &res {
                cx.note_counts(source, rep);
            }
        }
    }
}
