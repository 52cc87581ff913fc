//! The `webhook` sink: POSTs each alert to any HTTP endpoint (a SIEM, a ticketing bridge) as a
//! versioned JSON document (`docs/webhook.md` gives its schema), or as the sink's own
//! `template` renders it. With a `secret`, every request carries `X-Trailwatch-Signature:
//! sha256=<hex HMAC-SHA256 of the body>`, as GitHub signs its webhooks, so that the receiver
//! can check it came from trailwatch unaltered. Extra `headers` are sent as given (their values
//! may be secrets). Outcomes as every HTTP sink's.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;

use super::http::{self, Http};
use super::kind::{Attempt, Kind, Opening, Outcome, Problem, Transport};
use super::message::{Format, Message};
use crate::secret::{Secret, SecretRef};

/// The schema of the JSON document, named in every body.
pub(crate) const SCHEMA: &str = "trailwatch.alert/v1";

/// The signature's header.
pub(crate) const SIGNATURE: &str = "X-Trailwatch-Signature";

/// A `type = "webhook"` sink's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where alerts are POSTed: a secret when it holds a token (`env:NAME`, `file:PATH` or
    /// literal).
    pub url: SecretRef,
    /// A shared secret: each body is signed with it (HMAC-SHA256).
    pub secret: Option<SecretRef>,
    /// Headers sent with every request (values may be `env:` or `file:` secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretRef>,
}

impl Kind for WebhookConfig {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn default_storm_after(&self) -> usize {
        0
    }

    fn check(&self) -> Result<(), String> {
        for k in self.headers.keys() {
            let ok = !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if !ok || k.eq_ignore_ascii_case(SIGNATURE) || k.eq_ignore_ascii_case("content-length")
            {
                return Err(format!("header `{k}` cannot be set"));
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let signed = if self.secret.is_some() {
            ", signed"
        } else {
            ""
        };
        format!("{}{signed}", http::describe_url("webhook", &self.url))
    }

    fn secrets(&self) -> Vec<&SecretRef> {
        let mut s = vec![&self.url];
        s.extend(self.secret.iter());
        s.extend(self.headers.values());
        s
    }

    fn open(&self, o: &Opening) -> Result<Box<dyn Transport>, Problem> {
        let url = self.url.resolve()?;
        let secret = self.secret.as_ref().map(SecretRef::resolve).transpose()?;
        let mut headers = Vec::new();
        for (k, v) in &self.headers {
            headers.push((k.clone(), v.resolve()?));
        }
        let mut scrub: Vec<&Secret> = vec![&url];
        scrub.extend(secret.iter());
        scrub.extend(headers.iter().map(|(_, v)| v));
        Ok(Box::new(Webhook {
            url: http::url(&url)?,
            http: Http::new(o.timeout, &scrub)?,
            secret,
            headers,
            templated: o.templated,
        }))
    }
}

/// An HTTP endpoint.
pub(crate) struct Webhook {
    url: reqwest::Url,
    http: Http,
    secret: Option<Secret>,
    headers: Vec<(String, Secret)>,
    /// The body is the sink's template, rendered.
    templated: bool,
}

/// The versioned JSON document of a message.
pub(crate) fn document(m: &Message<'_>) -> Value {
    let f = m.facts;
    json!({
        "schema": SCHEMA,
        "id": m.id,
        "thread": m.thread,
        "subject": m.subject(),
        "title": f.title,
        "severity": f.severity,
        "rules": m.rules,
        "test": f.test,
        "facts": {
            "account": f.account, "account_alias": f.account_alias, "region": f.region,
            "time": f.time_utc, "event_name": f.event_name, "event_source": f.event_source,
            "principal_type": f.principal_type, "principal_arn": f.principal_arn,
            "principal_name": f.principal_name, "source_ip": f.source_ip,
            "user_agent": f.user_agent, "mfa": f.mfa, "error_code": f.error_code,
            "error_message": f.error_message, "target": f.target, "event_id": f.event_id,
            "console_link": f.console_link, "detail": f.detail, "also": f.also,
            "count": f.threshold, "more": f.more, "held": f.held, "runbook": f.runbook,
        },
        "record": serde_json::from_str::<Value>(m.record).unwrap_or(Value::Null),
    })
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    /// The body of a message: the JSON document with the time of this attempt in it (signed
    /// with the rest: a captured request replayed later is told by it), or the sink's template
    /// rendered.
    pub(crate) fn body(&self, m: &Message<'_>) -> Vec<u8> {
        if self.templated {
            m.text(Format::Text).into_bytes()
        } else {
            let mut d = document(m);
            d["sent_at"] = jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .expect("rounds")
                .to_string()
                .into();
            serde_json::to_vec(&d).expect("a document serializes")
        }
    }
}

impl Transport for Webhook {
    fn send<'a>(&'a self, m: &'a Message<'a>) -> Attempt<'a, Outcome> {
        let body = self.body(m);
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect();
        if let Some(s) = &self.secret {
            headers.push((SIGNATURE.into(), signature(s.expose(), &body)));
        }
        Box::pin(async move { self.http.post(&self.url, body, &headers).await })
    }

    fn probe(&self) -> Attempt<'_, Result<String, String>> {
        Box::pin(self.http.probe(&self.url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_githubs_hmac_sha256() {
        // RFC 4231 test case 2.
        let s = signature("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            s,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
