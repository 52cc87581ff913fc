//! Self-monitoring: a stream or sink failing for longer than `health_after` (or a place whose
//! trail digests stopped being verified) raises a health alert through the sinks (a failing
//! sink's through the others), and a recovery message when it heals; a state database that cannot be written is opened again and its outage told; an
//! optional daily heartbeat says the daemon is alive. What `/readyz` checks is here too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use tokio::sync::Notify;

use super::own::{Direct, Own};
use super::shutdown::Shutdown;
use crate::delivery::SinkHealth;
use crate::language::Language;
use crate::names::OwnAlert;
use crate::severity::Severity;
use crate::state::State;
use crate::when;

/// The health of one stream, shared with the health checker.
#[derive(Debug, Clone, Default)]
pub(super) struct StreamHealth {
    pub last_ok: Option<Timestamp>,
    pub failing_since: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// Every stream's health, by `source/stream`.
pub(super) type Streams = Arc<Mutex<HashMap<String, StreamHealth>>>;
/// Every sink's health, as the delivery worker last saw it.
pub(super) type Sinks = Arc<Mutex<HashMap<String, SinkHealth>>>;

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
            Some(since) if !was && now.duration_since(since) >= when::signed(after) => {
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

/// The health checker: looks every `every`, until stopped.
pub(super) struct HealthTask {
    pub state: Arc<State>,
    pub streams: Streams,
    pub sinks: Sinks,
    pub wake: Arc<Notify>,
    pub after: Duration,
    pub heartbeat: Option<(i8, i8)>,
    pub tz: TimeZone,
    /// Every sink's name: where health alerts go.
    pub all_sinks: Vec<String>,
    /// Where they go while the state cannot be written.
    pub direct: Direct,
    pub language: Language,
    /// The sources that check their trail's digests (a place whose digests stop is failing).
    pub digest_sources: Vec<String>,
}

impl HealthTask {
    pub(super) async fn run(self, mut shutdown: Shutdown) {
        let every = (self.after / 2).clamp(Duration::from_millis(200), Duration::from_secs(30));
        let mut last_beat: Option<jiff::civil::Date> = None;
        let mut alerted: HashMap<String, bool> = HashMap::new();
        let mut outage: Option<Timestamp> = None;
        loop {
            let now = Timestamp::now();
            self.recover_state(&mut outage);
            let mut raised = self.announce(&mut alerted, now);
            if let Some(at) = self.heartbeat {
                let (due, next) = heartbeat_due(last_beat, &now.to_zoned(self.tz.clone()), at);
                last_beat = next;
                if due {
                    self.beat();
                    raised = true;
                }
            }
            if raised {
                self.wake.notify_one();
            }
            if shutdown.sleep(every).await {
                return;
            }
        }
    }

    /// Opens the state again when writes to it failed (a full disk): sled refuses every write
    /// after one fails, until it is opened again. Says when an outage is over: writes have
    /// worked for `state::STEADY` since.
    fn recover_state(&self, outage: &mut Option<Timestamp>) {
        if self.state.broken().is_some() {
            if let Err(e) = self.state.recover() {
                tracing::debug!("the state cannot be opened again yet: {e}");
            }
        }
        match (self.state.outage(), *outage) {
            (Some(b), _) => *outage = Some(b.since),
            (None, Some(since)) => {
                tracing::warn!(
                    "the state database works again (it could not be written since {since})"
                );
                *outage = None;
            }
            (None, None) => {}
        }
    }

    /// Every stream and sink, as the checker sees them.
    fn components(&self) -> Vec<Component> {
        let mut parts: Vec<Component> = self
            .streams
            .lock()
            .expect("health lock")
            .iter()
            .map(|(k, h)| Component {
                what: self
                    .language
                    .pick(format!("source {k}"), format!("소스 {k}")),
                failing_since: h.failing_since,
                last_error: h.last_error.clone(),
                sink: None,
            })
            .collect();
        parts.extend(
            self.sinks
                .lock()
                .expect("sink health lock")
                .iter()
                .map(|(k, h)| Component {
                    what: self.language.pick(format!("sink {k}"), format!("싱크 {k}")),
                    failing_since: h.failing_since,
                    last_error: h.last_error.clone(),
                    sink: Some(k.clone()),
                }),
        );
        let now = Timestamp::now();
        for p in DigestPlace::all(&self.state, &self.digest_sources) {
            let since = p.overdue_since(now);
            parts.push(Component {
                what: self.language.pick(
                    format!("digests of source {}/{}", p.source, p.place),
                    format!("소스 {}/{} 의 다이제스트", p.source, p.place),
                ),
                failing_since: since,
                last_error: since.map(|_| p.why(now)),
                sink: None,
            });
        }
        if let Some(b) = self.state.outage() {
            parts.push(Component {
                what: self
                    .language
                    .pick("state database".into(), "상태 데이터베이스".into()),
                failing_since: Some(b.since),
                last_error: Some(b.error),
                sink: None,
            });
        } else {
            parts.push(Component {
                what: self
                    .language
                    .pick("state database".into(), "상태 데이터베이스".into()),
                failing_since: None,
                last_error: None,
                sink: None,
            });
        }
        parts
    }

    /// Raises the health and recovery alerts due; true when any was raised.
    fn announce(&self, alerted: &mut HashMap<String, bool>, now: Timestamp) -> bool {
        let parts = self.components();
        let news = health_news(&parts, alerted, now, self.after);
        for (c, news) in &news {
            // A failing sink is told through the others.
            let to: Vec<String> = self
                .all_sinks
                .iter()
                .filter(|x| Some(*x) != c.sink.as_ref())
                .cloned()
                .collect();
            match news {
                News::Failing => Own {
                    rule: OwnAlert::Health,
                    title: self.language.pick(
                        format!("trailwatch: {} failing", c.what),
                        format!("trailwatch: {} 장애", c.what),
                    ),
                    severity: Severity::High,
                    detail: {
                        let since = c.failing_since.map(|t| t.to_string()).unwrap_or_default();
                        let error = c.last_error.clone().unwrap_or_default();
                        self.language.pick(
                            format!("{} has failed since {since}: {error}", c.what),
                            format!("{}: {since}부터 실패 중: {error}", c.what),
                        )
                    },
                    key: None,
                }
                .raise(&self.state, to, &self.direct),
                News::Recovered => Own {
                    rule: OwnAlert::Recovery,
                    title: self.language.pick(
                        format!("trailwatch: {} recovered", c.what),
                        format!("trailwatch: {} 복구됨", c.what),
                    ),
                    severity: Severity::Info,
                    detail: self.language.pick(
                        format!("{} works again", c.what),
                        format!("{} 다시 정상 작동", c.what),
                    ),
                    key: None,
                }
                .raise(&self.state, to, &self.direct),
            };
        }
        !news.is_empty()
    }

    fn beat(&self) {
        Own {
            rule: OwnAlert::Heartbeat,
            title: self.language.pick(
                "trailwatch is alive".into(),
                "trailwatch 정상 작동 중".into(),
            ),
            severity: Severity::Info,
            detail: {
                let (o, d) = (self.state.outbox_len(), self.state.dead_len());
                self.language.pick(
                    format!("outbox {o} alerts, dead letters {d}"),
                    format!("발송 대기 {o}건, 실패 보관 {d}건"),
                )
            },
            key: None,
        }
        .raise(&self.state, self.all_sinks.clone(), &self.direct);
    }
}

/// A place whose digests were not verified for this long says the trail's proof stopped
/// (CloudTrail writes a digest every hour, files or not).
const DIGESTS_DUE: jiff::SignedDuration = jiff::SignedDuration::from_hours(3);

/// The newest digest verified of one place (backfill chains aside: they come only with late
/// files), for a source that checks digests.
struct DigestPlace {
    source: String,
    /// `account/region`.
    place: String,
    chain: String,
    verified: Timestamp,
    end: Timestamp,
}

impl DigestPlace {
    /// Every place of `sources` with a digest verified, its newest.
    fn all(state: &State, sources: &[String]) -> Vec<DigestPlace> {
        let mut newest: HashMap<(String, String), DigestPlace> = HashMap::new();
        for ((source, stream, chain), l) in state.chain_links().unwrap_or_default() {
            if chain.ends_with("/backfill") || !sources.contains(&source) {
                continue;
            }
            let place = stream.trim_end_matches("/digests").to_string();
            let p = DigestPlace {
                source: source.clone(),
                place: place.clone(),
                chain,
                verified: when::from_millis(l.verified_ms),
                end: when::from_millis(l.end_ms),
            };
            match newest.entry((source, place)) {
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    if p.verified > o.get().verified {
                        o.insert(p);
                    }
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(p);
                }
            }
        }
        let mut out: Vec<DigestPlace> = newest.into_values().collect();
        out.sort_by(|a, b| (&a.source, &a.place).cmp(&(&b.source, &b.place)));
        out
    }

    /// Since when its digests are overdue, if they are at `now`.
    fn overdue_since(&self, now: Timestamp) -> Option<Timestamp> {
        let due = self.verified + DIGESTS_DUE;
        (now > due).then_some(due)
    }

    /// What is wrong with it, at `now`.
    fn why(&self, now: Timestamp) -> String {
        format!(
            "source '{}': the digests of {} ({}) were last verified {} (at {}, up to {}): digests stopped arriving (logging stopped, validation turned off, digests deleted), or cannot be checked",
            self.source,
            self.place,
            self.chain,
            when::ago(now, self.verified),
            self.verified,
            self.end
        )
    }
}

/// What `/readyz` looks at: every source's streams and their cadence, the sinks and the state.
pub(super) struct ReadyCheck {
    pub streams: Streams,
    pub sinks: Sinks,
    pub state: Arc<State>,
    /// Each source's name and how often its streams are polled (listed, for a bucket).
    pub cadence: Vec<(String, Duration)>,
    /// The sources that check their trail's digests.
    pub digest_sources: Vec<String>,
    pub started: Timestamp,
}

impl ReadyCheck {
    /// Why the daemon is not ready, one reason per line: a stream not polled within twice its
    /// interval (or a source with nothing polled yet), a sink failing, the state not writable.
    pub(super) fn reasons(&self, now: Timestamp) -> Vec<String> {
        let mut out = Vec::new();
        let streams = self.streams.lock().expect("health lock");
        for (source, every) in &self.cadence {
            let limit = *every * 2;
            let mine: Vec<(&String, &StreamHealth)> = streams
                .iter()
                .filter(|(k, _)| k.split('/').next() == Some(source.as_str()))
                .collect();
            if mine.is_empty() {
                let since = when::ago(now, self.started);
                out.push(format!(
                    "source '{source}': not polled yet (started {since})"
                ));
            }
            for (key, h) in mine {
                let last = h.last_ok.unwrap_or(self.started);
                if now.duration_since(last).unsigned_abs() <= limit {
                    continue;
                }
                let said = match h.last_ok {
                    Some(t) => format!("last polled {}", when::ago(now, t)),
                    None => "never polled".to_string(),
                };
                let why = h
                    .last_error
                    .as_deref()
                    .unwrap_or("no error: the poll is slow");
                out.push(format!(
                    "stream {key}: {said}, more than twice its interval ({}): {why}",
                    humantime::format_duration(*every)
                ));
            }
        }
        drop(streams);
        let sinks = self.sinks.lock().expect("sink health lock");
        let mut failing: Vec<_> = sinks
            .iter()
            .filter_map(|(name, h)| h.failing_since.map(|t| (name, t, h)))
            .collect();
        failing.sort_by_key(|(name, ..)| name.as_str());
        for (name, since, h) in failing {
            let secs = now.duration_since(since).as_secs().max(0) as u64;
            out.push(format!(
                "sink '{name}': failing for {} ({} attempts): {}",
                humantime::format_duration(Duration::from_secs(secs)),
                h.failures,
                h.last_error.as_deref().unwrap_or("unknown error")
            ));
        }
        for p in DigestPlace::all(&self.state, &self.digest_sources) {
            if p.overdue_since(now).is_some() {
                out.push(p.why(now));
            }
        }
        if let Some(b) = self.state.outage() {
            out.push(format!("state: cannot be written: {}", b.error));
        }
        if !self.state.held() {
            out.push(
                "state: this instance's lease on the shared state is not renewed: it sends nothing until it is, or stops when another instance takes over".into(),
            );
        }
        out
    }
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

    #[test]
    fn ready_means_every_stream_polled_lately_no_sink_failing_and_a_writable_state() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let check = ReadyCheck {
            streams: Arc::default(),
            sinks: Arc::default(),
            state: Arc::new(State::open(dir.path()).unwrap()),
            cadence: vec![
                ("lookup".into(), Duration::from_secs(60)),
                ("files".into(), Duration::from_secs(10)),
            ],
            started: t("2026-11-22T00:00:00Z"),
            digest_sources: Vec::new(),
        };
        let now = t("2026-11-22T00:00:30Z");
        assert_eq!(
            check.reasons(now),
            [
                "source 'lookup': not polled yet (started 30s ago)",
                "source 'files': not polled yet (started 30s ago)"
            ]
        );
        {
            let mut s = check.streams.lock().unwrap();
            let ok = |at: &str| StreamHealth {
                last_ok: Some(t(at)),
                ..Default::default()
            };
            s.insert("lookup/us-east-1".into(), ok("2026-11-22T00:00:20Z"));
            s.insert("files".into(), ok("2026-11-22T00:00:25Z"));
        }
        assert!(check.reasons(now).is_empty());
        // Two minutes and one second after its last poll, a 60 s stream is late; so is the
        // folder, 16 s later than twice its interval.
        {
            let mut s = check.streams.lock().unwrap();
            let e = s.get_mut("lookup/us-east-1").unwrap();
            e.last_error = Some("cloudtrail:LookupEvents: HTTP 503".into());
        }
        let later = t("2026-11-22T00:02:21Z");
        let r = check.reasons(later);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(
            r[0],
            "stream lookup/us-east-1: last polled 2m 1s ago, more than twice its interval (1m): cloudtrail:LookupEvents: HTTP 503"
        );
        assert!(
            r[1].starts_with("stream files: last polled 1m 56s ago"),
            "{r:?}"
        );
        check.sinks.lock().unwrap().insert(
            "hook".into(),
            SinkHealth {
                failures: 3,
                failing_since: Some(t("2026-11-22T00:02:00Z")),
                last_error: Some("https://h/*** answered HTTP 500".into()),
                ..Default::default()
            },
        );
        let r = check.reasons(later);
        assert_eq!(
            r.last().unwrap(),
            "sink 'hook': failing for 21s (3 attempts): https://h/*** answered HTTP 500"
        );
        // A shared state whose lease is not renewed: not ready.
        struct Unrenewed;
        impl crate::state::Mirror for Unrenewed {
            fn push(&self, _: &[crate::state::Write]) -> Result<(), String> {
                Ok(())
            }
            fn held(&self) -> bool {
                false
            }
        }
        check.state.attach(Arc::new(Unrenewed));
        let r = check.reasons(later);
        assert!(
            r.last()
                .unwrap()
                .starts_with("state: this instance's lease on the shared state is not renewed"),
            "{r:?}"
        );
    }

    #[test]
    fn a_place_whose_digests_stopped_is_not_ready_and_failing() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(State::open(dir.path()).unwrap());
        let link = |verified: &str| crate::state::Link {
            key: "k".into(),
            start_ms: 0,
            end_ms: 3_600_000,
            sha256: String::new(),
            signature: String::new(),
            verified_ms: t(verified).as_millisecond(),
        };
        let set = |source: &str, place: &str, chain: &str, verified: &str| {
            state
                .set_chain_link(source, &format!("{place}/digests"), chain, &link(verified))
                .unwrap()
        };
        // Stopped four hours ago.
        set(
            "trail",
            "111/us-east-1",
            "main@us-east-1",
            "2026-11-22T08:00:00Z",
        );
        // A backfill chain is quiet most of the time; the trail's own is fresh.
        set(
            "trail",
            "111/eu-west-1",
            "main@us-east-1/backfill",
            "2026-11-20T00:00:00Z",
        );
        set(
            "trail",
            "111/eu-west-1",
            "main@us-east-1",
            "2026-11-22T11:30:00Z",
        );
        // A trail renamed: the old chain's last digest is old, the new one's fresh.
        set(
            "trail",
            "111/ap-northeast-2",
            "old@us-east-1",
            "2026-11-01T00:00:00Z",
        );
        set(
            "trail",
            "111/ap-northeast-2",
            "new@us-east-1",
            "2026-11-22T11:00:00Z",
        );
        // A source that no longer checks digests.
        set(
            "other",
            "222/us-east-1",
            "main@us-east-1",
            "2026-11-01T00:00:00Z",
        );
        let check = ReadyCheck {
            streams: Arc::default(),
            sinks: Arc::default(),
            state: state.clone(),
            cadence: Vec::new(),
            started: t("2026-11-22T00:00:00Z"),
            digest_sources: vec!["trail".into()],
        };
        let now = t("2026-11-22T12:00:00Z");
        let reasons = check.reasons(now);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(
            reasons[0].starts_with("source 'trail': the digests of 111/us-east-1 (main@us-east-1) were last verified 4h ago"),
            "{reasons:?}"
        );
        let places = DigestPlace::all(&state, &check.digest_sources);
        let overdue: Vec<_> = places
            .iter()
            .filter_map(|p| p.overdue_since(now).map(|s| (p.place.as_str(), s)))
            .collect();
        assert_eq!(overdue, [("111/us-east-1", t("2026-11-22T11:00:00Z"))]);
        assert_eq!(places.len(), 3, "one per place of the source");
    }
}
