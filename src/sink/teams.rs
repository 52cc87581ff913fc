//! The `teams` sink: POSTs an Adaptive Card to a Microsoft Teams Workflows webhook (the
//! replacement of the retired Office 365 connectors), as the Workflows "when a Teams webhook
//! request is received" trigger takes it. Teams renders Markdown in `TextBlock`s and in
//! `FactSet` values, so every record value goes in a `TextRun` of a `RichTextBlock`, which
//! Teams shows as written: no value can become a link or formatting. The card stays under the
//! 28 KB a Teams message takes. The webhook URL is a secret. Outcomes as every HTTP sink's.

use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{self, Http};
use super::kind::{Attempt, Kind, Opening, Outcome, Problem, Transport};
use super::message::Message;
use crate::secret::SecretRef;
use crate::severity::Severity;
use crate::text::truncate;

/// A Teams message is limited to about 28 KB: the card is kept under this.
pub const MAX_BYTES: usize = 26 * 1024;

/// A `type = "teams"` sink's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// The Workflows webhook's URL: a secret (`env:NAME`, `file:PATH` or literal).
    pub url: SecretRef,
}

impl Kind for TeamsConfig {
    fn kind(&self) -> &'static str {
        "teams"
    }

    fn describe(&self) -> String {
        http::describe_url("teams workflow webhook", &self.url)
    }

    fn secrets(&self) -> Vec<&SecretRef> {
        vec![&self.url]
    }

    fn default_rate(&self) -> Option<f64> {
        Some(1.0)
    }

    fn open(&self, o: &Opening) -> Result<Box<dyn Transport>, Problem> {
        let (url, http) = http::webhook(&self.url, o.timeout)?;
        Ok(Box::new(Teams { url, http }))
    }
}

/// A Teams Workflows webhook.
pub struct Teams {
    url: reqwest::Url,
    http: Http,
}

/// The colours Adaptive Cards name.
fn color(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "attention",
        Severity::Medium => "warning",
        Severity::Low => "accent",
        Severity::Info => "default",
    }
}

/// Text shown exactly as written (a `TextRun` is never read as Markdown).
fn as_written(text: &str, max: usize) -> Value {
    json!({"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": truncate(text, max)}]})
}

/// One fact: its label (our own text) beside its value (as written).
fn fact(label: &str, value: &str) -> Value {
    json!({
        "type": "ColumnSet",
        "columns": [
            {"type": "Column", "width": "100px", "items": [
                {"type": "TextBlock", "text": label, "wrap": true, "isSubtle": true, "size": "Small"}]},
            {"type": "Column", "width": "stretch", "items": [as_written(value, 1200)]},
        ],
    })
}

/// The card of a message.
pub fn card(m: &Message<'_>) -> Value {
    let f = m.facts;
    let mut body = vec![
        json!({"type": "TextBlock", "text": f.severity.to_uppercase(), "weight": "Bolder",
               "size": "Small", "color": color(m.severity)}),
        as_written(&m.subject(), 300),
    ];
    let account = if f.account_alias.is_empty() {
        f.account.clone()
    } else {
        format!("{} ({})", f.account, f.account_alias)
    };
    for (label, value) in [
        ("Detail", f.detail.clone()),
        ("Also matched", f.also.clone()),
        ("Account", account),
        ("Region", f.region.clone()),
        ("Time", f.time_utc.clone()),
        ("Event", format!("{} ({})", f.event_name, f.event_source)),
        (
            "Principal",
            format!("{} {}", f.principal_type, f.principal_arn),
        ),
        ("Source IP", f.source_ip.clone()),
        ("User agent", f.user_agent.clone()),
        ("MFA used", f.mfa.clone()),
        ("Error", format!("{} {}", f.error_code, f.error_message)),
        ("Target", f.target.clone()),
        ("Count", f.threshold.clone()),
        ("eventID", f.event_id.clone()),
    ] {
        if !value.trim().is_empty() && value.trim() != "()" {
            body.push(fact(label, &value));
        }
    }
    if f.more > 0 {
        body.push(json!({"type": "TextBlock", "wrap": true, "text": format!(
            "{} more alerts of this rule by the same principal since the first:", f.more)}));
        body.push(as_written(&f.held.join("\n"), 4000));
    }
    if !f.runbook.is_empty() {
        body.push(json!({"type": "TextBlock", "text": "Runbook", "weight": "Bolder"}));
        body.push(as_written(&f.runbook, 3000));
    }
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "msteams": {"width": "Full"},
        "body": body,
    });
    if !f.console_link.is_empty() {
        content["actions"] = json!([{"type": "Action.OpenUrl",
            "title": "Open in the CloudTrail console", "url": f.console_link}]);
    }
    json!({"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": null,
        "content": content,
    }]})
}

impl Teams {
    /// The JSON body for a message, under Teams' size limit (long values cut first).
    pub fn payload(&self, m: &Message<'_>) -> Vec<u8> {
        let body = serde_json::to_vec(&card(m)).expect("a card serializes");
        if body.len() <= MAX_BYTES {
            return body;
        }
        // Too big (many long values): the card without the runbook and the held lines.
        let mut c = card(m);
        if let Some(b) = c["attachments"][0]["content"]["body"].as_array_mut() {
            b.truncate(16);
        }
        serde_json::to_vec(&c).expect("a card serializes")
    }
}

impl Transport for Teams {
    fn send<'a>(&'a self, m: &'a Message<'a>) -> Attempt<'a, Outcome> {
        let body = self.payload(m);
        Box::pin(async move { self.http.post(&self.url, body, &[]).await })
    }

    fn probe(&self) -> Attempt<'_, Result<String, String>> {
        Box::pin(self.http.probe(&self.url))
    }
}
