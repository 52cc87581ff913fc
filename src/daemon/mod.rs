//! `trailwatch run`: the one place that owns tasks and signals. One task per concern: a poller
//! per stream (`poller`), the delivery worker (`delivery`) and the health checker (`health`),
//! each with `run(self, shutdown)` and one `Shutdown` (`shutdown`), as tokio-rs/mini-redis
//! shapes its listener and handlers.
//!
//! SIGTERM/SIGINT stop everything cleanly (work in flight finishes or stays in the outbox;
//! state is flushed), SIGHUP reloads the configuration (a broken one is rejected and the old
//! one keeps running), and systemd hears READY, RELOADING, STOPPING and watchdog pings.

mod bucket;
mod coverage;
mod delivery;
mod health;
mod mode;
mod own;
mod poller;
mod shutdown;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use self::bucket::{BucketPoller, QueuePoller};
use self::coverage::{CoverageWatch, Watched};
use self::delivery::DeliveryTask;
use self::health::HealthTask;
pub use self::mode::Mode;
use self::own::{Direct, Own};
use self::poller::{FolderPoller, Shared, StreamPoller};
use self::shutdown::{Shutdown, Trigger};
use crate::defaults;
use crate::delivery::Deliverer;
use crate::metrics::Metrics;
use crate::poll::Judge;
use crate::settings::Settings;
use crate::severity::Severity;
use crate::sink::OpenError;
use crate::source::coverage::{Aliases, Coverage};
use crate::source::files::Folder;
use crate::source::{open_source, Opened, SourceError, SourceKind};
use crate::state::{State, StateError};

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] OpenError),
    #[error("cannot listen for signals: {0}")]
    Signals(#[from] std::io::Error),
    /// `--once`: some streams could not be read (their events are read at the next run).
    #[error("{} could not be read in this run (their events are read at the next run): {}", if .0.len() == 1 { "1 stream".to_string() } else { format!("{} streams", .0.len()) }, .0.join("; "))]
    Failed(Vec<String>),
}

/// The signals the daemon answers.
struct Signals {
    hup: Signal,
    term: Signal,
}

/// What ended one configuration's run.
enum Ending {
    Reload(Box<Settings>),
    Stop,
}

/// Runs until stopped (or once). Returns after a clean stop.
pub async fn run(path: PathBuf, first: Settings, mode: Mode) -> Result<(), DaemonError> {
    let state = Arc::new(State::open(&first.state_dir)?);
    for w in &first.warnings {
        tracing::warn!("{w}");
    }
    let metrics = Metrics::default();
    let st = state.clone();
    metrics.state_writable(move || st.outage().is_none());
    if let Some(addr) = first.metrics_address {
        let m = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = m.serve(addr).await {
                tracing::error!(%addr, "metrics endpoint stopped: {e}");
            }
        });
    }
    let mut signals = Signals {
        hup: signal(SignalKind::hangup())?,
        term: signal(SignalKind::terminate())?,
    };
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
            &metrics,
            restart.clone(),
        );
        let (mut tasks, streams) = match started.await {
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
        let ending = wait(
            &path,
            &mut signals,
            &mut tasks,
            mode,
            &restart,
            &settings.state_dir,
        )
        .await;
        trigger.fire();
        if matches!(ending, Ending::Stop) {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        }
        // A delivery attempt in flight is let finish (a message a sink took is recorded, not
        // sent again): the grace covers the longest sink timeout.
        let longest = settings
            .sinks
            .iter()
            .map(|k| k.timeout)
            .max()
            .unwrap_or_default();
        let grace = defaults::SHUTDOWN_GRACE.max(longest + Duration::from_secs(2));
        let grace =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if grace.is_err() {
            tracing::warn!("tasks did not finish in time; their work stays in the outbox");
            tasks.abort_all();
        }
        state.flush()?;
        match ending {
            Ending::Reload(new) => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
                fallback = Some(std::mem::replace(&mut settings, *new));
            }
            Ending::Stop if mode == Mode::Once => return once_outcome(&streams),
            Ending::Stop => return Ok(()),
        }
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
    state_dir: &std::path::Path,
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
                    Ok(new) if new.state_dir == *state_dir => return Ending::Reload(Box::new(new)),
                    Ok(_) => tracing::error!("cannot restart with the new coverage: state_dir changed in the configuration file; restart trailwatch"),
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

/// Logs what a source's coverage lacks; an unknown alias (root's API calls may be missed) is
/// also an alert, once per account and source.
fn tell_coverage(
    state: &State,
    c: &Coverage,
    sinks: &[String],
    direct: &Direct,
    lang: crate::language::Language,
) {
    for w in c.warnings() {
        tracing::warn!("{w}");
    }
    if let Aliases::Unknown { why } = &c.aliases {
        Own {
            rule: "trailwatch-coverage",
            title: lang.pick(
                format!("trailwatch: source {} may miss root activity", c.source),
                format!("trailwatch: 소스 {} 가 root 활동을 놓칠 수 있음", c.source),
            ),
            severity: Severity::High,
            detail: {
                let account = c.account.as_deref().unwrap_or("(unknown)");
                lang.pick(
                    format!("the alias of account {account} is unknown ({why}); root's API calls carry the alias as their user name and may be missed. Console sign-ins are still caught. Add the account to [account_aliases] or grant iam:ListAccountAliases."),
                    format!("계정 {account} 의 별칭을 알 수 없습니다 ({why}). root 의 API 호출은 별칭을 사용자 이름으로 기록하므로 놓칠 수 있습니다. 콘솔 로그인은 계속 감지됩니다. [account_aliases] 에 계정을 추가하거나 iam:ListAccountAliases 권한을 부여하세요."),
                )
            },
            key: Some(format!(
                "{}-{}-alias",
                c.source,
                c.account.as_deref().unwrap_or("unknown")
            )),
        }
        .raise(state, sinks.to_vec(), direct);
    }
}

/// Accounts of a fan-out that cannot be read are an error in the log and an alert, once per
/// account and source (until a restart finds them readable).
fn tell_unreachable(
    state: &State,
    spec: &crate::source::SourceSpec,
    opened: &Opened,
    sinks: &[String],
    direct: &Direct,
    lang: crate::language::Language,
) {
    for u in &opened.unreachable {
        tracing::error!(source = %spec.name, account = %u.account, "account {} is NOT watched: {}", u.account, u.why);
        Own {
            rule: "trailwatch-coverage",
            title: lang.pick(
                format!("trailwatch: source {} cannot read account {}", spec.name, u.account),
                format!("trailwatch: 소스 {} 가 계정 {} 를 읽을 수 없음", spec.name, u.account),
            ),
            severity: Severity::High,
            detail: lang.pick(
                format!("account {} is not watched: {}. Check that the role exists in it and trusts the reader; trailwatch tries again every hour.", u.account, u.why),
                format!("계정 {} 은 감시되지 않습니다: {}. 해당 계정에 역할이 있고 신뢰 정책이 맞는지 확인하세요. trailwatch 는 매시간 다시 시도합니다.", u.account, u.why),
            ),
            // Again each day while it lasts.
            key: Some(format!(
                "{}-{}-unreachable-{}",
                spec.name,
                u.account,
                jiff::Timestamp::now().strftime("%Y-%m-%d")
            )),
        }
        .raise(state, sinks.to_vec(), direct);
    }
}

/// Starts the tasks of one configuration; `restart` asks for a restart with a new plan.
async fn start(
    s: &Settings,
    state: Arc<State>,
    shutdown: Shutdown,
    mode: Mode,
    metrics: &Metrics,
    restart: Arc<Notify>,
) -> Result<(JoinSet<()>, health::Streams), DaemonError> {
    let (direct, direct_rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = Shared {
        direct,
        state: state.clone(),
        judge: Arc::new(Judge {
            eval: s.evaluator(),
            router: s.router(),
        }),
        streams: Arc::default(),
        metrics: metrics.clone(),
        wake: Arc::new(Notify::new()),
        mode,
        language: s.language,
    };
    let all_sinks: Vec<String> = s.sinks.iter().map(|k| k.name.clone()).collect();
    let mut watched = Vec::new();
    let mut unreachable = 0;
    let mut pollers = JoinSet::new();
    for spec in &s.sources {
        if let SourceKind::Files { path } = &spec.kind {
            let p = FolderPoller {
                spec: spec.clone(),
                folder: Folder::new(path.clone(), spec.limits),
                shared: shared.clone(),
            };
            pollers.spawn(p.run(shutdown.clone()));
            continue;
        }
        let opened = open_source(spec, &s.account_aliases).await?;
        for c in &opened.coverage {
            tell_coverage(&state, c, &all_sinks, &shared.direct, s.language);
        }
        tell_unreachable(
            &state,
            spec,
            &opened,
            &all_sinks,
            &shared.direct,
            s.language,
        );
        watched.push(Watched::of(spec, &opened));
        unreachable += opened.unreachable.len();
        if let Some(trail) = &opened.trail {
            let reader = crate::poll::bucket::Reader {
                spec: spec.clone(),
                trail: trail.clone(),
                judge: shared.judge.clone(),
                state: state.clone(),
                stop: Arc::default(),
            };
            if trail.queue.is_some() {
                let q = QueuePoller {
                    reader: reader.clone(),
                    shared: shared.clone(),
                };
                pollers.spawn(q.run(shutdown.clone()));
            }
            let b = BucketPoller {
                reader,
                shared: shared.clone(),
            };
            pollers.spawn(b.run(shutdown.clone()));
        }
        for stream in opened.streams {
            let p = StreamPoller {
                stream,
                shared: shared.clone(),
                all_sinks: all_sinks.clone(),
            };
            pollers.spawn(p.run(shutdown.clone()));
        }
    }
    let sinks: health::Sinks = Arc::default();
    let mut tasks = JoinSet::new();
    // In --once mode delivery starts when the sources are done; otherwise at once, and the
    // pollers are one task of the set (a stop waits for them).
    let pollers = match mode {
        Mode::Once => Some(pollers),
        Mode::Forever => {
            tasks.spawn(async move { while pollers.join_next().await.is_some() {} });
            None
        }
    };
    let delivery = DeliveryTask {
        deliverer: Deliverer::open(s.delivery_plan())?,
        state: state.clone(),
        wake: shared.wake.clone(),
        sinks: sinks.clone(),
        metrics: metrics.clone(),
        mode,
        pollers,
        direct: direct_rx,
    };
    tasks.spawn(delivery.run(shutdown.clone()));
    if mode == Mode::Forever {
        let watch = CoverageWatch {
            sources: watched,
            unreachable,
            aliases: s.account_aliases.clone(),
            restart,
        };
        tasks.spawn(watch.run(shutdown.clone()));
        let health = HealthTask {
            state,
            streams: shared.streams.clone(),
            sinks,
            wake: shared.wake.clone(),
            after: s.health_after,
            heartbeat: s.heartbeat,
            tz: s.timezone.clone(),
            all_sinks,
            direct: shared.direct.clone(),
            language: s.language,
        };
        tasks.spawn(health.run(shutdown));
    }
    Ok((tasks, shared.streams.clone()))
}
