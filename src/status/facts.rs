//! The facts of the status page and of the report file, gathered once: coverage (every source
//! and stream, the blind spots first), what was raised (per day by severity, per rule, per
//! principal, what became of it), delivery (each sink's last success, queue, dead letters),
//! what keeps alerts quiet (silences, exceptions, shadow rules) and the trail's integrity.
//! The state gives what it keeps; a running daemon adds what it sees (`Live`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::rules::quiet::Exception;
use crate::settings::Settings;
use crate::severity::Severity;
use crate::source::config::{SourceKind, SourceSpec};
use crate::state::{State, StateError};
use crate::text::{truncate, visible};
use crate::when;

/// Days the chart shows at least, and at most (a report over a longer window).
pub(crate) const DAYS: usize = 14;
const MOST_DAYS: i64 = 92;
/// Rules and principals listed.
const TOP: usize = 10;
/// A place whose digests were last verified longer ago is said stale (as `/readyz` does).
const DIGESTS_STALE: Duration = Duration::from_secs(3 * 3600);

/// What of a configuration the page shows: its sources, sinks, what keeps rules quiet, its
/// time zone and accounts' names (taken once; a reload installs a new one).
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub sources: Vec<std::sync::Arc<SourceSpec>>,
    /// Each sink's name and kind.
    pub sinks: Vec<(String, &'static str)>,
    pub exceptions: Vec<(String, Exception)>,
    pub shadow: Vec<String>,
    pub tz: jiff::tz::TimeZone,
    pub tz_name: String,
    pub aliases: BTreeMap<String, String>,
}

impl Scope {
    pub(crate) fn of(s: &Settings) -> Scope {
        let rules: Vec<_> = s.rules.enabled().collect();
        Scope {
            sources: s.sources.clone(),
            sinks: s
                .sinks
                .iter()
                .map(|k| (k.name.clone(), k.kind.entry().kind()))
                .collect(),
            exceptions: rules
                .iter()
                .flat_map(|r| r.exceptions.iter().map(|x| (r.name.clone(), x.clone())))
                .collect(),
            shadow: rules
                .iter()
                .filter(|r| r.mode == crate::rules::quiet::Mode::Shadow)
                .map(|r| r.name.clone())
                .collect(),
            tz: s.timezone.clone(),
            tz_name: s.timezone_name.clone(),
            aliases: s.account_aliases.clone(),
        }
    }
}

/// What a running daemon knows of one stream or sink: when it last worked, since when it
/// fails, and why.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveHealth {
    pub last_ok: Option<Timestamp>,
    pub failing_since: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// What only a running daemon knows: its streams (by `source/stream`) and sinks.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    pub started: Timestamp,
    pub streams: HashMap<String, LiveHealth>,
    pub sinks: HashMap<String, LiveHealth>,
}

/// What the state keeps that the page shows besides the history: read in one go by the
/// daemon, or through the control socket by `report` while a daemon holds the state.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub(crate) struct Kept {
    /// (source, stream, watermark ms).
    pub watermarks: Vec<(String, String, i64)>,
    /// Alerts waiting for each sink, and dead letters of each.
    pub queued: BTreeMap<String, u64>,
    pub dead: BTreeMap<String, u64>,
    pub silences: Vec<crate::state::Silence>,
    /// Each digest chain's last link verified: (source, stream, chain, verified ms, end ms).
    pub links: Vec<(String, String, String, i64, i64)>,
}

impl Kept {
    /// Reads it from the state (the outbox one entry at a time).
    pub(crate) fn read(state: &State, now: Timestamp) -> Result<Kept, StateError> {
        let mut k = Kept {
            watermarks: state
                .watermarks()?
                .into_iter()
                .map(|w| (w.source, w.stream, when::millis(w.watermark)))
                .collect(),
            silences: state.active_silences(now)?,
            links: state
                .chain_links()?
                .into_iter()
                .map(|((a, b, c), l)| (a, b, c, l.verified_ms, l.end_ms))
                .collect(),
            ..Kept::default()
        };
        for id in state.outbox_ids()? {
            if let Some(e) = state.outbox_entry(id)? {
                for p in e.pending {
                    *k.queued.entry(p).or_default() += 1;
                }
            }
        }
        for (_, e) in state.dead_letters()? {
            for p in e.pending {
                *k.dead.entry(p).or_default() += 1;
            }
        }
        Ok(k)
    }
}

/// A stream's health, worst first (the page sorts by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Health {
    /// Its last polls failed.
    Failing,
    /// No poll succeeded within twice its interval.
    Stale,
    /// Not polled yet.
    Waiting,
    /// Polled within its interval.
    Ok,
    /// Not known (the report: no daemon was asked).
    Unknown,
}

/// One row of the coverage table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StreamRow {
    pub source: String,
    pub kind: &'static str,
    /// What it reads: the account and region, log group, bucket and queue, folder.
    pub place: String,
    pub stream: String,
    pub health: Health,
    pub last_poll: String,
    /// The time read up to (the watermark).
    pub newest: String,
    pub lag: String,
    pub note: String,
}

/// One day's bar: counts by severity, lowest first.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Day {
    pub date: String,
    pub counts: [u64; 5],
}

/// One sink's row.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SinkRow {
    pub name: String,
    pub kind: String,
    pub failing: bool,
    pub last_ok: String,
    pub last_error: String,
    pub queued: u64,
    pub dead: u64,
}

/// A silence, an exception or a shadow rule: what is kept quiet, why, until when.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QuietRow {
    pub what: String,
    pub rule: String,
    pub when: String,
    pub reason: String,
    pub until: String,
}

/// One place whose digests are verified.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IntegrityRow {
    pub source: String,
    pub place: String,
    pub verified: String,
    pub up_to: String,
    pub stale: bool,
}

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Facts {
    pub generated: String,
    /// The week counted (`since` to now).
    pub since: String,
    pub live: bool,
    pub coverage: Vec<StreamRow>,
    pub blind: usize,
    pub days: Vec<Day>,
    pub rules: Vec<(String, u64)>,
    pub principals: Vec<(String, u64)>,
    pub statuses: Vec<(String, u64)>,
    pub week_total: u64,
    pub sinks: Vec<SinkRow>,
    pub quiet: Vec<QuietRow>,
    pub integrity: Vec<IntegrityRow>,
    /// Sources that check digests and verified none yet.
    pub unverified: Vec<String>,
}

/// A time as the page shows it, in the configured time zone.
pub(crate) fn shown(t: Timestamp, s: &Scope) -> String {
    t.to_zoned(s.tz.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// A value from a record or a configuration, made visible and cut.
pub(crate) fn text(v: &str, max: usize) -> String {
    visible(&truncate(v, max))
}

impl Facts {
    /// The facts at `now`, from what the state keeps, the history counted and, from a running
    /// daemon, what it sees.
    pub(crate) fn of(
        s: &Scope,
        kept: &Kept,
        raised: Counting,
        live: Option<&Live>,
        now: Timestamp,
    ) -> Facts {
        let coverage = coverage(s, kept, live, now);
        let (unverified, integrity) = integrity(s, kept, now);
        Facts {
            generated: shown(now, s),
            since: shown(raised.week, s),
            live: live.is_some(),
            blind: coverage.iter().filter(|r| r.health < Health::Ok).count(),
            coverage,
            days: raised.days,
            rules: top(raised.rules),
            principals: top(raised.principals),
            week_total: raised.statuses.values().sum(),
            statuses: raised.statuses.into_iter().collect(),
            sinks: sinks(s, kept, live, now),
            quiet: quiet(s, kept, now),
            integrity,
            unverified,
        }
    }

    /// The facts the daemon shows at `now`: the state's and its own.
    pub(crate) fn gather(
        s: &Scope,
        state: &State,
        live: &Live,
        now: Timestamp,
    ) -> Result<Facts, StateError> {
        let kept = Kept::read(state, now)?;
        let mut raised = Counting::new(s, now, None);
        state.history_each(raised.from(), |e| raised.add(e))?;
        Ok(Facts::of(s, &kept, raised, Some(live), now))
    }
}

/// The counts of the alerts raised, as the history is read: per day over the chart's days, and
/// per rule, principal and status since the window's start (a week by default).
pub(crate) struct Counting {
    from: Timestamp,
    week: Timestamp,
    tz: jiff::tz::TimeZone,
    first_day: jiff::civil::Date,
    days: Vec<Day>,
    rules: BTreeMap<String, u64>,
    principals: BTreeMap<String, u64>,
    statuses: BTreeMap<String, u64>,
}

impl Counting {
    /// Counting from `since` (`None`: a week before `now`); the chart shows at least `DAYS`
    /// days, and every day of a longer window up to `MOST_DAYS`.
    pub(crate) fn new(s: &Scope, now: Timestamp, since: Option<Timestamp>) -> Counting {
        let week = since.unwrap_or(now - jiff::SignedDuration::from_hours(7 * 24));
        let today = now.to_zoned(s.tz.clone()).date();
        let first = week.to_zoned(s.tz.clone()).date();
        let wanted = first
            .until(today)
            .map_or(0, |d| i64::from(d.get_days()) + 1)
            .clamp(DAYS as i64, MOST_DAYS);
        let first_day = today
            .checked_sub(jiff::Span::new().days(wanted - 1))
            .unwrap_or(today);
        let from = first_day
            .to_zoned(s.tz.clone())
            .map(|z| z.timestamp())
            .unwrap_or(now);
        let days = (0..wanted)
            .map(|i| Day {
                date: first_day
                    .checked_add(jiff::Span::new().days(i))
                    .map(|d| d.strftime("%m-%d").to_string())
                    .unwrap_or_default(),
                counts: [0; 5],
            })
            .collect();
        Counting {
            from: from.min(week),
            week,
            tz: s.tz.clone(),
            first_day,
            days,
            rules: BTreeMap::new(),
            principals: BTreeMap::new(),
            statuses: BTreeMap::new(),
        }
    }

    /// Where the history must be read from.
    pub(crate) fn from(&self) -> Timestamp {
        self.from
    }

    /// Counts one alert of the history.
    pub(crate) fn add(&mut self, e: &crate::state::HistoryEntry) {
        let day = e.raised().to_zoned(self.tz.clone()).date();
        if let Ok(span) = self.first_day.until(day) {
            if let Some(d) = usize::try_from(span.get_days())
                .ok()
                .and_then(|i| self.days.get_mut(i))
            {
                d.counts[severity_index(e.alert.severity)] += 1;
            }
        }
        if e.raised() < self.week {
            return;
        }
        *self.rules.entry(e.alert.rule.clone()).or_default() += 1;
        if !e.alert.principal.is_empty() {
            *self
                .principals
                .entry(e.alert.principal.clone())
                .or_default() += 1;
        }
        *self
            .statuses
            .entry(e.status.word().to_string())
            .or_default() += 1;
    }
}

fn severity_index(s: Severity) -> usize {
    match s {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

/// The largest counts, largest first, their names made visible.
fn top(counts: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(TOP);
    v.into_iter().map(|(k, n)| (text(&k, 120), n)).collect()
}

/// What a source reads, in words.
fn place(kind: &SourceKind) -> (&'static str, String) {
    match kind {
        SourceKind::LookupEvents { regions } => (
            "lookup_events",
            match regions {
                Some(r) => format!("LookupEvents in {}", r.join(", ")),
                None => "LookupEvents in every enabled region".into(),
            },
        ),
        SourceKind::CloudwatchLogs {
            region, log_group, ..
        } => (
            "cloudwatch_logs",
            format!(
                "log group {log_group}{}",
                region
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        ),
        SourceKind::Files { path } => ("files", format!("folder {}", path.display())),
        SourceKind::S3 {
            bucket,
            prefix,
            queue_url,
            ..
        } => (
            "s3",
            format!(
                "bucket {bucket}/{prefix}{}",
                queue_url
                    .as_deref()
                    .map(|q| format!(", queue {}", q.rsplit('/').next().unwrap_or(q)))
                    .unwrap_or_default()
            ),
        ),
    }
}

/// Every configured source's streams, the blind spots first.
fn coverage(s: &Scope, kept: &Kept, live: Option<&Live>, now: Timestamp) -> Vec<StreamRow> {
    let mut rows = Vec::new();
    for spec in &s.sources {
        let (kind, place) = place(&spec.kind);
        let mut streams: BTreeMap<String, Option<Timestamp>> = kept
            .watermarks
            .iter()
            .filter(|(src, stream, _)| *src == spec.name && !stream.ends_with("/digests"))
            .map(|(_, stream, ms)| (stream.clone(), Some(when::from_millis(*ms))))
            .collect();
        // The daemon's keys: the source's name (a folder, a bucket's listing), or
        // `source/stream` (a region, a queue); a place's digests are the integrity's.
        let prefix = format!("{}/", spec.name);
        for k in live.iter().flat_map(|l| l.streams.keys()) {
            let stream = match k.strip_prefix(&prefix) {
                Some(st) if !st.ends_with("/digests") => st,
                _ if *k == spec.name => "",
                _ => continue,
            };
            streams.entry(stream.to_string()).or_insert(None);
        }
        if streams.is_empty() {
            streams.insert(String::new(), None);
        }
        let cadence = spec.cadence();
        for (stream, mark) in streams {
            let key = match stream.is_empty() {
                true => spec.name.clone(),
                false => format!("{}/{stream}", spec.name),
            };
            let seen = live.and_then(|l| l.streams.get(&key));
            let (health, note) = judge(live, seen, cadence, now);
            rows.push(StreamRow {
                source: text(&spec.name, 80),
                kind,
                place: text(&place, 200),
                stream: text(&stream, 120),
                health,
                last_poll: seen
                    .and_then(|x| x.last_ok)
                    .map(|t| when::ago(now, t))
                    .unwrap_or_else(|| "-".into()),
                newest: mark.map(|t| shown(t, s)).unwrap_or_else(|| "-".into()),
                lag: mark
                    .map(|t| humantime::format_duration(secs(now.duration_since(t))).to_string())
                    .unwrap_or_else(|| "-".into()),
                note: text(&note, 300),
            });
        }
    }
    rows.sort_by(|a, b| (a.health, &a.source, &a.stream).cmp(&(b.health, &b.source, &b.stream)));
    rows
}

fn secs(d: jiff::SignedDuration) -> Duration {
    Duration::from_secs(d.as_secs().max(0) as u64)
}

/// A stream's health, and why, from what the daemon saw.
fn judge(
    live: Option<&Live>,
    seen: Option<&LiveHealth>,
    cadence: Duration,
    now: Timestamp,
) -> (Health, String) {
    let Some(live) = live else {
        return (Health::Unknown, String::new());
    };
    let late = when::signed(cadence * 2 + Duration::from_secs(30));
    match seen {
        Some(x) if x.failing_since.is_some() => (
            Health::Failing,
            format!(
                "failing since {}: {}",
                when::ago(now, x.failing_since.unwrap_or(now)),
                x.last_error.as_deref().unwrap_or("")
            ),
        ),
        Some(LiveHealth {
            last_ok: Some(t), ..
        }) if now.duration_since(*t) > late => (
            Health::Stale,
            format!("no poll succeeded for {}", when::ago(now, *t)),
        ),
        Some(LiveHealth {
            last_ok: Some(_), ..
        }) => (Health::Ok, String::new()),
        _ if now.duration_since(live.started) > late => (
            Health::Stale,
            "never polled since the daemon started".into(),
        ),
        _ => (Health::Waiting, "not polled yet".into()),
    }
}

/// Each sink: its last success, what waits for it and what died.
fn sinks(s: &Scope, kept: &Kept, live: Option<&Live>, now: Timestamp) -> Vec<SinkRow> {
    s.sinks
        .iter()
        .map(|(name, kind)| {
            let seen = live.and_then(|l| l.sinks.get(name));
            SinkRow {
                name: text(name, 80),
                kind: kind.to_string(),
                failing: seen.is_some_and(|x| x.failing_since.is_some()),
                last_ok: match (live, seen.and_then(|x| x.last_ok)) {
                    (_, Some(t)) => when::ago(now, t),
                    (Some(_), None) => "none since the start".into(),
                    (None, None) => "-".into(),
                },
                last_error: seen
                    .and_then(|x| x.last_error.as_deref())
                    .map(|e| text(e, 300))
                    .unwrap_or_default(),
                queued: kept.queued.get(name).copied().unwrap_or(0),
                dead: kept.dead.get(name).copied().unwrap_or(0),
            }
        })
        .collect()
}

/// Active silences, exceptions in force, and rules in shadow mode.
fn quiet(s: &Scope, kept: &Kept, now: Timestamp) -> Vec<QuietRow> {
    let mut out: Vec<QuietRow> = kept
        .silences
        .iter()
        .filter(|x| when::millis(now) < x.until_ms)
        .map(|x| QuietRow {
            what: format!("silence {}", x.id),
            rule: text(&x.rule, 120),
            when: text(&x.when.describe(), 300),
            reason: text(&x.reason, 300),
            until: shown(when::from_millis(x.until_ms), s),
        })
        .collect();
    for (rule, x) in s.exceptions.iter().filter(|(_, x)| x.active(now)) {
        out.push(QuietRow {
            what: "exception".into(),
            rule: text(rule, 120),
            when: text(&x.when.describe(), 300),
            reason: text(&x.reason, 300),
            until: shown(x.until, s),
        });
    }
    for rule in &s.shadow {
        out.push(QuietRow {
            what: "shadow".into(),
            rule: text(rule, 120),
            when: "every match".into(),
            reason: "the rule is on trial: its alerts are recorded, not delivered".into(),
            until: "-".into(),
        });
    }
    out
}

/// Each place whose digests were verified, and the sources that verified none yet.
fn integrity(s: &Scope, kept: &Kept, now: Timestamp) -> (Vec<String>, Vec<IntegrityRow>) {
    let unverified = s
        .sources
        .iter()
        .filter(|x| x.verifies_digests() && !kept.links.iter().any(|l| l.0 == x.name))
        .map(|x| text(&x.name, 80))
        .collect();
    let rows = kept
        .links
        .iter()
        .map(|(source, stream, chain, verified_ms, end_ms)| {
            let at = when::from_millis(*verified_ms);
            IntegrityRow {
                source: text(source, 80),
                place: text(
                    &format!("{} ({chain})", stream.trim_end_matches("/digests")),
                    200,
                ),
                verified: when::ago(now, at),
                up_to: shown(when::from_millis(*end_ms), s),
                stale: now.duration_since(at) > when::signed(DIGESTS_STALE),
            }
        })
        .collect();
    (unverified, rows)
}
