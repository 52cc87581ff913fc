//! The holder's side of a shared queue: what the standbys read from an `s3` source's queue and
//! left in the table (`instances::handover`) is taken in every quarter of a second while they
//! hand work (every 2 s after a minute without any: a Query each time), as if this
//! instance had read it (`poll::s3`), made durable, and answered; only then do the
//! standbys delete their messages. A failure is answered too (the messages go back to the
//! queue) and said once while it lasts.

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
const BUSY: Duration = Duration::from_millis(250);
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
            if !batches.is_empty() {
                last = std::time::Instant::now();
            }
            for (id, batch) in batches {
                let answer = self.take_in(&batch);
                if let Err(e) = handover::reply(&self.table, &source, &id, &answer).await {
                    tracing::warn!(source = %source, "the answer to a standby cannot be written (its messages come back, and their objects are found read): {e}");
                }
            }
        }
    }

    /// Takes one batch in; the answer the standby reads.
    fn take_in(&self, batch: &[u8]) -> Value {
        let (r, cx) = (&self.reader, &self.cx);
        let mut rep = PollReport::default();
        let res = r.take_in(batch, r.trail.clock.now(), &mut rep);
        let key = format!("{}/queue", r.spec.name);
        match res {
            Ok(t) => {
                if rep.raised > 0 {
                    cx.wake.notify_one();
                }
                cx.metrics
                    .poll_succeeded(&key, rep.records, rep.raised, jiff::Timestamp::now());
                cx.note_counts(&r.spec.name, &rep);
                serde_json::to_value(t).expect("a count serializes")
            }
            Err(e) => {
                tracing::error!(source = %r.spec.name, "objects a standby read cannot be taken in: {e} (its messages go back to the queue)");
                json!({"error": e.to_string()})
            }
        }
    }
}
