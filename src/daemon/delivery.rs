//! The delivery task: runs the worker whenever something is due (a poll raised alerts, a
//! retry or a summary falls due), shares the sinks' health with the health checker, and keeps
//! the queue metrics.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::health::Sinks;
use super::mode::Mode;
use super::shutdown::Shutdown;
use crate::alert::Alert;
use crate::delivery::Deliverer;
use crate::ops::Metrics;
use crate::state::State;

/// Drains the outbox until stopped (or, once, after the pollers are done).
pub(super) struct DeliveryTask {
    pub deliverer: Deliverer,
    pub state: Arc<State>,
    pub wake: Arc<Notify>,
    pub sinks: Sinks,
    pub metrics: Metrics,
    pub mode: Mode,
    /// In `--once` mode: the pollers to wait for before delivering.
    pub pollers: Option<JoinSet<()>>,
    /// Alerts of trailwatch itself to send at once (the state could not be written).
    pub direct: UnboundedReceiver<(Alert, Vec<String>)>,
}

impl DeliveryTask {
    pub(super) async fn run(mut self, mut shutdown: Shutdown) {
        if let Some(mut p) = self.pollers.take() {
            while p.join_next().await.is_some() {}
        }
        if self.mode == Mode::Once {
            if let Err(e) = self.deliverer.drain(&self.state).await {
                tracing::error!("delivery: {e}");
            }
            while let Ok((a, sinks)) = self.direct.try_recv() {
                self.deliverer.send_direct(&a, &sinks).await;
            }
            self.publish();
            return;
        }
        loop {
            let now = Timestamp::now();
            let stop = || shutdown.is_shutdown();
            let pass = self.deliverer.pass_until(&self.state, now, &stop).await;
            if shutdown.is_shutdown() {
                self.publish();
                return;
            }
            self.publish();
            let next = match pass {
                Ok(p) => p.next_due,
                Err(e) => {
                    tracing::error!("delivery: {e}");
                    Some(now + jiff::SignedDuration::from_secs(5))
                }
            };
            let wait = next
                .map(|t| Duration::try_from(t.duration_since(Timestamp::now())).unwrap_or_default())
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                Some((a, sinks)) = self.direct.recv() => self.deliverer.send_direct(&a, &sinks).await,
                _ = shutdown.recv() => return,
            }
        }
    }

    /// Shares the sinks' health and updates the metrics.
    fn publish(&self) {
        self.sinks
            .lock()
            .expect("sink health lock")
            .clone_from(&self.deliverer.health);
        for (sink, h) in &self.deliverer.health {
            self.metrics.sink_counts(sink, h.sent, h.failed);
        }
        self.metrics
            .queues(self.state.outbox_len(), self.state.dead_len());
    }
}
