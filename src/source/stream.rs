//! The streams of a source: each `[[sources]]` entry becomes one or more, each with its own
//! watermark (a `lookup_events` source one per region, a `cloudwatch_logs` source one for its
//! log group); the queries that read one window of a stream (its pushdown plan, which depends on
//! the region and on what the source learned of its account); and the pages of one query.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::aws::{self, ApiError, ApiStats, Caller, Clock};
use super::config::{SourceKind, SourceSpec};
use super::coverage::Coverage;
use super::window::Window;
use super::{cloudwatch_logs, lookup_events};
use crate::backoff::Backoff;
use crate::defaults;
use crate::rules::pushdown::{self, Lookup, LookupPlan, LookupScope};
use crate::rules::RuleSet;

/// A source that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "source '{0}': no region configured (set `region`, AWS_REGION or the profile's region)"
    )]
    NoRegion(String),
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

/// One page of an answer: the records' JSON texts, and the token of the next page.
#[derive(Debug, Default)]
pub struct Page {
    pub records: Vec<String>,
    pub next: Option<String>,
}

/// One stream of a source: a region, or a log group. (Folders are read by `files::Folder`.)
pub struct Stream {
    pub source: Arc<SourceSpec>,
    /// The region or log group; the watermark's key beside the source name.
    pub name: String,
    pub reader: Reader,
    pub stats: Arc<ApiStats>,
    /// AWS's time, as this source's answers tell it.
    pub clock: Arc<Clock>,
    /// What the source learned of its account (`lookup_events`).
    pub coverage: Option<Arc<Coverage>>,
}

/// The pages of one query of one window, read one at a time: what was read stays read when a
/// later page fails.
pub struct Pages<'a> {
    stream: &'a Stream,
    window: Window,
    query: &'a Query,
    token: Option<String>,
    done: bool,
}

impl Pages<'_> {
    /// The next page, or `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<String>>, ApiError> {
        if self.done {
            return Ok(None);
        }
        let token = self.token.take();
        let page = match (&self.stream.reader, self.query) {
            (Reader::Lookup(r), Query::Lookup(l)) => r.page(&self.window, Some(l), token).await?,
            (Reader::Lookup(r), _) => r.page(&self.window, None, token).await?,
            (Reader::Logs(g), Query::Pattern(p)) => g.page(&self.window, Some(p), token).await?,
            (Reader::Logs(g), _) => g.page(&self.window, None, token).await?,
        };
        match page.next {
            Some(t) if !t.is_empty() => self.token = Some(t),
            _ => self.done = true,
        }
        Ok(Some(page.records))
    }
}

impl Stream {
    /// The pages of one query of one window.
    pub fn pages<'a>(&'a self, window: &Window, query: &'a Query) -> Pages<'a> {
        Pages {
            stream: self,
            window: *window,
            query,
            token: None,
            done: false,
        }
    }

    /// One cheap call, to prove access (`check --probe`).
    pub async fn probe(&self) -> Result<(), ApiError> {
        match &self.reader {
            Reader::Lookup(r) => r.probe().await,
            Reader::Logs(g) => g.probe().await,
        }
    }

    /// The queries that read one window of this stream for `rules`.
    pub fn queries(&self, rules: &RuleSet) -> Vec<Query> {
        let spec = &self.source;
        if !spec.pushdown {
            return vec![Query::All];
        }
        match &self.reader {
            Reader::Lookup(_) => {
                let names = self
                    .coverage
                    .as_ref()
                    .map_or_else(|| vec!["root".to_string()], |c| c.root_names());
                let scope = LookupScope {
                    region: &self.name,
                    root_names: &names,
                    aliases_unknown: self.coverage.as_ref().is_some_and(|c| c.aliases_unknown()),
                };
                match pushdown::lookup_plan(rules, spec.pushdown_max_lookups, &scope) {
                    LookupPlan::Lookups(ls) => ls.into_iter().map(Query::Lookup).collect(),
                    LookupPlan::ReadAll { .. } => vec![Query::All],
                }
            }
            Reader::Logs(_) => match pushdown::logs_plan(rules).filter_pattern {
                Some(p) => vec![Query::Pattern(p)],
                None => vec![Query::All],
            },
        }
    }
}

/// A source opened: its streams, and what it covers (`lookup_events`).
pub struct Opened {
    pub streams: Vec<Stream>,
    pub coverage: Option<Arc<Coverage>>,
}

/// Opens the streams of an AWS source (none for `files`), learning its account first.
/// `aliases` is the `[account_aliases]` table.
pub async fn open_source(
    spec: &Arc<SourceSpec>,
    aliases: &BTreeMap<String, String>,
) -> Result<Opened, SourceError> {
    open_source_on(spec, aliases, Arc::new(Clock::new(&spec.name))).await
}

/// `open_source` on a given clock (tests drive its host time).
pub async fn open_source_on(
    spec: &Arc<SourceSpec>,
    aliases: &BTreeMap<String, String>,
    clock: Arc<Clock>,
) -> Result<Opened, SourceError> {
    let stats = Arc::new(ApiStats::default());
    let backoff = Backoff {
        initial: spec.retry_initial,
        attempts: spec.retry_attempts,
        ..Backoff::default()
    };
    let caller = || Caller::new(spec.rate, backoff, stats.clone());
    let stream = |name: String, reader, coverage: &Option<Arc<Coverage>>| Stream {
        source: spec.clone(),
        name,
        reader,
        stats: stats.clone(),
        clock: clock.clone(),
        coverage: coverage.clone(),
    };
    match &spec.kind {
        SourceKind::LookupEvents { .. } => {
            let coverage = Some(Arc::new(discover(spec, aliases, &clock).await));
            let mut streams = Vec::new();
            for region in &coverage.as_ref().expect("set above").regions {
                let conf = aws::sdk_config(&spec.access, region, &clock).await;
                let reader = Reader::Lookup(lookup_events::Region {
                    client: aws::access::cloudtrail(&conf, &clock),
                    caller: caller(),
                    region: region.clone(),
                });
                streams.push(stream(region.clone(), reader, &coverage));
            }
            Ok(Opened { streams, coverage })
        }
        SourceKind::CloudwatchLogs {
            region,
            log_group,
            log_stream_prefix,
        } => {
            let region = match region {
                Some(r) => r.clone(),
                None => aws::default_region(&spec.access)
                    .await
                    .ok_or_else(|| SourceError::NoRegion(spec.name.clone()))?,
            };
            let conf = aws::sdk_config(&spec.access, &region, &clock).await;
            let reader = Reader::Logs(cloudwatch_logs::Group {
                client: aws::access::cloudwatch_logs(&conf, &clock),
                caller: caller(),
                region,
                log_group: log_group.clone(),
                stream_prefix: log_stream_prefix.clone(),
            });
            Ok(Opened {
                streams: vec![stream(log_group.clone(), reader, &None)],
                coverage: None,
            })
        }
        SourceKind::Files { .. } => Ok(Opened {
            streams: Vec::new(),
            coverage: None,
        }),
    }
}

/// Learns what a `lookup_events` source covers: its account, aliases and regions.
pub async fn discover(
    spec: &SourceSpec,
    aliases: &BTreeMap<String, String>,
    clock: &Arc<Clock>,
) -> Coverage {
    let configured = match &spec.kind {
        SourceKind::LookupEvents { regions } => regions.as_ref().and_then(|r| r.first()),
        _ => None,
    };
    let home = match configured {
        Some(r) => r.clone(),
        None => aws::default_region(&spec.access)
            .await
            .unwrap_or_else(|| "us-east-1".into()),
    };
    let conf = aws::sdk_config(&spec.access, &home, clock).await;
    let learn = Coverage::discover(spec, &conf, clock, aliases, &home);
    match tokio::time::timeout(defaults::DISCOVERY_TIMEOUT, learn).await {
        Ok(c) => c,
        Err(_) => Coverage::unreachable(
            spec,
            format!(
                "AWS did not answer within {}s",
                defaults::DISCOVERY_TIMEOUT.as_secs()
            ),
        ),
    }
}

/// Opens the streams of an AWS source without an `[account_aliases]` table.
pub async fn open_streams(spec: &Arc<SourceSpec>) -> Result<Vec<Stream>, SourceError> {
    Ok(open_source(spec, &BTreeMap::new()).await?.streams)
}
