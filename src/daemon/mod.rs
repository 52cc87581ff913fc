//! `trailwatch run`: the one place that owns tasks and signals. One task per concern: a poller
//! per stream (`poller`), the delivery worker (`delivery`) and the health checker (`health`),
//! each with `run(self, shutdown)` and one `Shutdown` (`shutdown`), as tokio-rs/mini-redis
//! shapes its listener and handlers.
//!
//! SIGTERM/SIGINT stop everything cleanly (work in flight finishes or stays in the outbox;
//! state is flushed), SIGHUP reloads the configuration (a broken one is rejected and the old
//! one keeps running), and systemd hears READY, RELOADING, STOPPING and watchdog pings.
//!
//! With a shared state it first stands by for the lease (reading the S3 queues for the
//! instance that holds it: `standby`), then works as the holder (taking in what standbys read:
//! `intake`), and stops when the lease is lost.

mod bucket;
mod coverage;
mod delivery;
mod error;
mod health;
mod housekeeping;
mod instance;
mod intake;
mod mode;
mod own;
mod poller;
mod process;
mod queue;
mod shutdown;
mod standby;
mod start;
mod status;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;
use tokio::task::JoinSet;

pub(crate) use self::error::DaemonError;
pub(crate) use self::mode::Mode;
use self::process::{Aborted, Signals};
use self::shutdown::Trigger;
use self::start::start;
use crate::control::Control;
use crate::defaults;
use crate::instances;
use crate::ops::{Access, Endpoint, Metrics, Pages, Readiness, Served};
use crate::settings::Settings;
use crate::state::State;

/// What ended one configuration's run.
enum Ending {
    Reload(Box<Settings>),
    Stop,
}

/// Runs until stopped (or once). Returns after a clean stop. With a shared state, waits for
/// the lease first (a standby), and stops when it is lost.
pub(crate) async fn run(path: PathBuf, first: Settings, mode: Mode) -> Result<(), DaemonError> {
    let mut signals = Signals {
        hup: signal(SignalKind::hangup())?,
        term: signal(SignalKind::terminate())?,
    };
    for w in &first.warnings {
        tracing::warn!("{w}");
    }
    let Some(cfg) = first.instances.clone() else {
        let state = Arc::new(State::open(&first.state_dir)?);
        let op = serve_metrics(&first, &state).await?;
        op.metrics.lease_held(true);
        return serve(path, first, mode, state, signals, op, None).await;
    };
    let state = Arc::new(State::open_cache(&first.state_dir)?);
    own::name_instance(&cfg.instance);
    // A standby answers /healthz and /metrics, and says on /readyz whom it waits for.
    let op = serve_metrics(&first, &state).await?;
    // A standby's pages say whom it waits for (the holder's pages show the state).
    let ready = op.ready.clone();
    op.pages.set(move |_, _| {
        let now = format!(
            "as of {}",
            jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC")
        );
        Some((
            503,
            crate::status::page::notice("standing by", &ready.reasons(), false, &now),
        ))
    });
    let metrics = op.metrics.clone();
    let here = standby::Here {
        settings: &first,
        path: &path,
        state: &state,
        metrics: &metrics,
        ready: &op.ready,
        mode,
    };
    let Some(taken) = standby::wait_for_lease(here, &cfg, &mut signals).await? else {
        return Ok(());
    };
    metrics.lease_held(true);
    let t = taken.table.clone();
    metrics.state_table(move || {
        use std::sync::atomic::Ordering::Relaxed;
        (t.calls.calls.load(Relaxed), t.written.load(Relaxed))
    });
    instance::took_over(&first, &state, &taken);
    // Other hosts' requests are answered by a daemon, not by a run --once.
    let _mail = (mode == Mode::Forever).then(|| {
        Aborted(tokio::spawn(instance::answer_mail(
            taken.table.clone(),
            state.clone(),
        )))
    });
    let served = tokio::select! {
        r = serve(path, first, mode, state, signals, op, Some(taken.table.clone())) => r,
        why = taken.lost() => Err(DaemonError::LeaseLost { instance: cfg.instance.clone(), why }),
    };
    metrics.lease_held(false);
    // Stopped (or failed) while holding it: a standby takes over at once, not after a lease.
    if !matches!(served, Err(DaemonError::LeaseLost { .. })) {
        taken.release().await;
    }
    served
}

/// Runs one configuration after another (reloads) on `state` until stopped.
async fn serve(
    path: PathBuf,
    first: Settings,
    mode: Mode,
    state: Arc<State>,
    mut signals: Signals,
    op: Served,
    table: Option<Arc<instances::table::Table>>,
) -> Result<(), DaemonError> {
    // Commands (silence, alerts) reach the state through this socket while the daemon runs.
    let control = Control::bind(&first.state_dir, state.clone()).map_err(DaemonError::Endpoint)?;
    let _control = Aborted(tokio::spawn(control.serve()));
    let mut settings = first;
    let mut notified_ready = false;
    // The configuration that ran before a reload, to go back to if the new one cannot start
    // (a secret that cannot be read, a region that cannot be resolved).
    let mut fallback: Option<Settings> = None;
    loop {
        let (trigger, shutdown) = Trigger::new();
        let restart = Arc::new(Notify::new());
        let started = start(
            &settings,
            state.clone(),
            shutdown,
            mode,
            &op,
            restart.clone(),
            table.clone(),
        );
        let mut started = match started.await {
            Ok(t) => t,
            Err(e) => match fallback.take() {
                Some(old) => {
                    tracing::error!(
                        "new configuration cannot start ({e}); the previous one keeps running"
                    );
                    settings = old;
                    continue;
                }
                None => return Err(e),
            },
        };
        if !notified_ready {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
            notified_ready = true;
            tracing::info!(
                sources = settings.sources.len(),
                sinks = settings.sinks.len(),
                rules = settings.rules.enabled().count(),
                "trailwatch running"
            );
        }
        let (tasks, place) = (
            &mut started.tasks,
            (settings.state_dir.as_path(), &settings.instances),
        );
        let ending = wait(&path, &mut signals, tasks, mode, &restart, place).await;
        trigger.fire();
        if matches!(ending, Ending::Stop) {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        }
        finish(&settings, &mut started.tasks).await;
        state.flush()?;
        match ending {
            Ending::Reload(new) => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
                fallback = Some(std::mem::replace(&mut settings, *new));
            }
            Ending::Stop if mode == Mode::Once => return once_outcome(&started.streams),
            Ending::Stop => return Ok(()),
        }
    }
}

/// The metrics, the readiness check and the status pages, served on `metrics_address` when
/// one is set (an address that cannot be bound, or a token that cannot be read, stops the
/// start: the operator asked for the endpoint).
async fn serve_metrics(s: &Settings, state: &Arc<State>) -> Result<Served, DaemonError> {
    let metrics = Metrics::new();
    let st = state.clone();
    metrics.state_writable(move || st.outage().is_none());
    let mut op = Served {
        metrics,
        ready: Readiness::default(),
        pages: Pages::default(),
        access: Access::default(),
    };
    if let Some(addr) = s.metrics_address {
        let token = s
            .operator_token
            .as_ref()
            .map(|t| t.resolve().map_err(DaemonError::OperatorToken))
            .transpose()?;
        op.access = Access::new(addr, token);
        let endpoint = Endpoint::bind(addr, op.clone())
            .await
            .map_err(DaemonError::Endpoint)?;
        tokio::spawn(endpoint.serve());
    }
    Ok(op)
}

/// Lets the stopped tasks finish: a delivery attempt in flight ends (a message a sink took is
/// recorded, not sent again), so the grace covers the longest sink timeout.
async fn finish(s: &Settings, tasks: &mut JoinSet<()>) {
    let longest = s.sinks.iter().map(|k| k.timeout).max().unwrap_or_default();
    let grace = defaults::SHUTDOWN_GRACE.max(longest + Duration::from_secs(2));
    let grace =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if grace.is_err() {
        tracing::warn!("tasks did not finish in time; their work stays in the outbox");
        tasks.abort_all();
    }
}

/// The end of `--once`: an error naming every stream whose last poll failed.
fn once_outcome(streams: &health::Streams) -> Result<(), DaemonError> {
    let mut failed: Vec<String> = streams
        .lock()
        .expect("health lock")
        .iter()
        .filter(|(_, h)| h.failing_since.is_some())
        .map(|(k, h)| format!("{k}: {}", h.last_error.as_deref().unwrap_or("failed")))
        .collect();
    failed.sort();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(DaemonError::Failed(failed))
    }
}

/// Waits for a signal (or, once, for the tasks to end), pinging the watchdog meanwhile.
async fn wait(
    path: &std::path::Path,
    s: &mut Signals,
    tasks: &mut JoinSet<()>,
    mode: Mode,
    restart: &Notify,
    (state_dir, instances): (
        &std::path::Path,
        &Option<instances::config::InstancesConfig>,
    ),
) -> Ending {
    let mut usec = 0u64;
    let mut watchdog = sd_notify::watchdog_enabled(false, &mut usec)
        .then(|| tokio::time::interval(Duration::from_micros(usec / 2)));
    loop {
        tokio::select! {
            _ = s.hup.recv() => {
                match Settings::load(path) {
                    Ok(new) if new.state_dir != *state_dir => tracing::error!(
                        "new configuration rejected, the running one stays: state_dir changed from {} to {}, which a reload cannot do (the state is open); restart trailwatch to use the new one",
                        state_dir.display(),
                        new.state_dir.display()
                    ),
                    Ok(new) if new.instances != *instances => tracing::error!(
                        "new configuration rejected, the running one stays: [state] changed, which a reload cannot do (the state is open, the lease held); restart trailwatch to use the new one"
                    ),
                    Ok(new) => {
                        tracing::info!("configuration reloaded from {}", path.display());
                        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
                        return Ending::Reload(Box::new(new));
                    }
                    Err(e) => tracing::error!("new configuration rejected, the running one stays: {e}"),
                }
            }
            _ = restart.notified() => {
                match Settings::load(path) {
                    Ok(new) if new.state_dir == *state_dir && new.instances == *instances => return Ending::Reload(Box::new(new)),
                    Ok(_) => tracing::error!("cannot restart with the new coverage: state_dir or [state] changed in the configuration file; restart trailwatch"),
                    Err(e) => tracing::error!("cannot restart with the new coverage: the configuration no longer loads: {e}"),
                }
            }
            _ = s.term.recv() => { tracing::info!("SIGTERM: stopping"); return Ending::Stop; }
            _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: stopping"); return Ending::Stop; }
            _ = async { match watchdog.as_mut() { Some(w) => { w.tick().await; } None => std::future::pending().await } } => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            }
            r = tasks.join_next() => {
                match r {
                    None => return Ending::Stop,
                    Some(Err(e)) => tracing::error!("a task ended abnormally: {e}"),
                    Some(Ok(())) => {}
                }
                if mode == Mode::Once && tasks.is_empty() { return Ending::Stop; }
            }
        }
    }
}
