//! The `dooray` sink: POSTs a message to a Dooray incoming webhook, as the seed Lambda did
//! (`botName`, `botIconImage`, `text`, `attachments`). The webhook URL is a secret: no error
//! or log line carries it. Outcomes as every HTTP sink's (`http`).

use serde::Deserialize;
use serde_json::json;

use super::http::{self, Http};
use super::kind::{Attempt, Kind, Opening, Outcome, Problem, Transport};
use super::message::{Format, Message};
use crate::secret::SecretRef;
use crate::severity::Severity;
use crate::text::truncate;

/// Dooray shows about this much of a message; longer text is cut cleanly.
pub(crate) const MAX_TEXT: usize = 3500;

/// A `type = "dooray"` sink's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoorayConfig {
    /// The incoming webhook's URL: a secret (`env:NAME`, `file:PATH` or literal).
    pub url: SecretRef,
    /// The name messages show as their sender.
    #[serde(default = "bot_name")]
    pub bot_name: String,
    /// An image URL shown beside the sender's name.
    pub bot_icon: Option<String>,
}

fn bot_name() -> String {
    "trailwatch".into()
}

impl Kind for DoorayConfig {
    fn kind(&self) -> &'static str {
        "dooray"
    }

    fn describe(&self) -> String {
        http::describe_url("dooray webhook", &self.url)
    }

    fn secrets(&self) -> Vec<&SecretRef> {
        vec![&self.url]
    }

    fn default_rate(&self) -> Option<f64> {
        Some(1.0)
    }

    fn open(&self, o: &Opening) -> Result<Box<dyn Transport>, Problem> {
        let (url, http) = http::webhook(&self.url, o.timeout)?;
        Ok(Box::new(Dooray {
            url,
            http,
            bot_name: self.bot_name.clone(),
            bot_icon: self.bot_icon.clone(),
        }))
    }
}

/// A Dooray webhook.
pub(crate) struct Dooray {
    url: reqwest::Url,
    http: Http,
    bot_name: String,
    bot_icon: Option<String>,
}

/// A severity's colour, among the names Dooray documents.
fn color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "red",
        Severity::High => "orange",
        Severity::Medium => "yellow",
        Severity::Low => "blue",
        Severity::Info => "green",
    }
}

impl Dooray {
    /// The JSON body for a message: the push preview (`text`) says what happened, where and
    /// who, every record value in inline code as written; the facts in the attachment.
    pub(crate) fn payload(&self, m: &Message<'_>) -> serde_json::Value {
        let mut p = json!({
            "botName": self.bot_name,
            "text": truncate(m.text(Format::SubjectMarkup).trim(), 300),
            "attachments": [{
                "title": truncate(&m.facts.title, 200),
                "text": truncate(&m.text(Format::Markup), MAX_TEXT),
                "color": color(m.severity),
            }]
        });
        if !m.facts.console_link.is_empty() {
            p["attachments"][0]["titleLink"] = json!(m.facts.console_link);
        }
        if let Some(i) = &self.bot_icon {
            p["botIconImage"] = json!(i);
        }
        p
    }
}

impl Transport for Dooray {
    fn send<'a>(&'a self, m: &'a Message<'a>) -> Attempt<'a, Outcome> {
        let body = serde_json::to_vec(&self.payload(m)).expect("a payload serializes");
        Box::pin(async move { self.http.post(&self.url, body, &[]).await })
    }

    fn probe(&self) -> Attempt<'_, Result<String, String>> {
        Box::pin(self.http.probe(&self.url))
    }
}
