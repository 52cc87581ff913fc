//! Where events come from. Each `[[sources]]` entry becomes one or more *streams*, each with its
//! own watermark: a `lookup_events` source has one per region, a `cloudwatch_logs` source one for
//! its log group, a `files` source one for its folder. This module holds the sources'
//! configuration, the windows a stream is read in, and the dispatch to each kind's reader.

pub mod aws;
pub mod cloudwatch_logs;
pub mod files;
pub mod lookup_events;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;
use toml::Spanned;

use self::aws::{ApiError, ApiStats, AwsAccess, Backoff, Caller};
use crate::config::{ConfigError, SourceText};
use crate::defaults;
use crate::rules::pushdown::{self, Lookup, LookupPlan};
use crate::rules::RuleSet;
use crate::when;

/// The kinds of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    LookupEvents,
    CloudwatchLogs,
    Files,
}

/// A `[[sources]]` entry as written. Keys that do not apply to its type are rejected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceConfig {
    name: String,
    #[serde(rename = "type")]
    kind: SourceType,
    /// lookup_events: regions to poll (default: the configured region and us-east-1).
    regions: Option<Vec<String>>,
    /// cloudwatch_logs: the log group's region (default: the configured region).
    region: Option<String>,
    log_group: Option<String>,
    log_stream_prefix: Option<String>,
    /// files: the folder.
    path: Option<PathBuf>,
    poll_interval: Option<String>,
    overlap: Option<String>,
    /// Longest window read in one go (catch-up after downtime is split into such windows).
    max_window: Option<String>,
    max_calls_per_second: Option<f64>,
    /// Ask AWS only for what the rules can match (default true).
    pushdown: Option<bool>,
    pushdown_max_lookups: Option<usize>,
    retry_initial: Option<String>,
    retry_attempts: Option<u32>,
    profile: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
    session_name: Option<String>,
    endpoint_url: Option<String>,
}

/// What a source reads.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    LookupEvents {
        /// `None`: the configured region plus us-east-1, resolved when the source starts.
        regions: Option<Vec<String>>,
    },
    CloudwatchLogs {
        region: Option<String>,
        log_group: String,
        log_stream_prefix: Option<String>,
    },
    Files {
        path: PathBuf,
    },
}

/// A validated source with its defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    pub name: String,
    pub kind: SourceKind,
    pub poll_interval: Duration,
    pub overlap: Duration,
    pub max_window: Duration,
    pub rate: f64,
    pub pushdown: bool,
    pub pushdown_max_lookups: usize,
    pub retry_initial: Duration,
    pub retry_attempts: u32,
    pub access: AwsAccess,
}

impl SourceSpec {
    /// Parses and validates one `[[sources]]` table; errors point into the file.
    pub fn parse(t: &Spanned<toml::Table>, src: &SourceText) -> Result<SourceSpec, ConfigError> {
        let at = |m: String| src.error_at(t.span().start, m);
        let c: SourceConfig = crate::config::location::parse_entry(t, src, "source")?;
        let name = c.name.clone();
        if name.is_empty() || name.contains(['\0', '/']) || name.contains(char::is_whitespace) {
            return Err(at(format!(
                "source name '{name}' must be non-empty, without spaces or '/'"
            )));
        }
        let dur = |v: &Option<String>, key: &str, d: Duration| -> Result<Duration, ConfigError> {
            match v {
                None => Ok(d),
                Some(s) => {
                    when::duration(s).map_err(|e| at(format!("source '{name}', {key}: {e}")))
                }
            }
        };
        let not_for = |present: bool, key: &str| {
            crate::config::location::Entry {
                what: "source",
                name: &name,
                kind: format!("{:?}", c.kind),
            }
            .not_for(&[(present, key)])
            .map_err(at)
        };
        let kind = match c.kind {
            SourceType::LookupEvents => {
                not_for(c.region.is_some(), "region (lookup_events takes `regions`)")?;
                not_for(c.log_group.is_some(), "log_group")?;
                not_for(c.log_stream_prefix.is_some(), "log_stream_prefix")?;
                not_for(c.path.is_some(), "path")?;
                if let Some(rs) = &c.regions {
                    if rs.is_empty() {
                        return Err(at(format!("source '{name}': `regions` is empty")));
                    }
                    for r in rs {
                        check_region(r).map_err(|e| at(format!("source '{name}': {e}")))?;
                    }
                }
                SourceKind::LookupEvents {
                    regions: c.regions.clone(),
                }
            }
            SourceType::CloudwatchLogs => {
                not_for(
                    c.regions.is_some(),
                    "regions (cloudwatch_logs takes one `region`)",
                )?;
                not_for(c.path.is_some(), "path")?;
                if let Some(r) = &c.region {
                    check_region(r).map_err(|e| at(format!("source '{name}': {e}")))?;
                }
                SourceKind::CloudwatchLogs {
                    region: c.region.clone(),
                    log_group: c
                        .log_group
                        .clone()
                        .ok_or_else(|| at(format!("source '{name}': `log_group` is required")))?,
                    log_stream_prefix: c.log_stream_prefix.clone(),
                }
            }
            SourceType::Files => {
                for (present, key) in [
                    (c.regions.is_some(), "regions"),
                    (c.region.is_some(), "region"),
                    (c.log_group.is_some(), "log_group"),
                    (c.log_stream_prefix.is_some(), "log_stream_prefix"),
                    (c.overlap.is_some(), "overlap"),
                    (c.max_calls_per_second.is_some(), "max_calls_per_second"),
                    (c.role_arn.is_some(), "role_arn"),
                    (c.profile.is_some(), "profile"),
                    (c.endpoint_url.is_some(), "endpoint_url"),
                ] {
                    not_for(present, key)?;
                }
                SourceKind::Files {
                    path: c
                        .path
                        .clone()
                        .ok_or_else(|| at(format!("source '{name}': `path` is required")))?,
                }
            }
        };
        let default_rate = match c.kind {
            SourceType::CloudwatchLogs => defaults::FILTER_LOG_EVENTS_RATE,
            _ => defaults::LOOKUP_EVENTS_RATE,
        };
        let rate = c.max_calls_per_second.unwrap_or(default_rate);
        if !(rate > 0.0 && rate.is_finite()) {
            return Err(at(format!(
                "source '{name}': max_calls_per_second must be positive"
            )));
        }
        if c.external_id.is_some() && c.role_arn.is_none() {
            return Err(at(format!("source '{name}': external_id needs role_arn")));
        }
        let default_poll = match c.kind {
            SourceType::Files => defaults::FILES_POLL_INTERVAL,
            _ => defaults::POLL_INTERVAL,
        };
        let spec = SourceSpec {
            poll_interval: dur(&c.poll_interval, "poll_interval", default_poll)?,
            overlap: dur(&c.overlap, "overlap", defaults::OVERLAP)?,
            max_window: dur(&c.max_window, "max_window", defaults::MAX_WINDOW)?,
            retry_initial: dur(&c.retry_initial, "retry_initial", defaults::RETRY_INITIAL)?,
            retry_attempts: c.retry_attempts.unwrap_or(defaults::RETRY_ATTEMPTS),
            rate,
            pushdown: c.pushdown.unwrap_or(true),
            pushdown_max_lookups: c
                .pushdown_max_lookups
                .unwrap_or(pushdown::DEFAULT_MAX_LOOKUPS),
            access: AwsAccess {
                profile: c.profile,
                role_arn: c.role_arn,
                external_id: c.external_id,
                session_name: c.session_name,
                endpoint_url: c.endpoint_url,
            },
            kind,
            name,
        };
        if spec.poll_interval.is_zero() || spec.max_window < Duration::from_secs(60) {
            return Err(at(format!(
                "source '{}': poll_interval must be positive and max_window at least 1m",
                spec.name
            )));
        }
        Ok(spec)
    }

    /// Warnings about this source that do not stop it (us-east-1 missing from the regions).
    pub fn warnings(&self) -> Vec<String> {
        match &self.kind {
            SourceKind::LookupEvents { regions: Some(rs) }
                if !rs.iter().any(|r| r == "us-east-1") =>
            {
                vec![format!(
                    "source '{}' does not poll us-east-1: IAM events (CreateUser, DeleteUser…) and root sign-ins are recorded only there, so they will never be seen; add \"us-east-1\" to its regions",
                    self.name
                )]
            }
            _ => Vec::new(),
        }
    }
}

/// Rejects what is clearly not a region name (a typo such as `ap-northeast2`).
fn check_region(r: &str) -> Result<(), String> {
    let parts: Vec<&str> = r.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{r}' is not an AWS region name (such as ap-northeast-2)"
        ))
    }
}

/// A time window `[start, end]` of events to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Window {
    /// `[start, end]` split into windows of at most `max`, oldest first.
    pub fn split(start: Timestamp, end: Timestamp, max: Duration) -> Vec<Window> {
        let max = when::signed(max);
        let mut out = Vec::new();
        let mut s = start;
        while s < end {
            let e = s.saturating_add(max).expect("a signed duration").min(end);
            out.push(Window { start: s, end: e });
            s = e;
        }
        out
    }

    /// The windows a poll reads: from `overlap` before the watermark (or before `now` on the
    /// first poll) to `now`.
    pub fn for_poll(
        watermark: Option<Timestamp>,
        now: Timestamp,
        overlap: Duration,
        max: Duration,
    ) -> Vec<Window> {
        let from = watermark.unwrap_or(now).min(now);
        let start = from
            .checked_sub(when::signed(overlap))
            .unwrap_or(Timestamp::UNIX_EPOCH);
        Window::split(start, now, max)
    }
}

/// One read of a window: everything, one lookup attribute, or one filter pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    All,
    Lookup(Lookup),
    Pattern(String),
}

/// How a stream reads.
pub enum Reader {
    Lookup(lookup_events::Region),
    Logs(cloudwatch_logs::Group),
}

/// One stream of a source: a region, or a log group. (Folders are read by `files::Folder`.)
pub struct Stream {
    pub source: Arc<SourceSpec>,
    /// The region or log group; the watermark's key beside the source name.
    pub name: String,
    pub reader: Reader,
    pub stats: Arc<ApiStats>,
}

impl Stream {
    /// Reads one query of one window; returns the pages read.
    pub async fn read(
        &self,
        w: &Window,
        q: &Query,
        on: &mut (dyn FnMut(&str) + Send),
    ) -> Result<u64, ApiError> {
        match (&self.reader, q) {
            (Reader::Lookup(r), Query::Lookup(l)) => r.read(w, Some(l), on).await,
            (Reader::Lookup(r), _) => r.read(w, None, on).await,
            (Reader::Logs(g), Query::Pattern(p)) => g.read(w, Some(p), on).await,
            (Reader::Logs(g), _) => g.read(w, None, on).await,
        }
    }

    /// One cheap call, to prove access (`check --probe`).
    pub async fn probe(&self) -> Result<(), ApiError> {
        match &self.reader {
            Reader::Lookup(r) => r.probe().await,
            Reader::Logs(g) => g.probe().await,
        }
    }

    /// The queries that read one window for `rules`.
    pub fn queries(&self, rules: &RuleSet) -> Vec<Query> {
        plan_queries(&self.source, rules)
    }
}

/// The queries a source of this kind runs per window and stream.
pub fn plan_queries(spec: &SourceSpec, rules: &RuleSet) -> Vec<Query> {
    if !spec.pushdown {
        return vec![Query::All];
    }
    match &spec.kind {
        SourceKind::LookupEvents { .. } => {
            match pushdown::lookup_plan(rules, spec.pushdown_max_lookups) {
                LookupPlan::Lookups(ls) => ls.into_iter().map(Query::Lookup).collect(),
                LookupPlan::ReadAll { .. } => vec![Query::All],
            }
        }
        SourceKind::CloudwatchLogs { .. } => match pushdown::logs_plan(rules).filter_pattern {
            Some(p) => vec![Query::Pattern(p)],
            None => vec![Query::All],
        },
        SourceKind::Files { .. } => vec![Query::All],
    }
}

/// The regions a `lookup_events` source polls.
pub async fn lookup_regions(spec: &SourceSpec) -> Vec<String> {
    match &spec.kind {
        SourceKind::LookupEvents { regions: Some(rs) } => rs.clone(),
        SourceKind::LookupEvents { regions: None } => {
            let mut rs = Vec::new();
            if let Some(r) = aws::default_region(&spec.access).await {
                rs.push(r);
            }
            if !rs.iter().any(|r| r == "us-east-1") {
                rs.push("us-east-1".into());
            }
            rs
        }
        _ => Vec::new(),
    }
}

/// Opens the streams of an AWS source (none for `files`).
pub async fn open_streams(spec: &Arc<SourceSpec>) -> Result<Vec<Stream>, String> {
    let backoff = Backoff {
        initial: spec.retry_initial,
        attempts: spec.retry_attempts,
        ..Backoff::default()
    };
    let stats = Arc::new(ApiStats::default());
    let mut out = Vec::new();
    match &spec.kind {
        SourceKind::LookupEvents { .. } => {
            for region in lookup_regions(spec).await {
                let conf = aws::sdk_config(&spec.access, &region).await;
                out.push(Stream {
                    source: spec.clone(),
                    name: region.clone(),
                    reader: Reader::Lookup(lookup_events::Region {
                        client: aws_sdk_cloudtrail::Client::new(&conf),
                        caller: Caller::new(spec.rate, backoff, stats.clone()),
                        region,
                    }),
                    stats: stats.clone(),
                });
            }
        }
        SourceKind::CloudwatchLogs {
            region,
            log_group,
            log_stream_prefix,
        } => {
            let region = match region {
                Some(r) => r.clone(),
                None => aws::default_region(&spec.access).await.ok_or_else(|| {
                    format!(
                        "source '{}': no region configured (set `region`, AWS_REGION or the profile's region)",
                        spec.name
                    )
                })?,
            };
            let conf = aws::sdk_config(&spec.access, &region).await;
            out.push(Stream {
                source: spec.clone(),
                name: log_group.clone(),
                reader: Reader::Logs(cloudwatch_logs::Group {
                    client: aws_sdk_cloudwatchlogs::Client::new(&conf),
                    caller: Caller::new(spec.rate, backoff, stats.clone()),
                    region,
                    log_group: log_group.clone(),
                    stream_prefix: log_stream_prefix.clone(),
                }),
                stats: stats.clone(),
            });
        }
        SourceKind::Files { .. } => {}
    }
    Ok(out)
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The plan of one source, as `--explain` prints it.
pub async fn explain(spec: &SourceSpec, rules: &RuleSet) -> String {
    let mut s = String::new();
    let queries = plan_queries(spec, rules);
    match &spec.kind {
        SourceKind::LookupEvents { .. } => {
            let regions = lookup_regions(spec).await;
            let _ = writeln!(
                s,
                "source '{}' (lookup_events): regions {}; every {}, re-reading {} behind the watermark; at most {} calls/s per region",
                spec.name,
                regions.join(", "),
                human(spec.poll_interval),
                human(spec.overlap),
                spec.rate
            );
            match pushdown::lookup_plan(rules, spec.pushdown_max_lookups) {
                _ if !spec.pushdown => {
                    let _ = writeln!(s, "  reads every event (pushdown = false)");
                }
                LookupPlan::Lookups(ls) => {
                    let names: Vec<String> = ls.iter().map(ToString::to_string).collect();
                    let _ = writeln!(
                        s,
                        "  pushdown: {} lookups per region and window: {}",
                        ls.len(),
                        names.join(", ")
                    );
                }
                LookupPlan::ReadAll { reason } => {
                    let _ = writeln!(s, "  reads every event: {reason}");
                }
            }
            let _ = writeln!(
                s,
                "  calls per poll: at least {} ({} per region; one more per further page of 50 events)",
                queries.len() * regions.len(),
                queries.len()
            );
        }
        SourceKind::CloudwatchLogs {
            region,
            log_group,
            log_stream_prefix,
        } => {
            let _ = writeln!(
                s,
                "source '{}' (cloudwatch_logs): log group {}{} in {}; every {}, re-reading {} behind the watermark; at most {} calls/s",
                spec.name,
                log_group,
                log_stream_prefix.as_ref().map(|p| format!(" (streams {p}*)")).unwrap_or_default(),
                region.as_deref().unwrap_or("the configured region"),
                human(spec.poll_interval),
                human(spec.overlap),
                spec.rate
            );
            let plan = pushdown::logs_plan(rules);
            match (&plan.filter_pattern, spec.pushdown) {
                (_, false) => {
                    let _ = writeln!(s, "  reads every event (pushdown = false)");
                }
                (Some(p), true) => {
                    let _ = writeln!(s, "  server-side filterPattern ({}): {p}", plan.reason);
                }
                (None, true) => {
                    let _ = writeln!(s, "  reads every event: {}", plan.reason);
                }
            }
        }
        SourceKind::Files { path } => {
            let _ = writeln!(
                s,
                "source '{}' (files): {} (CloudTrail .json/.json.gz files, read once each), looked at every {}",
                spec.name,
                path.display(),
                human(spec.poll_interval)
            );
        }
    }
    s.push_str("  every record is checked against the rules locally\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SourceSpec, String> {
        let src = SourceText {
            name: "c.toml".into(),
            text: text.into(),
        };
        let cfg = crate::config::Config::parse(&src).map_err(|e| e.to_string())?;
        SourceSpec::parse(&cfg.sources[0], &src).map_err(|e| e.to_string())
    }

    #[test]
    fn sources_parse_with_defaults_and_located_errors() {
        let s = parse(
            "[[sources]]\nname = \"l\"\ntype = \"lookup_events\"\nregions = [\"ap-northeast-2\"]\n",
        )
        .unwrap();
        assert_eq!(s.overlap, defaults::OVERLAP);
        assert_eq!(s.rate, 2.0);
        assert!(s.warnings()[0].contains("does not poll us-east-1"));
        let e = parse("language = \"en\"\n[[sources]]\nname = \"l\"\ntype = \"lookup_events\"\nregoins = []\n")
            .unwrap_err();
        assert!(
            e.starts_with("c.toml:2:1: source 'l': unknown field `regoins`"),
            "{e}"
        );
        let e = parse("[[sources]]\nname = \"l\"\ntype = \"lookup_events\"\nlog_group = \"g\"\n")
            .unwrap_err();
        assert!(e.contains("`log_group` does not apply"), "{e}");
        let e = parse("[[sources]]\nname = \"l\"\ntype = \"cloudwatch_logs\"\noverlap = \"soon\"\nlog_group = \"g\"\n").unwrap_err();
        assert!(e.contains("overlap: invalid duration 'soon'"), "{e}");
        let e = parse(
            "[[sources]]\nname = \"l\"\ntype = \"lookup_events\"\nregions = [\"ap-northeast2\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("not an AWS region"), "{e}");
    }

    #[test]
    fn poll_windows_reread_the_overlap_and_split_catch_up() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let hour = Duration::from_secs(3600);
        let w = Window::for_poll(None, now, Duration::from_secs(1200), hour);
        assert_eq!(
            w,
            [Window {
                start: "2026-11-22T11:40:00Z".parse().unwrap(),
                end: now
            }]
        );
        let wm = "2026-11-22T09:30:00Z".parse().unwrap();
        let w = Window::for_poll(Some(wm), now, Duration::from_secs(1200), hour);
        let starts: Vec<String> = w.iter().map(|w| w.start.to_string()).collect();
        assert_eq!(
            starts,
            [
                "2026-11-22T09:10:00Z",
                "2026-11-22T10:10:00Z",
                "2026-11-22T11:10:00Z"
            ]
        );
        assert_eq!(w.last().unwrap().end, now);
    }
}
