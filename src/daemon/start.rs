//! Starting one configuration: every source opened and its pollers spawned (what a source
//! cannot cover said and alerted), then the delivery, coverage and health tasks.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::bucket::BucketPoller;
use super::coverage::{CoverageWatch, Watched};
use super::delivery::DeliveryTask;
use super::error::DaemonError;
use super::health::{self, HealthTask};
use super::housekeeping::Housekeeping;
use super::intake::Intake;
use super::mode::Mode;
use super::own::{Direct, Own};
use super::poller::{Context, FolderPoller, StreamPoller};
use super::queue::{QueuePoller, READERS};
use super::shutdown::Shutdown;
use crate::delivery::Deliverer;
use crate::instances::table::Table;
use crate::language::Language;
use crate::names::OwnAlert;
use crate::ops::{Readiness, Served};
use crate::settings::Settings;
use crate::severity::Severity;
use crate::source::coverage::{Aliases, Coverage};
use crate::source::files::Folder;
use crate::source::{open_source, Opened, SourceKind, SourceSpec};
use crate::state::State;

/// The tasks of one configuration, and the streams' health (for `--once`'s outcome).
pub(super) struct Started {
    pub tasks: JoinSet<()>,
    pub streams: health::Streams,
}

/// What the sources' pollers became.
struct Pollers {
    set: JoinSet<()>,
    watched: Vec<Watched>,
    unreachable: usize,
}

/// Starts the tasks of one configuration; `restart` asks for a restart with a new plan.
pub(super) async fn start(
    s: &Settings,
    state: Arc<State>,
    shutdown: Shutdown,
    mode: Mode,
    op: &Served,
    restart: Arc<Notify>,
    table: Option<Arc<Table>>,
) -> Result<Started, DaemonError> {
    let (direct, direct_rx) = tokio::sync::mpsc::unbounded_channel();
    let cx = Context::new(s, state.clone(), op.metrics.clone(), mode, (direct, table));
    let mut pollers = spawn_pollers(s, &cx, &shutdown).await?;
    let sinks: health::Sinks = Arc::default();
    let mut tasks = JoinSet::new();
    // In --once mode delivery starts when the sources are done; otherwise at once, and the
    // pollers are one task of the set (a stop waits for them).
    let waited = match mode {
        Mode::Once => Some(std::mem::take(&mut pollers.set)),
        Mode::Forever => {
            let mut set = std::mem::take(&mut pollers.set);
            tasks.spawn(async move { while set.join_next().await.is_some() {} });
            None
        }
    };
    let delivery = DeliveryTask {
        deliverer: Deliverer::open(s.delivery_plan())?,
        state: state.clone(),
        wake: cx.wake.clone(),
        sinks: sinks.clone(),
        metrics: op.metrics.clone(),
        mode,
        pollers: waited,
        direct: direct_rx,
    };
    tasks.spawn(delivery.run(shutdown.clone()));
    if mode == Mode::Forever {
        let watch = CoverageWatch {
            sources: pollers.watched,
            unreachable: pollers.unreachable,
            aliases: s.account_aliases.clone(),
            restart,
        };
        tasks.spawn(watch.run(shutdown.clone()));
        let health = HealthTask {
            state,
            streams: cx.streams.clone(),
            sinks: sinks.clone(),
            wake: cx.wake.clone(),
            after: s.health_after,
            heartbeat: s.heartbeat,
            tz: s.timezone.clone(),
            all_sinks: cx.judge.router.all().to_vec(),
            direct: cx.direct.clone(),
            language: s.language,
            digest_sources: digest_sources(s),
        };
        tasks.spawn(health.run(shutdown.clone()));
        let chores = Housekeeping {
            state: cx.state.clone(),
        };
        tasks.spawn(chores.run(shutdown));
        ready_when_polled(s, &cx, &sinks, &op.ready);
        super::status::install(s, &cx, &sinks, &op.pages);
    }
    Ok(Started {
        tasks,
        streams: cx.streams.clone(),
    })
}

/// Installs this configuration's readiness check: its streams, sinks and state.
fn ready_when_polled(s: &Settings, cx: &Context, sinks: &health::Sinks, ready: &Readiness) {
    let check = health::ReadyCheck {
        streams: cx.streams.clone(),
        sinks: sinks.clone(),
        state: cx.state.clone(),
        cadence: s
            .sources
            .iter()
            .map(|x| (x.name.clone(), x.cadence()))
            .collect(),
        started: jiff::Timestamp::now(),
        digest_sources: digest_sources(s),
    };
    ready.set(move || check.reasons(jiff::Timestamp::now()));
}

/// The sources that check their trail's digests.
fn digest_sources(s: &Settings) -> Vec<String> {
    s.sources
        .iter()
        .filter(|x| x.verifies_digests())
        .map(|x| x.name.clone())
        .collect()
}

/// Opens every source and spawns its pollers: one per folder, per stream, per bucket (and its
/// queue). What a source cannot cover is said and alerted.
async fn spawn_pollers(
    s: &Settings,
    cx: &Context,
    shutdown: &Shutdown,
) -> Result<Pollers, DaemonError> {
    let all_sinks = cx.judge.router.all().to_vec();
    let mut p = Pollers {
        set: JoinSet::new(),
        watched: Vec::new(),
        unreachable: 0,
    };
    for spec in &s.sources {
        if let SourceKind::Files { path } = &spec.kind {
            let f = FolderPoller {
                spec: spec.clone(),
                folder: Folder::new(path.clone(), spec.limits),
                cx: cx.clone(),
            };
            p.set.spawn(f.run(shutdown.clone()));
            continue;
        }
        let opened = open_source(spec, &s.account_aliases).await?;
        for c in &opened.coverage {
            tell_coverage(&cx.state, c, &all_sinks, &cx.direct, s.language);
        }
        tell_unreachable(spec, &opened, cx, &all_sinks);
        p.watched.push(Watched::of(spec, &opened));
        p.unreachable += opened.unreachable.len();
        spawn_streams(spec, opened, cx, shutdown, &mut p.set);
    }
    Ok(p)
}

/// Spawns the pollers of an opened AWS source: its bucket (and queue), its streams.
fn spawn_streams(
    spec: &Arc<SourceSpec>,
    opened: Opened,
    cx: &Context,
    shutdown: &Shutdown,
    set: &mut JoinSet<()>,
) {
    if let Some(trail) = &opened.trail {
        let reader = crate::poll::s3::Reader {
            spec: spec.clone(),
            trail: trail.clone(),
            judge: cx.judge.clone(),
            state: cx.state.clone(),
            stop: Arc::default(),
            verifying: Arc::default(),
        };
        if trail.queue.is_some() {
            for _ in 0..READERS {
                let q = QueuePoller {
                    reader: reader.clone(),
                    cx: cx.clone(),
                    hand_to: None,
                };
                set.spawn(q.run(shutdown.clone()));
            }
            // What the standbys read from the queue is taken in here.
            if let (Some(table), Mode::Forever) = (&cx.table, cx.mode) {
                let i = Intake {
                    reader: reader.clone(),
                    cx: cx.clone(),
                    table: table.clone(),
                };
                set.spawn(i.run(shutdown.clone()));
            }
        }
        let b = BucketPoller {
            reader,
            cx: cx.clone(),
        };
        set.spawn(b.run(shutdown.clone()));
    }
    for stream in opened.streams {
        let p = StreamPoller {
            stream,
            cx: cx.clone(),
            all_sinks: cx.judge.router.all().to_vec(),
        };
        set.spawn(p.run(shutdown.clone()));
    }
}

/// Logs what a source's coverage lacks; an unknown alias (root's API calls may be missed) is
/// also an alert, once per account and source.
fn tell_coverage(state: &State, c: &Coverage, sinks: &[String], direct: &Direct, lang: Language) {
    for w in c.warnings() {
        tracing::warn!("{w}");
    }
    if let Aliases::Unknown { why } = &c.aliases {
        Own {
            rule: OwnAlert::Coverage,
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
fn tell_unreachable(spec: &SourceSpec, opened: &Opened, cx: &Context, sinks: &[String]) {
    let (state, direct, lang) = (&cx.state, &cx.direct, cx.language);
    for u in &opened.unreachable {
        tracing::error!(source = %spec.name, account = %u.account, "account {} is NOT watched: {}", u.account, u.why);
        Own {
            rule: OwnAlert::Coverage,
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
