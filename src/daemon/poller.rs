//! The poller tasks: one per stream of an AWS source, one per `files` source. Each polls on
//! its source's schedule until stopped, wakes the delivery worker when it raised alerts, and
//! reports each poll to the health checker and the metrics.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

use super::health::Streams;
use super::mode::Mode;
use super::own::{Direct, Own};
use super::shutdown::Shutdown;
use crate::names::OwnAlert;
use crate::ops::Metrics;
use crate::poll::{poll_folder, poll_stream_measured, sweep_stream, Judge, PollError, PollReport};
use crate::severity::Severity;
use crate::source::files::Folder;
use crate::source::{SourceSpec, Stream};
use crate::state::State;
use crate::when;

/// What every poller shares.
#[derive(Clone)]
pub(super) struct Context {
    pub state: Arc<State>,
    pub judge: Arc<Judge>,
    pub streams: Streams,
    pub metrics: Metrics,
    pub wake: Arc<Notify>,
    pub mode: Mode,
    /// Where alerts of trailwatch itself go while the state cannot be written.
    pub direct: Direct,
    pub language: crate::language::Language,
    /// The shared table, when the state is one (standbys hand their reading to it).
    pub table: Option<Arc<crate::instances::table::Table>>,
}

impl Context {
    /// What the pollers of configuration `s` share; alerts of trailwatch itself that cannot
    /// wait for the state go to `direct`.
    pub(super) fn new(
        s: &crate::settings::Settings,
        state: Arc<State>,
        metrics: Metrics,
        mode: Mode,
        (direct, table): (Direct, Option<Arc<crate::instances::table::Table>>),
    ) -> Context {
        let wake = Arc::new(Notify::new());
        Context {
            direct,
            state,
            judge: Arc::new(Judge {
                eval: s.evaluator(),
                router: s.router(),
                wake: Some(wake.clone()),
            }),
            streams: Arc::default(),
            metrics,
            wake,
            mode,
            language: s.language,
            table,
        }
    }

    /// Counts the records a poll could not read as they were, by kind, and the alerts with
    /// nowhere to go.
    pub(super) fn note_counts(&self, source: &str, rep: &PollReport) {
        if rep.links_skipped > 0 {
            self.metrics.links_skipped(source, rep.links_skipped);
        }
        if rep.undeliverable > 0 {
            self.metrics.undeliverable(source, rep.undeliverable);
        }
        for (kind, n) in &rep.note_counts {
            self.metrics.records_noted(source, kind.label(), *n);
        }
        for ((rule, why), n) in &rep.quieted {
            self.metrics.quieted(rule, why, *n);
        }
        for (rule, n) in &rep.by_rule {
            self.metrics.raised_by_rule(rule, *n);
        }
        self.tell_objects(source, rep);
    }

    /// Objects of a bucket that a poll could not trust or read: a metric each, and an alert
    /// once per object.
    fn tell_objects(&self, source: &str, rep: &PollReport) {
        let lang = self.language;
        let sinks = self.judge.router.all().to_vec();
        for (obj, why) in &rep.suspicious {
            self.metrics.object_doubted(source);
            Own {
                rule: OwnAlert::SuspiciousObject,
                title: lang.pick(
                    format!("trailwatch: an object of source {source} is named suspiciously"),
                    format!("trailwatch: 소스 {source} 의 객체 이름이 의심스러움"),
                ),
                severity: Severity::High,
                detail: lang.pick(
                    format!("{obj}: {why}. It was read and alerted on, but trailwatch does not take its name's time as a delivery time. A file named so can only be written by someone with write access to the trail bucket: find out who wrote it."),
                    format!("{obj}: {why}. 읽고 경보는 보냈지만, 이름의 시각을 전달 시각으로 믿지 않습니다. 이런 이름의 파일은 버킷에 쓰기 권한이 있는 사람만 만들 수 있습니다: 누가 썼는지 확인하세요."),
                ),
                key: Some(obj.clone()),
            }
            .raise(&self.state, sinks.clone(), &self.direct);
        }
        for (obj, err) in &rep.set_aside {
            self.metrics.object_set_aside(source);
            Own {
                rule: OwnAlert::UnreadableObject,
                title: lang.pick(
                    format!("trailwatch: source {source} cannot read an object"),
                    format!("trailwatch: 소스 {source} 가 객체를 읽을 수 없음"),
                ),
                severity: Severity::High,
                detail: lang.pick(
                    format!("{obj} cannot be read: {err}. Its records are NOT read yet: it is set aside and tried again (after `unreadable_retry`, 5 minutes by default, then less often, at least every 6 hours), and the files after it are read meanwhile. Fix the bucket policy or the KMS key policy; `trailwatch state show` lists what is set aside."),
                    format!("{obj} 을 읽을 수 없습니다: {err}. 이 파일의 레코드는 아직 읽지 않았습니다. 따로 두고 다시 시도하며 (unreadable_retry, 기본 5분 후, 이후 점점 드물게, 적어도 6시간마다), 그 뒤의 파일은 계속 읽습니다. 버킷 정책이나 KMS 키 정책을 고치세요. `trailwatch state show` 가 목록을 보여줍니다."),
                ),
                key: Some(obj.clone()),
            }
            .raise(&self.state, sinks.clone(), &self.direct);
        }
        self.tell_findings(source, rep);
        if !rep.suspicious.is_empty() || !rep.set_aside.is_empty() || !rep.findings.is_empty() {
            self.wake.notify_one();
        }
    }

    /// What checking the trail's digests did: its counts, and an alert (critical, never
    /// silenced) once per finding.
    fn tell_findings(&self, source: &str, rep: &PollReport) {
        if rep.digests + rep.log_files_checked + rep.log_files_read > 0 {
            let (d, c, r) = (rep.digests, rep.log_files_checked, rep.log_files_read);
            self.metrics.digests(source, d, c, r);
        }
        let (lang, sinks) = (self.language, self.judge.router.all().to_vec());
        for f in &rep.findings {
            self.metrics.integrity_finding(source, f.kind.name());
            tracing::error!(source, kind = f.kind.name(), key = %f.key, "the trail's digests: {}: {}", f.line(), f.kind.meaning());
            Own {
                rule: OwnAlert::Integrity,
                title: lang.pick(
                    format!("trailwatch: CloudTrail integrity, {} in {}/{}", f.kind.name(), f.account, f.region),
                    format!("trailwatch: CloudTrail 무결성, {} ({}/{})", f.kind.name(), f.account, f.region),
                ),
                severity: Severity::Critical,
                detail: lang.pick(
                    format!("{}: {} ({}). Hour {}. Source {source}. Who can write to the trail bucket? Check its policy and the S3 data events; `trailwatch verify` checks a window again.", f.line(), f.kind.meaning(), f.key, f.hour),
                    format!("{}: {} ({}). 시간대 {}. 소스 {source}. 트레일 버킷에 누가 쓸 수 있는지, 버킷 정책과 S3 데이터 이벤트를 확인하세요. `trailwatch verify` 로 기간을 다시 점검할 수 있습니다.", f.line(), f.kind.meaning(), f.key, f.hour),
                ),
                key: Some(format!("{}:{}", f.kind.name(), f.key)),
            }
            .raise(&self.state, sinks.clone(), &self.direct);
        }
    }

    /// Records one poll's outcome: wake delivery, health, metrics, log.
    pub(super) fn record(&self, key: &str, r: &Result<PollReport, PollError>) {
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

/// Polls one stream of an AWS source, and sweeps it for late events.
pub(super) struct StreamPoller {
    pub stream: Stream,
    pub cx: Context,
    /// Every sink: where alerts of trailwatch itself go.
    pub all_sinks: Vec<String>,
}

impl StreamPoller {
    pub(super) async fn run(self, mut shutdown: Shutdown) {
        let (stream, sh) = (&self.stream, &self.cx);
        let spec = &stream.source;
        let key = format!("{}/{}", spec.name, stream.name);
        let mut next_sweep = Timestamp::now() + when::signed(spec.late_sweep_interval);
        // Lateness tells delivery delays only once this process has polled the stream.
        let mut polled = false;
        loop {
            // Polls start every poll_interval (a poll's own time is not added to the wait).
            let began = std::time::Instant::now();
            let now = stream.clock.now();
            let r = tokio::select! {
                r = poll_stream_measured(stream, &sh.judge, &sh.state, now, polled) => r,
                _ = shutdown.recv() => return,
            };
            polled |= r.is_ok();
            sh.record(&key, &r);
            if let Ok(rep) = &r {
                self.lateness(rep);
                sh.note_counts(&spec.name, rep);
            }
            if !spec.late_sweep.is_zero() && polled && Timestamp::now() >= next_sweep {
                next_sweep = Timestamp::now() + when::signed(spec.late_sweep_interval);
                let r = tokio::select! {
                    r = sweep_stream(stream, &sh.judge, &sh.state, stream.clock.now()) => r,
                    _ = shutdown.recv() => return,
                };
                self.swept(&key, r);
            }
            self.publish(&key);
            let wait = spec.poll_interval.saturating_sub(began.elapsed());
            if sh.mode == Mode::Once || shutdown.sleep(wait).await {
                return;
            }
        }
    }

    /// The sweep's outcome: alerts raised wake delivery; a failure is logged (the next poll's
    /// health says whether the stream is failing).
    fn swept(&self, key: &str, r: Result<PollReport, PollError>) {
        match r {
            Ok(rep) => {
                if rep.raised > 0 {
                    self.cx.wake.notify_one();
                }
                tracing::debug!(
                    stream = key,
                    pages = rep.pages,
                    raised = rep.raised,
                    "late sweep done"
                );
                self.lateness(&rep);
            }
            Err(e) => tracing::error!(stream = key, "late sweep failed: {e}"),
        }
    }

    /// Lateness metrics, and a warning and an alert for every event later than `overlap`.
    fn lateness(&self, rep: &PollReport) {
        let (sh, spec) = (&self.cx, &self.stream.source);
        for l in &rep.lateness {
            sh.metrics.lateness(&spec.name, *l);
        }
        for late in &rep.late {
            sh.metrics.late_event(&spec.name);
            let after = humantime::format_duration(Duration::from_secs(late.lateness.as_secs()));
            tracing::warn!(
                source = %spec.name,
                stream = %self.stream.name,
                event_id = %late.event_id,
                rule = %late.rule,
                "event {} ({}, eventTime {}) was first seen {after} after its eventTime, later than overlap ({}): raise `overlap` or keep the late sweep on",
                late.event_id,
                late.rule,
                late.event_time,
                humantime::format_duration(spec.overlap)
            );
            Own {
                rule: OwnAlert::LateEvent,
                title: sh.language.pick(
                    format!("trailwatch: an event arrived {after} late"),
                    format!("trailwatch: 이벤트가 {after} 늦게 도착"),
                ),
                severity: Severity::Medium,
                detail: {
                    let (id, rule, time) = (&late.event_id, &late.rule, &late.event_time);
                    let (src, stream) = (&spec.name, &self.stream.name);
                    let overlap = humantime::format_duration(spec.overlap);
                    let sweep = humantime::format_duration(spec.late_sweep);
                    sh.language.pick(
                        format!("event {id} (rule {rule}, eventTime {time}) in {src}/{stream} became visible {after} after its eventTime, later than overlap ({overlap}); it was alerted, but events later than the late sweep ({sweep}) would be missed"),
                        format!("이벤트 {id} (규칙 {rule}, eventTime {time}, {src}/{stream}) 가 eventTime 보다 {after} 늦게 보였습니다 (overlap {overlap} 초과). 경보는 발송되었지만, late sweep ({sweep}) 보다 늦은 이벤트는 놓칠 수 있습니다"),
                    )
                },
                key: Some(late.event_id.clone()),
            }
            .raise(&sh.state, self.all_sinks.clone(), &sh.direct);
        }
        if !rep.late.is_empty() {
            sh.wake.notify_one();
        }
    }

    /// API calls, watermark lag and clock skew.
    fn publish(&self, key: &str) {
        let (stream, sh) = (&self.stream, &self.cx);
        sh.metrics.api_calls(
            &stream.source.name,
            stream.stats.calls.load(Relaxed),
            stream.stats.throttled.load(Relaxed),
        );
        if let Ok(Some(wm)) = sh.state.watermark(&stream.source.name, &stream.name) {
            let lag = stream.clock.now().duration_since(wm).as_secs_f64();
            sh.metrics.watermark_lag(key, lag);
        }
        if let Some(skew) = stream.clock.skew() {
            sh.metrics
                .clock_skew(&stream.source.name, skew.as_secs_f64());
        }
    }
}

/// Looks at a `files` source's folder.
pub(super) struct FolderPoller {
    pub spec: Arc<SourceSpec>,
    pub folder: Folder,
    pub cx: Context,
}

impl FolderPoller {
    /// Looks at the folder on its schedule. Reading is blocking file I/O: it runs off the async
    /// threads, and a stop ends it between two records (the file is read again next time).
    pub(super) async fn run(self, mut shutdown: Shutdown) {
        let FolderPoller {
            spec,
            mut folder,
            cx,
        } = self;
        let stop = Arc::new(AtomicBool::new(false));
        // `--once` looks again, briefly, at files that were still changing.
        let mut once_tries = 20;
        loop {
            let (sp, sh, st) = (spec.clone(), cx.clone(), stop.clone());
            let mut job = tokio::task::spawn_blocking(move || {
                let r = poll_folder(
                    &sp,
                    &mut folder,
                    &sh.judge,
                    &sh.state,
                    Timestamp::now(),
                    &st,
                );
                (folder, r)
            });
            let (f, r) = tokio::select! {
                j = &mut job => j.expect("a look at a folder does not panic"),
                _ = shutdown.recv() => {
                    stop.store(true, Ordering::Relaxed);
                    job.await.expect("a look at a folder does not panic")
                }
            };
            folder = f;
            cx.record(&spec.name, &r);
            if let Ok(rep) = &r {
                cx.note_counts(&spec.name, rep);
            }
            if shutdown.is_shutdown() {
                return;
            }
            // Files that were still changing are looked at again soon.
            let again = Duration::from_millis(300).min(spec.poll_interval);
            let wait = match cx.mode {
                Mode::Once if folder.deferred > 0 && once_tries > 0 => {
                    once_tries -= 1;
                    again
                }
                Mode::Once => return,
                Mode::Forever if folder.deferred > 0 => again,
                Mode::Forever => spec.poll_interval,
            };
            if shutdown.sleep(wait).await {
                return;
            }
        }
    }
}
