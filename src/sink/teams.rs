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
pub(crate) const MAX_BYTES: usize = 26 * 1024;

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
pub(crate) struct Teams {
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

/// One fact: its label (our own text) beside its value (as written), cut to `max` characters.
fn fact(label: &str, value: &str, max: usize) -> Value {
    json!({
        "type": "ColumnSet",
        "columns": [
            {"type": "Column", "width": "100px", "items": [
                {"type": "TextBlock", "text": label, "wrap": true, "isSubtle": true, "size": "Small"}]},
            {"type": "Column", "width": "stretch", "items": [as_written(value, max)]},
        ],
    })
}

/// How much of a message a card carries: all of it, or less when that weighs too much.
#[derive(Debug, Clone, Copy)]
struct Room {
    /// The most characters of one fact's value.
    value: usize,
    /// The held alerts' lines, and the runbook.
    held: bool,
    runbook: bool,
}

impl Room {
    /// Everything.
    const ALL: Room = Room {
        value: 1200,
        held: true,
        runbook: true,
    };

    /// Less than this, if there is less to give: the held lines first, then the runbook, then
    /// shorter values.
    fn less(self) -> Option<Room> {
        match self {
            Room { held: true, .. } => Some(Room {
                held: false,
                ..self
            }),
            Room { runbook: true, .. } => Some(Room {
                runbook: false,
                ..self
            }),
            Room { value, .. } if value > 40 => Some(Room {
                value: value / 2,
                ..self
            }),
            _ => None,
        }
    }
}

/// The card of a message, carrying what `room` allows.
fn card(m: &Message<'_>, room: Room) -> Value {
    let f = m.facts;
    let mut body = vec![
        json!({"type": "TextBlock", "text": f.severity.to_uppercase(), "weight": "Bolder",
               "size": "Small", "color": color(m.severity)}),
        as_written(&m.subject(), 300),
    ];
    body.extend(
        f.facts()
            .iter()
            .map(|x| fact(x.label, &x.value, room.value)),
    );
    if f.more > 0 {
        body.push(json!({"type": "TextBlock", "wrap": true, "text": format!(
            "{} more alerts of this rule by the same principal since the first:", f.more)}));
        if room.held {
            body.push(as_written(&f.held.join("\n"), 4000));
        }
    }
    if !f.runbook.is_empty() && room.runbook {
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
    /// The JSON body for a message, measured: under Teams' size limit, what weighs most is
    /// left out or cut until it fits (the held lines, the runbook, then every long value).
    pub(crate) fn payload(&self, m: &Message<'_>) -> Vec<u8> {
        let mut room = Room::ALL;
        loop {
            let body = serde_json::to_vec(&card(m, room)).expect("a card serializes");
            match room.less() {
                Some(less) if body.len() > MAX_BYTES => room = less,
                _ => return body,
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::fields::Fields;
    use crate::sink::message::{Format, Render};

    struct Subject;
    impl Render for Subject {
        fn render(&self, _: Format, _: &Fields) -> String {
            "subject".into()
        }
    }

    fn teams() -> Teams {
        let url = reqwest::Url::parse("https://example.invalid/hook").unwrap();
        let http = Http::new(std::time::Duration::from_secs(1), &[]).unwrap();
        Teams { url, http }
    }

    fn texts(body: &[u8]) -> String {
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[test]
    fn a_card_that_fits_carries_everything() {
        let f = Fields {
            event_id: "e-1".into(),
            runbook: "Call the on-call.".into(),
            more: 2,
            held: vec!["h1".into(), "h2".into()],
            ..Fields::default()
        };
        let m = Message::new(&f, Severity::High, &Subject);
        let body = texts(&teams().payload(&m));
        for part in ["e-1", "Call the on-call.", "h1\\nh2"] {
            assert!(body.contains(part), "{part}: {body}");
        }
    }

    #[test]
    fn a_card_of_long_values_is_cut_until_its_measured_size_fits() {
        // Every value long, and escaped long in JSON (quotes and control characters).
        let long = "\"\u{1}x".repeat(5000);
        let f = Fields {
            detail: long.clone(),
            also: long.clone(),
            account: long.clone(),
            region: long.clone(),
            time_utc: long.clone(),
            event_name: long.clone(),
            principal_arn: long.clone(),
            source_ip: long.clone(),
            user_agent: long.clone(),
            mfa: long.clone(),
            error_code: long.clone(),
            target: long.clone(),
            event_id: long.clone(),
            threshold: long.clone(),
            runbook: long.clone(),
            more: 500,
            held: vec![long.clone(); 50],
            ..Fields::default()
        };
        let m = Message::new(&f, Severity::High, &Subject);
        let body = teams().payload(&m);
        assert!(body.len() <= MAX_BYTES, "{} bytes", body.len());
        let card: Value = serde_json::from_slice(&body).unwrap();
        let shown = card.to_string();
        assert!(
            shown.contains("eventID") && shown.contains("Source IP"),
            "every fact is still named"
        );
    }
}
