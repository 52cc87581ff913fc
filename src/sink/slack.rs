//! The `slack` sink: POSTs a Block Kit message to a Slack incoming webhook: a header with the
//! severity and what happened, the facts as fields, the runbook, and a button to the event in
//! the CloudTrail console; `text` is the notification's fallback. Record values go in
//! `plain_text` objects, which Slack shows as written (no formatting, no links); what goes in
//! `mrkdwn` is escaped as Slack asks (`&`, `<`, `>`). Blocks stay within Slack's limits. The
//! webhook URL is a secret. Outcomes as every HTTP sink's (`http`).

use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{self, Http};
use super::kind::{Attempt, Kind, Opening, Outcome, Problem, Transport};
use super::message::Message;
use crate::secret::SecretRef;
use crate::text::truncate;

/// Slack's limits: header text, section text, a field, fields per section, a button's text.
const HEADER: usize = 150;
const SECTION: usize = 3000;
const FIELD: usize = 2000;
const FIELDS: usize = 10;

/// A `type = "slack"` sink's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming webhook's URL: a secret (`env:NAME`, `file:PATH` or literal).
    pub url: SecretRef,
}

impl Kind for SlackConfig {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn describe(&self) -> String {
        http::describe_url("slack webhook", &self.url)
    }

    fn secrets(&self) -> Vec<&SecretRef> {
        vec![&self.url]
    }

    fn default_rate(&self) -> Option<f64> {
        Some(1.0)
    }

    fn open(&self, o: &Opening) -> Result<Box<dyn Transport>, Problem> {
        let (url, http) = http::webhook(&self.url, o.timeout)?;
        Ok(Box::new(Slack { url, http }))
    }
}

/// A Slack webhook.
pub(crate) struct Slack {
    url: reqwest::Url,
    http: Http,
}

/// Text for `mrkdwn`: `&`, `<` and `>` escaped, as Slack asks (a `<` would open a link).
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn plain(s: &str, max: usize) -> Value {
    json!({"type": "plain_text", "text": truncate(s, max.saturating_sub(1)), "emoji": false})
}

/// The short facts as `label: value` fields in plain text (shown as written), in sections of
/// at most `FIELDS`.
fn fields(m: &Message<'_>) -> Vec<Value> {
    m.facts
        .facts()
        .iter()
        .filter(|f| !f.wide)
        .map(|f| plain(&format!("{}\n{}", f.label, f.value), FIELD))
        .collect()
}

impl Slack {
    /// The JSON body for a message.
    pub(crate) fn payload(&self, m: &Message<'_>) -> Value {
        let f = m.facts;
        let subject = m.subject();
        let mut blocks = vec![json!({"type": "header", "text": plain(&subject, HEADER)})];
        // The long facts as lines; the short ones as fields below.
        let mut lines: Vec<String> = (f.facts().into_iter())
            .filter(|x| x.wide)
            .map(|x| format!("{}: {}", x.label, x.value))
            .collect();
        if f.more > 0 {
            lines.push(format!(
                "{} more alerts of this rule by the same principal since the first:",
                f.more
            ));
            lines.extend(f.held.iter().map(|l| format!("- {l}")));
        }
        if !lines.is_empty() {
            blocks.push(json!({"type": "section", "text": plain(&lines.join("\n"), SECTION)}));
        }
        for fields in fields(m).chunks(FIELDS) {
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        if !f.runbook.is_empty() {
            let text = format!("*Runbook*\n{}", escape(&f.runbook));
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, SECTION - 1)}}));
        }
        if f.console_link.len() <= 3000 && !f.console_link.is_empty() {
            blocks.push(json!({"type": "actions", "elements": [{
                "type": "button",
                "text": plain("Open in the CloudTrail console", 75),
                "url": f.console_link,
            }]}));
        }
        json!({
            // The notification's text: plain, and escaped as Slack asks.
            "text": escape(&truncate(&subject, SECTION - 1)),
            "blocks": blocks,
        })
    }
}

impl Transport for Slack {
    fn send<'a>(&'a self, m: &'a Message<'a>) -> Attempt<'a, Outcome> {
        let body = serde_json::to_vec(&self.payload(m)).expect("a payload serializes");
        Box::pin(async move { self.http.post(&self.url, body, &[]).await })
    }

    fn probe(&self) -> Attempt<'_, Result<String, String>> {
        Box::pin(self.http.probe(&self.url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_escapes_only_what_slack_asks() {
        assert_eq!(escape("a & <b> *c* _d_"), "a &amp; &lt;b&gt; *c* _d_");
    }

    #[test]
    fn fields_are_plain_text_within_the_limits() {
        let f = crate::alert::fields::Fields {
            principal_arn: "<!channel> [x](http://evil.example)".into(),
            event_id: "e".repeat(5000),
            ..Default::default()
        };
        struct T;
        impl super::super::message::Render for T {
            fn render(
                &self,
                _: super::super::message::Format,
                _: &crate::alert::fields::Fields,
            ) -> String {
                "s".repeat(500)
            }
        }
        let m = Message::new(&f, crate::severity::Severity::High, &T);
        let fs = fields(&m);
        assert!(fs.iter().all(|f| f["type"] == "plain_text"));
        assert!(fs
            .iter()
            .all(|f| f["text"].as_str().unwrap().chars().count() <= FIELD));
        assert!(
            fs[0]["text"].as_str().unwrap().contains("<!channel>"),
            "as written, in plain text"
        );
    }
}
