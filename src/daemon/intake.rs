//! The holder's side of a shared queue: what the standbys read from an `s3` source's queue and
//! left in the table (`instances::handover`) is taken in every tenth of a second while they
//! hand work (every 2 s after a minute without any: a Query each time), as if this
//! instance had read it (`poll::s3`), made durable (every batch taken at once in one flush),
//! and answered; only then do the standbys delete their messages. A failure is answered too
//! (the messages go back to the queue) and said once while it lasts. Answers a standby never
//! read (it died waiting) are swept after a while.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::poller::Context;
use super::shutdown::Shutdown;
use crate::instances::handover;
use crate::instances::table::Table;
use crate::poll::s3::Reader;
use crate::poll::PollReport;

/// How often the table is looked at for handed work while standbys hand it…
const BUSY: Duration = Duration::from_millis(100);
/// …and after `QUIET` without any.
const IDLE: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_secs(60);

/// Takes in one source's objects read by the standbys.
pub(super) struct Intake {
    pub reader: Reader,
    pub cx: Context,
    pub table: Arc<Table>,
}

impl Intake {
    pub(super) async fn run(self, mut shutdown: Shutdown) {
        let source = self.reader.spec.name.clone();
        let mut failing = false;
        let mut last = std::time::Instant::now() - QUIET;
        loop {
            let every = if last.elapsed() < QUIET { BUSY } else { IDLE };
            if shutdown.sleep(every).await {
                return;
            }
            let batches = match handover::take(&self.table, &source).await {
                Ok(b) => {
                    if failing {
                        tracing::info!(source = %source, "what standbys read can be taken in again");
                    }
                    failing = false;
                    b
                }
                Err(e) => {
                    if !failing {
                        tracing::error!(source = %source, "what standbys read from the queue cannot be taken from the table: {e} (they give their messages back; this instance reads the queue too)");
                    }
                    failing = true;
                    continue;
                }
            };
            if batches.is_empty() {
                continue;
            }
            last = std::time::Instant::now();
            let bodies: Vec<&[u8]> = batches.iter().map(|(_, b)| b.as_slice()).collect();
            let answers = self.take_in(&bodies);
            for ((id, _), answer) in batches.iter().zip(answers) {
                if let Err(e) = handover::reply(&self.table, &source, id, &answer).await {
                    tracing::warn!(source = %source, "the answer to a standby cannot be written (its messages come back, and their objects are found read): {e}");
                }
            }
            // While standbys hand work, now and then: answers whose standby died waiting.
            if let Err(e) = handover::sweep(&self.table).await {
                tracing::warn!(source = %source, "old answers to standbys cannot be swept from the table: {e}");
            }
        }
    }

    /// Takes the batches in, all durable in one flush; the answer each standby reads.
    fn take_in(&self, batches: &[&[u8]]) -> Vec<Value> {
        if batches.is_empty() {
            return Vec::new();
        }
        let (r, cx) = (&self.reader, &self.cx);
        let mut rep = PollReport::default();
        let res = r.take_in(batches, r.trail.clock.now(), &mut rep);
        let key = format!("{}/queue", r.spec.name);
        match res {
            Ok(answers) => {
                if rep.raised > 0 {
                    cx.wake.notify_one();
                }
                cx.metrics
                    .poll_succeeded(&key, rep.records, rep.raised, jiff::Timestamp::now());
                cx.note_counts(&r.spec.name, &rep);
                answers
                    .into_iter()
                    .map(|a| match a {
                        Ok(t) => serde_json::to_value(t).expect("a count serializes"),
                        Err(e) => {
                            tracing::error!(source = %r.spec.name, "{e}");
                            json!({ "error": e })
                        }
                    })
                    .collect()
            }
            Err(e) => {
                tracing::error!(source = %r.spec.name, "objects standbys read cannot be taken in: {e} (their messages go back to the queue)");
                vec![json!({"error": e.to_string()}); batches.len()]
            }
        }
    }
}
