//! The `dooray` sink: POSTs a message to a Dooray incoming webhook, as the seed Lambda did
//! (`botName`, `botIconImage`, `text`, `attachments`). 408, 429, 5xx, timeouts and connection
//! errors are retried (honouring `Retry-After`); other 4xx park the alert. The webhook URL is a
//! secret: no error or log line carries it (reqwest errors are stripped of their URL).

use std::time::Duration;

use serde_json::json;

use super::{Outcome, Problem};
use crate::alert::fields::truncate;
use crate::delivery::Message;
use crate::secret::{redact_url, Secret};
use crate::severity::Severity;

/// Dooray shows about this much of a message; longer text is cut cleanly.
pub const MAX_TEXT: usize = 3500;

/// A Dooray webhook.
pub struct Dooray {
    url: Secret,
    bot_name: String,
    bot_icon: Option<String>,
    client: reqwest::Client,
}

fn color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#b00020",
        Severity::High => "red",
        Severity::Medium => "orange",
        Severity::Low => "#2f80ed",
        Severity::Info => "gray",
    }
}

/// `Retry-After`: seconds, or an HTTP date.
pub fn retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s.min(3600)));
    }
    let t = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let d = t.duration_since(jiff::Timestamp::now());
    Some(
        Duration::try_from(d)
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(3600)),
    )
}

impl Dooray {
    pub fn new(
        url: Secret,
        bot_name: String,
        bot_icon: Option<String>,
        timeout: Duration,
    ) -> Result<Dooray, Problem> {
        let parsed = reqwest::Url::parse(url.expose())
            .map_err(|_| Problem::BadUrl(redact_url(url.expose())))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(Problem::UrlScheme);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("trailwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Problem::HttpClient(e.without_url().to_string()))?;
        Ok(Dooray {
            url,
            bot_name,
            bot_icon,
            client,
        })
    }

    /// The JSON body for a message.
    pub fn payload(&self, m: &Message) -> serde_json::Value {
        let mut p = json!({
            "botName": self.bot_name,
            "text": truncate(&crate::delivery::template::escape_markup(&m.subject), 300),
            "attachments": [{
                "title": truncate(&m.title, 200),
                "text": truncate(&m.markup, MAX_TEXT),
                "color": color(m.severity),
            }]
        });
        if !m.link.is_empty() {
            p["attachments"][0]["titleLink"] = json!(m.link);
        }
        if let Some(i) = &self.bot_icon {
            p["botIconImage"] = json!(i);
        }
        p
    }

    pub async fn send(&self, m: &Message) -> Outcome {
        let r = self
            .client
            .post(self.url.expose())
            .json(&self.payload(m))
            .send()
            .await;
        let resp = match r {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    reason: format!("webhook request failed: {}", e.without_url()),
                    after: None,
                }
            }
        };
        let status = resp.status();
        if status.is_success() {
            return Outcome::Delivered;
        }
        let after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let body = resp.text().await.unwrap_or_default();
        let reason = format!(
            "webhook answered HTTP {}: {}",
            status.as_u16(),
            crate::alert::fields::visible(&truncate(body.trim(), 200))
        );
        if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
            Outcome::Retry { reason, after }
        } else {
            Outcome::Park { reason }
        }
    }

    /// Reachability without posting: a HEAD request to the webhook (any HTTP answer counts).
    pub async fn probe(&self) -> Result<String, String> {
        match self.client.head(self.url.expose()).send().await {
            Ok(r) => Ok(format!(
                "{} answered HTTP {}",
                redact_url(self.url.expose()),
                r.status().as_u16()
            )),
            Err(e) => Err(format!(
                "{} unreachable: {}",
                redact_url(self.url.expose()),
                e.without_url()
            )),
        }
    }
}
