//! The lister of an `s3` source: every `list_interval`, the bucket's accounts and regions are
//! found again and each is polled (`poll::s3`), a few at once. Objects are read off the async
//! threads; a stop ends a read between two records (the object is read again next time).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::mode::Mode;
use super::poller::Context;
use super::shutdown::Shutdown;
use crate::poll::s3::Reader;
use crate::poll::PollReport;
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
                // Then what the trail's digests prove of the place (after its files were read).
                if r.trail.keys.is_some() {
                    let dkey = format!("{key}/digests");
                    let res = r.verify_place(&place, r.trail.clock.now()).await;
                    sh.record(&dkey, &res);
                    if let Ok(rep) = &res {
                        sh.note_counts(&r.spec.name, rep);
                    }
                }
            });
        }
        while polls.join_next().await.is_some() {}
    }
}
