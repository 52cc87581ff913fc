//! The alert pages: the latest alerts of the history filtered by rule, status and principal
//! (`/alerts`), and one alert with its facts, its record and where it went (`/alerts/<id>`).
//! The ids are those `alerts list` shows.

use serde::Serialize;

use super::facts::{shown, text, Scope};
use crate::alert::fields::Fields;
use crate::state::{HistoryEntry, Status};

/// What a status may be, as the filter offers them.
pub(crate) const STATUSES: &[&str] = &[
    "queued",
    "delivered",
    "dead",
    "nowhere",
    "silenced",
    "excepted",
    "shadow",
];

/// The filter of `/alerts`, from its query string.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Filter {
    pub rule: String,
    pub status: String,
    pub principal: String,
}

impl Filter {
    /// The filter a query string asks for (`rule=…&status=…&principal=…`).
    pub(crate) fn parse(query: &str) -> Filter {
        let mut f = Filter::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let v = v.trim().chars().take(256).collect::<String>();
            match &*k {
                "rule" => f.rule = v,
                "status" => f.status = v,
                "principal" => f.principal = v,
                _ => {}
            }
        }
        f
    }

    /// True when the alert is one it asks for: the rule by name, the status by word, the
    /// principal by a part of it.
    pub(crate) fn keeps(&self, e: &HistoryEntry) -> bool {
        (self.rule.is_empty() || e.alert.rule == self.rule)
            && (self.status.is_empty() || e.status.word() == self.status)
            && (self.principal.is_empty() || e.alert.principal.contains(&self.principal))
    }
}

/// One line of `/alerts`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub id: u64,
    pub raised: String,
    pub severity: String,
    pub rule: String,
    pub principal: String,
    /// The principal's short name (the user, the role and session, root).
    pub who: String,
    pub status: &'static str,
    pub title: String,
}

impl Row {
    pub(crate) fn of(e: &HistoryEntry, s: &Scope) -> Row {
        Row {
            id: e.id,
            raised: shown(e.raised(), s),
            severity: e.alert.severity.to_string(),
            rule: text(&e.alert.rule, 120),
            principal: text(&e.alert.principal, 200),
            who: text(
                &crate::alert::fields::short_principal(&e.alert.principal),
                80,
            ),
            status: e.status.word(),
            title: text(&e.alert.title, 200),
        }
    }
}

/// One alert, for `/alerts/<id>`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Detail {
    pub id: u64,
    pub title: String,
    pub severity: String,
    pub rule: String,
    pub status: &'static str,
    pub status_text: String,
    pub raised: String,
    /// The console link, when it is one (https, to AWS's console).
    pub console: String,
    pub facts: Vec<(&'static str, String)>,
    /// Each sink it was routed to, and what became of it there.
    pub sinks: Vec<(String, String)>,
    pub last_error: String,
    pub record: String,
}

impl Detail {
    pub(crate) fn of(e: &HistoryEntry, s: &Scope) -> Detail {
        let a = &e.alert;
        let f = Fields::of(a, &s.tz, &s.tz_name, &s.aliases);
        let console = if is_console(&f.console_link) {
            f.console_link.clone()
        } else {
            String::new()
        };
        Detail {
            id: e.id,
            title: f.title.clone(),
            severity: a.severity.to_string(),
            rule: f.rule.clone(),
            status: e.status.word(),
            status_text: match &e.status {
                Status::Silenced { silence, reason } => {
                    format!("silenced by silence {silence}: {}", text(reason, 300))
                }
                Status::Excepted { reason } => {
                    format!("excepted by its rule: {}", text(reason, 300))
                }
                Status::Shadow => "shadow: its rule runs in shadow mode".into(),
                other => other.word().to_string(),
            },
            raised: shown(e.raised(), s),
            console,
            facts: f.facts().into_iter().map(|x| (x.label, x.value)).collect(),
            sinks: sinks(e),
            last_error: e
                .last_error
                .as_deref()
                .map(|x| text(x, 500))
                .unwrap_or_default(),
            record: record(&a.record),
        }
    }
}

/// Only AWS's console is linked to.
fn is_console(link: &str) -> bool {
    link.strip_prefix("https://")
        .and_then(|r| r.split('/').next())
        .is_some_and(|host| {
            host.ends_with(".console.aws.amazon.com")
                || host.ends_with(".console.amazonaws-us-gov.com")
                || host.ends_with(".console.amazonaws.cn")
                || host == "console.aws.amazon.com"
        })
}

fn sinks(e: &HistoryEntry) -> Vec<(String, String)> {
    e.sinks
        .iter()
        .map(|sink| (text(sink, 80), e.at_sink(sink)))
        .collect()
}

/// The record pretty-printed (at most 256 KiB of it shown), every deceptive character escaped.
fn record(r: &str) -> String {
    crate::text::truncate(&crate::text::pretty_record(r), 256 * 1024)
}
