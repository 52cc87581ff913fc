//! `trailwatch run`: the one place that owns tasks and signals. Every stream of every source
//! polls on its own schedule, the delivery worker drains the outbox, SIGTERM/SIGINT stop
//! everything cleanly (work in flight finishes or stays in the outbox; state is flushed),
//! SIGHUP reloads the configuration (a broken one is rejected and the old one keeps running),
//! and systemd hears READY, STOPPING and watchdog pings.
//!
//! Self-monitoring: a source failing for longer than `health_after` raises a health alert
//! through the sinks, and a recovery message when it heals; an optional daily heartbeat says
//! the daemon is alive.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::alert::Alert;
use crate::config::Settings;
use crate::defaults;
use crate::deliver::Deliverer;
use crate::metrics::Metrics;
use crate::poll::{expire, poll_folder, poll_stream, PollError, PollReport};
use crate::rules::Evaluator;
use crate::severity::Severity;
use crate::source::aws::ApiStats;
use crate::source::files::Folder;
use crate::source::{open_streams, SourceKind};
use crate::state::State;

/// The health of one stream, shared with the health checker.
#[derive(Debug, Clone, Default)]
pub struct StreamHealth {
    pub last_ok: Option<Timestamp>,
    pub failing_since: Option<Timestamp>,
    pub last_error: Option<String>,
}

type Health = Arc<Mutex<HashMap<String, StreamHealth>>>;
type SinkHealths = Arc<Mutex<HashMap<String, crate::deliver::SinkHealth>>>;

/// How `run` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Until a signal.
    Forever,
    /// One poll of every source, then delivery of what is due, then exit.
    Once,
}

fn record_poll(
    health: &Health,
    metrics: &Metrics,
    key: &str,
    api: Option<&ApiStats>,
    r: &Result<PollReport, PollError>,
) {
    let l = [("stream", key)];
    if let Some(a) = api {
        use std::sync::atomic::Ordering::Relaxed;
        let src = [("source", key.split('/').next().unwrap_or(key))];
        metrics.set(
            "trailwatch_api_calls_total",
            "AWS API calls made (retries included).",
            "counter",
            &src,
            a.calls.load(Relaxed) as f64,
        );
        metrics.set(
            "trailwatch_api_throttled_total",
            "AWS API calls throttled.",
            "counter",
            &src,
            a.throttled.load(Relaxed) as f64,
        );
    }
    let mut h = health.lock().expect("health lock");
    let e = h.entry(key.to_string()).or_default();
    let now = Timestamp::now();
    match r {
        Ok(rep) => {
            metrics.add(
                "trailwatch_records_read_total",
                "CloudTrail records read.",
                &l,
                rep.records as f64,
            );
            metrics.add(
                "trailwatch_alerts_raised_total",
                "Alerts put into the outbox.",
                &l,
                rep.raised as f64,
            );
            metrics.set(
                "trailwatch_last_poll_success_timestamp_seconds",
                "Time of the last successful poll.",
                "gauge",
                &l,
                now.as_second() as f64,
            );
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
            metrics.add(
                "trailwatch_poll_failures_total",
                "Polls that failed.",
                &l,
                1.0,
            );
            e.failing_since.get_or_insert(now);
            e.last_error = Some(err.to_string());
            tracing::error!(stream = key, "poll failed: {err}");
        }
    }
}

/// Something the health checker watches: a stream or a sink.
#[derive(Debug, Clone)]
struct Component {
    what: String,
    failing_since: Option<Timestamp>,
    last_error: Option<String>,
    /// The sink's name, for a sink (its own alert goes through the others).
    sink: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum News {
    Failing,
    Recovered,
}

/// What to announce: components failing for `after` and not announced yet, and announced ones
/// that work again. `alerted` remembers the announcements.
fn health_news<'a>(
    parts: &'a [Component],
    alerted: &mut HashMap<String, bool>,
    now: Timestamp,
    after: Duration,
) -> Vec<(&'a Component, News)> {
    let mut out = Vec::new();
    for c in parts {
        let was = alerted.get(&c.what).copied().unwrap_or(false);
        match c.failing_since {
            Some(since) if !was && now.duration_since(since) >= crate::when::signed(after) => {
                alerted.insert(c.what.clone(), true);
                out.push((c, News::Failing));
            }
            None if was => {
                alerted.insert(c.what.clone(), false);
                out.push((c, News::Recovered));
            }
            _ => {}
        }
    }
    out
}

/// Whether the daily heartbeat is due at `local` (time of day `at`), and the day to remember.
/// The day the daemon starts counts as beaten if it starts after `at`, so a restart does not
/// send a second heartbeat the same day.
fn heartbeat_due(
    last: Option<jiff::civil::Date>,
    local: &jiff::Zoned,
    at: (i8, i8),
) -> (bool, Option<jiff::civil::Date>) {
    let today = local.date();
    let past = (local.hour(), local.minute()) >= at;
    match last {
        None if past => (false, Some(today)),
        None => (false, today.yesterday().ok()),
        Some(d) if past && d != today => (true, Some(today)),
        keep => (false, keep),
    }
}

/// Raises an alert of trailwatch itself (health, recovery, heartbeat) for `sinks`.
fn raise_own(
    state: &State,
    rule: &str,
    title: String,
    sev: Severity,
    detail: String,
    sinks: Vec<String>,
) {
    let now = Timestamp::now();
    let id = format!("trailwatch-{rule}-{}", now.as_millisecond());
    let record = serde_json::json!({
        "eventID": id, "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": "trailwatch", "eventName": rule, "errorCode": rule, "errorMessage": detail,
        "userIdentity": {"type": "trailwatch", "arn": "trailwatch"}
    });
    let alert = Alert {
        rule: rule.into(),
        title: title.clone(),
        subject: title,
        severity: sev,
        event_id: id,
        event_time: record["eventTime"].as_str().unwrap_or("").into(),
        source: "trailwatch".into(),
        record: record.to_string(),
    };
    if let Err(e) = state.raise(&alert, sinks, now).and_then(|_| state.flush()) {
        tracing::error!("cannot queue a health alert: {e}");
    }
}

/// Runs until stopped (or once). Returns after a clean stop.
pub async fn run(path: PathBuf, first: Settings, mode: Mode) -> anyhow::Result<()> {
    let state = Arc::new(State::open(&first.state_dir)?);
    for w in &first.warnings {
        tracing::warn!("{w}");
    }
    let mut settings = first;
    let metrics = Metrics::default();
    if let Some(addr) = settings.metrics_address {
        let m = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = m.serve(addr).await {
                tracing::error!(%addr, "metrics endpoint stopped: {e}");
            }
        });
    }
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut notified_ready = false;
    // The configuration that ran before a reload, to go back to if the new one cannot start
    // (a secret that cannot be read, a region that cannot be resolved).
    let mut fallback: Option<Settings> = None;
    loop {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = match start(&settings, state.clone(), stop_rx, mode, metrics.clone()).await
        {
            Ok(t) => t,
            Err(e) => {
                match fallback.take() {
                    Some(old) => {
                        tracing::error!("new configuration cannot start ({e:#}); the previous one keeps running");
                        settings = old;
                        continue;
                    }
                    None => return Err(e),
                }
            }
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
        let mut usec = 0u64;
        let mut watchdog = sd_notify::watchdog_enabled(false, &mut usec)
            .then(|| tokio::time::interval(Duration::from_micros(usec / 2)));
        let reload = loop {
            tokio::select! {
                _ = hup.recv() => {
                    match Settings::load(&path) {
                        Ok(new) => {
                            tracing::info!("configuration reloaded from {}", path.display());
                            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
                            break Some(new);
                        }
                        Err(e) => tracing::error!("new configuration rejected, the running one stays: {e:#}"),
                    }
                }
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break None; }
                _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: stopping"); break None; }
                _ = async { match watchdog.as_mut() { Some(w) => { w.tick().await; } None => std::future::pending().await } } => {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                }
                r = tasks.join_next() => {
                    match r {
                        None => break None,
                        Some(Err(e)) => tracing::error!("a task ended abnormally: {e}"),
                        Some(Ok(())) => {}
                    }
                    if mode == Mode::Once && tasks.is_empty() { break None; }
                }
            }
        };
        let _ = stop_tx.send(true);
        if reload.is_none() {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        }
        let grace = tokio::time::timeout(defaults::SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if grace.is_err() {
            tracing::warn!("tasks did not finish in time; their work stays in the outbox");
            tasks.abort_all();
        }
        state.flush()?;
        match reload {
            Some(new) => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
                fallback = Some(std::mem::replace(&mut settings, new));
            }
            None => return Ok(()),
        }
    }
}

async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.changed() => true,
    }
}

/// Starts the tasks of one configuration.
async fn start(
    s: &Settings,
    state: Arc<State>,
    stop: watch::Receiver<bool>,
    mode: Mode,
    metrics: Metrics,
) -> anyhow::Result<JoinSet<()>> {
    let eval = Arc::new(Evaluator::new(
        s.rules.clone(),
        s.sinks.iter().map(|k| k.name.clone()).collect(),
    ));
    let health: Health = Arc::default();
    let sink_health: SinkHealths = Arc::default();
    let wake = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    let mut pollers = JoinSet::new();
    for spec in &s.sources {
        match &spec.kind {
            SourceKind::Files { path } => {
                let metrics = metrics.clone();
                let (spec, state, eval, health, wake, mut stop) = (
                    spec.clone(),
                    state.clone(),
                    eval.clone(),
                    health.clone(),
                    wake.clone(),
                    stop.clone(),
                );
                let mut folder = Folder::new(path.clone());
                pollers.spawn(async move {
                    loop {
                        let r = poll_folder(&spec, &mut folder, &eval, &state, Timestamp::now());
                        if matches!(&r, Ok(rep) if rep.raised > 0) {
                            wake.notify_one();
                        }
                        record_poll(&health, &metrics, &spec.name, None, &r);
                        if mode == Mode::Once || sleep_or_stop(spec.poll_interval, &mut stop).await
                        {
                            return;
                        }
                    }
                });
            }
            _ => {
                let streams = open_streams(spec).await.map_err(|e| anyhow::anyhow!(e))?;
                for stream in streams {
                    let metrics = metrics.clone();
                    let (state, eval, health, wake, mut stop) = (
                        state.clone(),
                        eval.clone(),
                        health.clone(),
                        wake.clone(),
                        stop.clone(),
                    );
                    pollers.spawn(async move {
                        let key = format!("{}/{}", stream.source.name, stream.name);
                        loop {
                            let r = tokio::select! {
                                r = poll_stream(&stream, &eval, &state, Timestamp::now()) => r,
                                _ = stop.changed() => return,
                            };
                            if matches!(&r, Ok(rep) if rep.raised > 0) {
                                wake.notify_one();
                            }
                            record_poll(&health, &metrics, &key, Some(&stream.stats), &r);
                            if let Ok(Some(wm)) = state.watermark(&stream.source.name, &stream.name)
                            {
                                let lag = Timestamp::now().duration_since(wm).as_secs_f64();
                                metrics.set(
                                    "trailwatch_watermark_lag_seconds",
                                    "How far each stream's watermark is behind now.",
                                    "gauge",
                                    &[("stream", &key)],
                                    lag,
                                );
                            }
                            if mode == Mode::Once
                                || sleep_or_stop(stream.source.poll_interval, &mut stop).await
                            {
                                return;
                            }
                        }
                    });
                }
            }
        }
    }
    let mut deliverer = Deliverer::new(s).map_err(|e| anyhow::anyhow!(e))?;
    // In --once mode delivery starts when the sources are done; otherwise at once, and the
    // pollers are one task of the set (a stop waits for them).
    let mut pollers = Some(pollers);
    if mode == Mode::Forever {
        let mut p = pollers.take().expect("pollers");
        tasks.spawn(async move { while p.join_next().await.is_some() {} });
    }
    {
        let (state, wake, mut stop, shared) = (
            state.clone(),
            wake.clone(),
            stop.clone(),
            sink_health.clone(),
        );
        tasks.spawn(async move {
            if let Some(mut p) = pollers {
                while p.join_next().await.is_some() {}
            }
            loop {
                let now = Timestamp::now();
                let pass = deliverer.pass(&state, now).await;
                shared
                    .lock()
                    .expect("sink health lock")
                    .clone_from(&deliverer.health);
                for (sink, h) in &deliverer.health {
                    let l = [("sink", sink.as_str())];
                    metrics.set(
                        "trailwatch_alerts_sent_total",
                        "Messages delivered per sink.",
                        "counter",
                        &l,
                        h.sent as f64,
                    );
                    metrics.set(
                        "trailwatch_alerts_failed_total",
                        "Delivery attempts that failed per sink.",
                        "counter",
                        &l,
                        h.failed as f64,
                    );
                }
                metrics.set(
                    "trailwatch_outbox_depth",
                    "Alerts waiting for delivery.",
                    "gauge",
                    &[],
                    state.outbox_len() as f64,
                );
                metrics.set(
                    "trailwatch_dead_letters",
                    "Alerts given up on.",
                    "gauge",
                    &[],
                    state.dead_len() as f64,
                );
                let next = match pass {
                    Ok(p) => p.next_due,
                    Err(e) => {
                        tracing::error!("delivery: {e}");
                        Some(now + jiff::SignedDuration::from_secs(5))
                    }
                };
                let wait = next
                    .map(|t| {
                        Duration::try_from(t.duration_since(Timestamp::now())).unwrap_or_default()
                    })
                    .unwrap_or(Duration::from_secs(3600));
                if mode == Mode::Once && (next.is_none() || wait > Duration::from_secs(30)) {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = wake.notified() => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }
    if mode == Mode::Forever {
        let (state, health, sink_health, wake, mut stop) = (
            state.clone(),
            health.clone(),
            sink_health.clone(),
            wake.clone(),
            stop.clone(),
        );
        let after = s.health_after;
        let heartbeat = s.heartbeat;
        let tz = s.timezone.clone();
        let all_sinks: Vec<String> = s.sinks.iter().map(|k| k.name.clone()).collect();
        let every = (after / 2).clamp(Duration::from_millis(200), Duration::from_secs(30));
        tasks.spawn(async move {
            let mut last_beat: Option<jiff::civil::Date> = None;
            let mut alerted: HashMap<String, bool> = HashMap::new();
            let mut last_expire: Option<Timestamp> = None;
            loop {
                let now = Timestamp::now();
                let mut parts: Vec<Component> = health
                    .lock()
                    .expect("health lock")
                    .iter()
                    .map(|(k, h)| Component {
                        what: format!("source {k}"),
                        failing_since: h.failing_since,
                        last_error: h.last_error.clone(),
                        sink: None,
                    })
                    .collect();
                parts.extend(
                    sink_health
                        .lock()
                        .expect("sink health lock")
                        .iter()
                        .map(|(k, h)| Component {
                            what: format!("sink {k}"),
                            failing_since: h.failing_since,
                            last_error: h.last_error.clone(),
                            sink: Some(k.clone()),
                        }),
                );
                let news = health_news(&parts, &mut alerted, now, after);
                let any_news = !news.is_empty();
                for (c, news) in news {
                    // A failing sink is told through the others.
                    let to: Vec<String> = all_sinks
                        .iter()
                        .filter(|x| Some(*x) != c.sink.as_ref())
                        .cloned()
                        .collect();
                    match news {
                        News::Failing => raise_own(
                            &state,
                            "trailwatch-health",
                            format!("trailwatch: {} failing", c.what),
                            Severity::High,
                            format!(
                                "{} has failed since {}: {}",
                                c.what,
                                c.failing_since.map(|t| t.to_string()).unwrap_or_default(),
                                c.last_error.clone().unwrap_or_default()
                            ),
                            to,
                        ),
                        News::Recovered => raise_own(
                            &state,
                            "trailwatch-recovery",
                            format!("trailwatch: {} recovered", c.what),
                            Severity::Info,
                            format!("{} works again", c.what),
                            to,
                        ),
                    }
                }
                if any_news {
                    wake.notify_one();
                }
                if let Some(at) = heartbeat {
                    let local = now.to_zoned(tz.clone());
                    let (due, next) = heartbeat_due(last_beat, &local, at);
                    last_beat = next;
                    if due {
                        raise_own(
                            &state,
                            "trailwatch-heartbeat",
                            "trailwatch is alive".into(),
                            Severity::Info,
                            format!(
                                "outbox {} alerts, dead letters {}",
                                state.outbox_len(),
                                state.dead_len()
                            ),
                            all_sinks.clone(),
                        );
                        wake.notify_one();
                    }
                }
                if last_expire
                    .is_none_or(|t| now.duration_since(t) > jiff::SignedDuration::from_hours(1))
                {
                    if let Err(e) = expire(&state, now, defaults::RAISED_RETENTION) {
                        tracing::warn!("cannot expire old alert keys: {e}");
                    }
                    last_expire = Some(now);
                }
                if sleep_or_stop(every, &mut stop).await {
                    return;
                }
            }
        });
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(what: &str, since: Option<&str>) -> Component {
        Component {
            what: what.into(),
            failing_since: since.map(|s| s.parse().unwrap()),
            last_error: None,
            sink: None,
        }
    }

    #[test]
    fn the_heartbeat_is_daily_at_its_time() {
        let z = |s: &str| s.parse::<jiff::Zoned>().unwrap();
        let at = (9, 0);
        // Started at 08:00: due at 09:00 the same day, then not again until the next day.
        let (due, last) = heartbeat_due(None, &z("2026-11-22T08:00[Asia/Seoul]"), at);
        assert!(!due);
        let (due, last) = heartbeat_due(last, &z("2026-11-22T09:00[Asia/Seoul]"), at);
        assert!(due);
        let (due, last) = heartbeat_due(last, &z("2026-11-22T15:00[Asia/Seoul]"), at);
        assert!(!due);
        let (due, _) = heartbeat_due(last, &z("2026-11-23T09:01[Asia/Seoul]"), at);
        assert!(due);
        // Started at 10:00: nothing until tomorrow 09:00.
        let (due, last) = heartbeat_due(None, &z("2026-11-22T10:00[Asia/Seoul]"), at);
        assert!(!due);
        let (due, _) = heartbeat_due(last, &z("2026-11-23T08:59[Asia/Seoul]"), at);
        assert!(!due);
    }

    #[test]
    fn health_news_announces_once_and_recovery_once() {
        let after = Duration::from_secs(900);
        let mut alerted = HashMap::new();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let failing = [comp("source a", Some("2026-11-22T00:00:00Z"))];
        assert!(health_news(&failing, &mut alerted, t("2026-11-22T00:10:00Z"), after).is_empty());
        let n = health_news(&failing, &mut alerted, t("2026-11-22T00:15:00Z"), after);
        assert_eq!(n.iter().map(|x| x.1).collect::<Vec<_>>(), [News::Failing]);
        assert!(health_news(&failing, &mut alerted, t("2026-11-22T00:20:00Z"), after).is_empty());
        let healed = [comp("source a", None)];
        let n = health_news(&healed, &mut alerted, t("2026-11-22T00:21:00Z"), after);
        assert_eq!(n.iter().map(|x| x.1).collect::<Vec<_>>(), [News::Recovered]);
        assert!(health_news(&healed, &mut alerted, t("2026-11-22T00:22:00Z"), after).is_empty());
    }
}
