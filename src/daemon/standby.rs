//! What a standby does while it waits for the lease: it shares the reading of every `s3`
//! source's queue with the instance that holds the lease (SQS gives each notification to one
//! of them), and hands what it reads to the holder through the table (`instances::handover`),
//! which raises it: the standby never writes the state. Streams, listings, thresholds and
//! delivery stay with the holder. It starts once another instance is seen holding the lease
//! (not while an instance that will take it at once is starting), and stops when this one
//! takes over: its reads hand their messages back to the queue.

use std::path::Path;
use std::sync::Arc;

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::error::DaemonError;
use super::mode::Mode;
use super::poller::Context;
use super::process::{watchdog_pings, Aborted, Signals};
use super::queue::{QueuePoller, STANDBY_READERS};
use super::shutdown::{Shutdown, Trigger};
use crate::instances::config::InstancesConfig;
use crate::instances::instance::{take_over, Instance, InstancesError};
use crate::instances::table::Table;
use crate::ops::{Metrics, Readiness};
use crate::poll::s3::Reader;
use crate::settings::Settings;
use crate::source::{open_source, SourceKind};
use crate::state::State;

/// What a standby works with.
pub(super) struct Here<'a> {
    pub settings: &'a Settings,
    pub path: &'a Path,
    pub state: &'a Arc<State>,
    pub metrics: &'a Metrics,
    pub ready: &'a Readiness,
    pub mode: Mode,
}

/// Stands by until this instance holds the lease (`None`: stopped meanwhile by a signal),
/// saying whom it waits for (on `/readyz`, to systemd), pinging systemd's watchdog, and reading
/// the queues for the holder once one is seen.
pub(super) async fn wait_for_lease(
    h: Here<'_>,
    cfg: &InstancesConfig,
    signals: &mut Signals,
) -> Result<Option<Instance>, DaemonError> {
    let r = h.ready.clone();
    let (me, table) = (cfg.instance.clone(), cfg.table.clone());
    r.set({
        let (me, table) = (me.clone(), table.clone());
        move || {
            vec![format!(
                "standby: instance {me} waits for the lease on table {table}"
            )]
        }
    });
    // Once another instance is seen holding the lease, this one shares the reading of the
    // queues; it stops (handing its messages back) when it takes over.
    let (seen, holder_seen) = tokio::sync::watch::channel(false);
    let standby = Arc::new(move |holder: &str| {
        let why = format!("standby: instance {holder} holds the lease on table {table}; instance {me} takes over if it stops renewing");
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Status(&why)]);
        r.set(move || vec![why.clone()]);
        let _ = seen.send(true);
    });
    // systemd hears that a standby started (Type=notify would time it out otherwise), and its
    // watchdog pings while it waits.
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let pings = Aborted(tokio::spawn(watchdog_pings()));
    // Once, it does not stand by: another instance at work holds the state.
    if h.mode == Mode::Once {
        if let Ok(Some(h)) = crate::instances::setup::holder(cfg) {
            if h != cfg.instance {
                return Err(DaemonError::Instances(InstancesError::Table(format!(
                    "instance {h} holds the lease on table {}: `run --once` does not wait for it (stop that instance, or run without --once to stand by)",
                    cfg.table
                ))));
            }
        }
    }
    let (stop_sharing, sharing) = Trigger::new();
    let (st, m) = (h.state.clone(), h.metrics.clone());
    let waited = {
        let reading = share_the_reading(h.settings, st, m, holder_seen, sharing);
        tokio::pin!(reading);
        let waited = tokio::select! {
            t = take_over(standby, cfg, h.path, h.state) => Some(t),
            _ = &mut reading, if h.mode == Mode::Forever => unreachable!("reads until stopped"),
            _ = signals.term.recv() => None,
            _ = tokio::signal::ctrl_c() => None,
        };
        // Its queue reads hand their messages back (what it handed, the holder takes in).
        stop_sharing.fire();
        if h.mode == Mode::Forever && tokio::time::timeout(GRACE, reading).await.is_err() {
            tracing::warn!("this standby's queue reads did not stop in time: the messages they held come back after their visibility timeout");
        }
        waited
    };
    drop(pings);
    match waited {
        Some(t) => Ok(Some(t?)),
        None => Ok(None),
    }
}

/// How long a standby that takes over waits for its queue reads to hand their messages back.
pub(super) const GRACE: Duration = Duration::from_secs(5);

/// Reads the configuration's queues for the holder, from the moment `holder_seen` turns true
/// (`--once` never does) until `shutdown`; then each read hands back the messages it holds.
pub(super) async fn share_the_reading(
    s: &Settings,
    state: Arc<State>,
    metrics: Metrics,
    mut holder_seen: watch::Receiver<bool>,
    mut shutdown: Shutdown,
) {
    tokio::select! {
        r = holder_seen.wait_for(|seen| *seen) => if r.is_err() { return shutdown.recv().await },
        _ = shutdown.recv() => return,
    }
    if let Some((mut set, table)) = start_reading(s, state, metrics, &shutdown).await {
        while set.join_next().await.is_some() {}
        let calls = table.calls.calls.load(std::sync::atomic::Ordering::Relaxed);
        tracing::info!("this standby stopped reading the queues for the holder ({calls} DynamoDB calls to hand what it read)");
    }
    shutdown.recv().await
}

/// Opens the configuration's queues and starts their reads (and the table they hand to),
/// `None` when there are none.
async fn start_reading(
    s: &Settings,
    state: Arc<State>,
    metrics: Metrics,
    shutdown: &Shutdown,
) -> Option<(JoinSet<()>, Arc<Table>)> {
    let queues: Vec<_> = s
        .sources
        .iter()
        .filter(|x| {
            matches!(
                &x.kind,
                SourceKind::S3 {
                    queue_url: Some(_),
                    ..
                }
            )
        })
        .collect();
    let (Some(cfg), false) = (s.instances.clone(), queues.is_empty()) else {
        return None;
    };
    let table = match Table::connect(&cfg).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("this standby does not share the reading of the queues: the table cannot be reached: {e}");
            return None;
        }
    };
    let (direct, _) = tokio::sync::mpsc::unbounded_channel();
    let cx = Context::new(
        s,
        state.clone(),
        metrics,
        Mode::Forever,
        (direct, Some(table.clone())),
    );
    let mut set = JoinSet::new();
    for spec in queues {
        let trail = match open_source(spec, &s.account_aliases).await {
            Ok(o) => o.trail,
            Err(e) => {
                tracing::warn!(source = %spec.name, "this standby does not share the reading of the queue: {e}");
                continue;
            }
        };
        let Some(trail) = trail else { continue };
        let reader = Reader {
            spec: spec.clone(),
            trail,
            judge: cx.judge.clone(),
            state: state.clone(),
            stop: Arc::default(),
            verifying: Arc::default(),
        };
        tracing::info!(source = %spec.name, "standing by, this instance shares the reading of the queue: what it reads is raised by the instance that holds the lease");
        for _ in 0..STANDBY_READERS {
            let q = QueuePoller {
                reader: reader.clone(),
                cx: cx.clone(),
                hand_to: Some(table.clone()),
            };
            set.spawn(q.run(shutdown.clone()));
        }
    }
    Some((set, table))
}
