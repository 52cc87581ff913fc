//! The `pagerduty` sink: triggers an incident through the PagerDuty Events API v2, with a
//! stable `dedup_key` per alert (a retry or a repeat updates the same incident), a summary
//! within PagerDuty's 1,024 characters, the severity mapped onto critical/error/warning/info,
//! the facts in `custom_details` and the console link in `links`. The routing key is a
//! secret; it travels in the body, never in a reason. Outcomes as every HTTP sink's: a 400
//! (an invalid event) is parked, a 429 or a 5xx retried.

use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{self, Http};
use super::kind::{Attempt, Kind, Opening, Outcome, Problem, Transport};
use super::message::Message;
use crate::secret::{Secret, SecretRef};
use crate::severity::Severity;
use crate::text::truncate;

/// PagerDuty's Events API v2.
const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A `type = "pagerduty"` sink's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The integration's routing key: a secret (`env:NAME`, `file:PATH` or literal).
    pub routing_key: SecretRef,
    /// The Events API endpoint (default PagerDuty's own; EU accounts use
    /// `https://events.eu.pagerduty.com/v2/enqueue`).
    #[serde(default = "events_url")]
    pub url: String,
}

fn events_url() -> String {
    EVENTS_URL.into()
}

impl Kind for PagerDutyConfig {
    fn kind(&self) -> &'static str {
        "pagerduty"
    }

    fn check(&self) -> Result<(), String> {
        http::url(&Secret::new(self.url.clone()))
            .map(|_| ())
            .map_err(|e| format!("`url`: {e}"))
    }

    fn describe(&self) -> String {
        format!(
            "pagerduty events to {} (routing key from {})",
            self.url,
            self.routing_key.origin()
        )
    }

    fn secrets(&self) -> Vec<&SecretRef> {
        vec![&self.routing_key]
    }

    fn open(&self, o: &Opening) -> Result<Box<dyn Transport>, Problem> {
        let timeout = o.timeout;
        let key = self.routing_key.resolve()?;
        Ok(Box::new(PagerDuty {
            url: http::url(&Secret::new(self.url.clone()))?,
            http: Http::new(timeout, &[&key])?,
            key,
        }))
    }
}

/// A PagerDuty service integration.
pub(crate) struct PagerDuty {
    url: reqwest::Url,
    http: Http,
    key: Secret,
}

/// PagerDuty's four severities.
fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    }
}

impl PagerDuty {
    /// The event for a message.
    pub(crate) fn event(&self, m: &Message<'_>) -> Value {
        let f = m.facts;
        let mut payload = json!({
            "summary": truncate(&m.subject(), 1000),
            "source": if f.account_label.is_empty() { "trailwatch".to_string() } else { f.account_label.clone() },
            "severity": severity(m.severity),
            "component": f.event_source,
            "group": f.account,
            "class": m.rules.join(","),
            "custom_details": {
                "title": f.title, "rules": m.rules, "account": f.account,
                "account_alias": f.account_alias, "region": f.region, "time": f.time_utc,
                "event": f.event_name, "event_source": f.event_source,
                "principal": f.principal_arn, "principal_type": f.principal_type,
                "source_ip": f.source_ip, "user_agent": f.user_agent, "mfa": f.mfa,
                "error": f.error_code, "error_message": f.error_message, "target": f.target,
                "event_id": f.event_id, "count": f.threshold, "detail": f.detail,
                "also_matched": f.also, "more": f.more, "held": f.held, "runbook": f.runbook,
            },
        });
        if let Ok(t) = f
            .time_utc
            .replace(" UTC", "Z")
            .replacen(' ', "T", 1)
            .parse::<jiff::Timestamp>()
        {
            payload["timestamp"] = json!(t.to_string());
        }
        let mut e = json!({
            "routing_key": self.key.expose(),
            "event_action": "trigger",
            "dedup_key": truncate(&crate::names::dedup_key(&m.id), 250),
            "payload": payload,
            "client": "trailwatch",
        });
        if !f.console_link.is_empty() {
            e["links"] =
                json!([{"href": f.console_link, "text": "The event in the CloudTrail console"}]);
        }
        e
    }
}

impl Transport for PagerDuty {
    fn send<'a>(&'a self, m: &'a Message<'a>) -> Attempt<'a, Outcome> {
        let body = serde_json::to_vec(&self.event(m)).expect("an event serializes");
        Box::pin(async move { self.http.post(&self.url, body, &[]).await })
    }

    fn probe(&self) -> Attempt<'_, Result<String, String>> {
        Box::pin(self.http.probe(&self.url))
    }
}
