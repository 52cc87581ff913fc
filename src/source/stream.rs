//! The streams of a source: each `[[sources]]` entry becomes one or more, each with its own
//! watermark (a `lookup_events` source one per region, a `cloudwatch_logs` source one for its
//! log group); the queries that read one window of a stream (its pushdown plan, which depends on
//! the region and on what the source learned of its account); and the pages of one query.

use std::sync::Arc;

use super::aws::{ApiError, ApiStats, Clock};
use super::config::SourceSpec;
use super::coverage::Coverage;
use super::window::Window;
use super::{cloudwatch_logs, lookup_events};
use crate::rules::pushdown::{self, Lookup, LookupPlan, LookupScope};
use crate::rules::RuleSet;

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
            Reader::Lookup(r) => {
                let names = self
                    .coverage
                    .as_ref()
                    .map_or_else(|| vec!["root".to_string()], |c| c.root_names());
                let scope = LookupScope {
                    region: &r.region,
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
