//! The poller tasks: one per stream of an AWS source, one per `files` source. Each polls on
//! its source's schedule until stopped, wakes the delivery worker when it raised alerts, and
//! reports each poll to the health checker and the metrics.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::Notify;

use super::health::Streams;
use super::shutdown::Shutdown;
use super::Mode;
use crate::metrics::Metrics;
use crate::poll::{poll_folder, poll_stream, PollError, PollReport};
use crate::rules::Evaluator;
use crate::source::files::Folder;
use crate::source::{SourceSpec, Stream};
use crate::state::State;

/// What every poller shares.
#[derive(Clone)]
pub struct Shared {
    pub state: Arc<State>,
    pub eval: Arc<Evaluator>,
    pub streams: Streams,
    pub metrics: Metrics,
    pub wake: Arc<Notify>,
    pub mode: Mode,
}

impl Shared {
    /// Records one poll's outcome: wake delivery, health, metrics, log.
    fn record(&self, key: &str, r: &Result<PollReport, PollError>) {
        if matches!(r, Ok(rep) if rep.raised > 0) {
            self.wake.notify_one();
        }
        let mut h = self.streams.lock().expect("health lock");
        let e = h.entry(key.to_string()).or_default();
        let now = Timestamp::now();
        match r {
            Ok(rep) => {
                self.metrics
                    .poll_succeeded(key, rep.records, rep.raised, now);
                e.last_ok = Some(now);
                e.failing_since = None;
                e.last_error = None;
                tracing::debug!(
                    stream = key,
                    pages = rep.pages,
                    records = rep.records,
                    raised = rep.raised,
                    "poll done"
                );
            }
            Err(err) => {
                self.metrics.poll_failed(key);
                e.failing_since.get_or_insert(now);
                e.last_error = Some(err.to_string());
                tracing::error!(stream = key, "poll failed: {err}");
            }
        }
    }
}

/// Polls one stream of an AWS source.
pub struct StreamPoller {
    pub stream: Stream,
    pub shared: Shared,
}

impl StreamPoller {
    pub async fn run(self, mut shutdown: Shutdown) {
        let (stream, sh) = (&self.stream, &self.shared);
        let key = format!("{}/{}", stream.source.name, stream.name);
        loop {
            let r = tokio::select! {
                r = poll_stream(stream, &sh.eval, &sh.state, Timestamp::now()) => r,
                _ = shutdown.recv() => return,
            };
            sh.metrics.api_calls(
                &stream.source.name,
                stream.stats.calls.load(Relaxed),
                stream.stats.throttled.load(Relaxed),
            );
            sh.record(&key, &r);
            if let Ok(Some(wm)) = sh.state.watermark(&stream.source.name, &stream.name) {
                let lag = Timestamp::now().duration_since(wm).as_secs_f64();
                sh.metrics.watermark_lag(&key, lag);
            }
            if sh.mode == Mode::Once || shutdown.sleep(stream.source.poll_interval).await {
                return;
            }
        }
    }
}

/// Looks at a `files` source's folder.
pub struct FolderPoller {
    pub spec: Arc<SourceSpec>,
    pub folder: Folder,
    pub shared: Shared,
}

impl FolderPoller {
    pub async fn run(mut self, mut shutdown: Shutdown) {
        let sh = self.shared.clone();
        loop {
            let r = poll_folder(
                &self.spec,
                &mut self.folder,
                &sh.eval,
                &sh.state,
                Timestamp::now(),
            );
            sh.record(&self.spec.name, &r);
            if sh.mode == Mode::Once || shutdown.sleep(self.spec.poll_interval).await {
                return;
            }
        }
    }
}
