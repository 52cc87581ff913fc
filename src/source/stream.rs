//! The streams of a source: each `[[sources]]` entry becomes one or more, each with its own
//! watermark (a `lookup_events` source one per region, a `cloudwatch_logs` source one for its
//! log group), and the queries that read one window of a stream (its pushdown plan).

use std::sync::Arc;

use super::aws::{self, ApiError, ApiStats, Caller};
use super::config::{SourceKind, SourceSpec};
use super::window::Window;
use super::{cloudwatch_logs, lookup_events};
use crate::backoff::Backoff;
use crate::rules::pushdown::{self, Lookup, LookupPlan};
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
pub(crate) async fn lookup_regions(spec: &SourceSpec) -> Vec<String> {
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
pub async fn open_streams(spec: &Arc<SourceSpec>) -> Result<Vec<Stream>, SourceError> {
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
                None => aws::default_region(&spec.access)
                    .await
                    .ok_or_else(|| SourceError::NoRegion(spec.name.clone()))?,
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
