//! A `[[sinks]]` table: the keys every sink takes (name, severity floor, templates, timeout,
//! retry) are read here, the rest by the kind `type` names (its file in `sink/`). A key that
//! belongs to another kind, or to none, is refused at its own line.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::kind::Kind;
use super::{console, dooray, email, pagerduty, slack, teams, webhook};
use crate::config::location::{parse_entry, unknown_field, Entry};
use crate::config::{ConfigError, SourceText};
use crate::defaults;
use crate::severity::Severity;

/// The keys every sink takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    name: String,
    /// Alerts below this severity are not sent here (default: info, everything).
    min_severity: Option<Severity>,
    /// Message templates (minijinja) for this sink, overriding the defaults.
    subject_template: Option<String>,
    template: Option<String>,
    /// How long one attempt may take (default: the kind's).
    timeout: Option<String>,
    /// First wait before a failed delivery is tried again (doubles up to 5 minutes).
    retry_initial: Option<String>,
    /// Messages per second at most (chat webhooks: 1 by default; 0: no limit).
    max_per_second: Option<f64>,
    /// In one delivery pass, alerts past this many are summed up in one message (default 20,
    /// webhook and console 0: never).
    storm_after: Option<usize>,
}

const COMMON: &[&str] = &[
    "name",
    "min_severity",
    "subject_template",
    "template",
    "timeout",
    "retry_initial",
    "max_per_second",
    "storm_after",
];

/// The kinds of sink, by `type`: each variant holds its kind's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkKind {
    Dooray(dooray::DoorayConfig),
    Email(email::EmailConfig),
    Console(console::ConsoleConfig),
    Slack(slack::SlackConfig),
    Teams(teams::TeamsConfig),
    Pagerduty(pagerduty::PagerDutyConfig),
    Webhook(webhook::WebhookConfig),
}

impl SinkKind {
    /// Every kind's `type` (a test checks it against the variants).
    #[cfg(test)]
    pub(crate) const NAMES: &[&str] = &[
        "dooray",
        "email",
        "console",
        "slack",
        "teams",
        "pagerduty",
        "webhook",
    ];

    /// The kind's entry, to ask it anything.
    pub fn entry(&self) -> &dyn Kind {
        match self {
            SinkKind::Dooray(c) => c,
            SinkKind::Email(c) => c,
            SinkKind::Console(c) => c,
            SinkKind::Slack(c) => c,
            SinkKind::Teams(c) => c,
            SinkKind::Pagerduty(c) => c,
            SinkKind::Webhook(c) => c,
        }
    }
}

/// A validated sink.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSpec {
    pub name: String,
    pub kind: SinkKind,
    /// Alerts below this severity are not sent here.
    pub min_severity: Severity,
    pub subject_template: Option<String>,
    pub template: Option<String>,
    pub timeout: Duration,
    pub retry_initial: Duration,
    /// Messages per second at most (`None`: no limit).
    pub rate: Option<f64>,
    /// Alerts past this many in one pass are summed up (0: never).
    pub storm_after: usize,
}

impl SinkSpec {
    /// Parses and validates one `[[sinks]]` table; errors point into the file.
    pub fn parse(t: &Spanned<toml::Table>, src: &SourceText) -> Result<SinkSpec, ConfigError> {
        let (mut common, mut rest) = (toml::Table::new(), toml::Table::new());
        for (k, v) in t.get_ref() {
            let side = if COMMON.contains(&k.as_str()) {
                &mut common
            } else {
                &mut rest
            };
            side.insert(k.clone(), v.clone());
        }
        let name = t
            .get_ref()
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        let c: Common = parse_entry(&Spanned::new(t.span(), common), src, "sink")?;
        let kind: SinkKind = parse_entry(&Spanned::new(t.span(), rest), src, "sink")
            .map_err(|e| refused_key(e, name, t, src))?;
        let at = |m: String| src.error_at(t.span().start, m);
        let entry = kind.entry();
        entry
            .check()
            .map_err(|e| at(format!("sink '{name}': {e}")))?;
        let e = Entry {
            what: "sink",
            name,
            kind: entry.kind().to_string(),
        };
        let timeout = e.duration(&c.timeout, "timeout", entry.default_timeout());
        let retry = e.duration(
            &c.retry_initial,
            "retry_initial",
            defaults::DELIVERY_RETRY_INITIAL,
        );
        let rate = match c.max_per_second {
            Some(r) if !(0.0..=1000.0).contains(&r) || r.is_nan() => {
                return Err(at(format!(
                    "sink '{name}': max_per_second must be between 0 and 1000"
                )))
            }
            Some(0.0) => None,
            Some(r) => Some(r),
            None => entry.default_rate(),
        };
        Ok(SinkSpec {
            rate,
            storm_after: c.storm_after.unwrap_or(entry.default_storm_after()),
            timeout: timeout.map_err(at)?,
            retry_initial: retry.map_err(at)?,
            min_severity: c.min_severity.unwrap_or(Severity::Info),
            subject_template: c.subject_template,
            template: c.template,
            name: c.name,
            kind,
        })
    }

    /// True when a secret of this sink comes from the environment or a file.
    pub fn has_external_secret(&self) -> bool {
        self.kind.entry().secrets().iter().any(|s| s.is_external())
    }

    /// The systemd credentials its secrets are read from (`credential:NAME`).
    pub fn credentials(&self) -> Vec<String> {
        let e = self.kind.entry();
        e.secrets()
            .iter()
            .filter_map(|s| s.credential().map(str::to_string))
            .collect()
    }

    /// The sink's address for logs and `check`, with secrets redacted.
    pub fn describe(&self) -> String {
        self.kind.entry().describe()
    }
}

/// A key another kind takes, said as such ("`smtp_host` does not apply to a dooray sink"),
/// at its own line.
fn refused_key(
    e: ConfigError,
    name: &str,
    t: &Spanned<toml::Table>,
    src: &SourceText,
) -> ConfigError {
    let Some(key) = e.message.split(": ").nth(1).and_then(unknown_field) else {
        return e;
    };
    let kind = t
        .get_ref()
        .get("type")
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    let takes = e
        .message
        .split(", expected ")
        .nth(1)
        .unwrap_or("no other key");
    let at = src.key_offset(t.span(), key).unwrap_or(t.span().start);
    src.error_at(
        at,
        format!(
            "sink '{name}': `{key}` does not apply to a {kind} sink (it takes {takes}, and {})",
            COMMON.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SinkSpec, ConfigError> {
        let src = SourceText {
            name: "c.toml".into(),
            text: text.into(),
        };
        let cfg = crate::config::Config::parse(&src).unwrap();
        SinkSpec::parse(&cfg.sinks[0], &src)
    }

    #[test]
    fn the_kinds_named_are_every_variant() {
        let e = parse("[[sinks]]\nname = \"x\"\ntype = \"nope\"\n").unwrap_err();
        let listed: Vec<&str> = e
            .message
            .split("expected one of ")
            .nth(1)
            .expect("serde lists the variants")
            .split(", ")
            .map(|v| v.trim_matches('`'))
            .collect();
        assert_eq!(listed, SinkKind::NAMES, "{}", e.message);
    }

    #[test]
    fn a_key_of_another_kind_is_refused_at_its_line() {
        let e = parse("[[sinks]]\nname = \"d\"\ntype = \"dooray\"\nurl = \"https://x/y\"\nsmtp_host = \"mail\"\n")
            .unwrap_err();
        assert_eq!((e.line, e.column), (5, 1), "{e}");
        assert!(
            e.message
                .contains("`smtp_host` does not apply to a dooray sink"),
            "{e}"
        );
    }
}
