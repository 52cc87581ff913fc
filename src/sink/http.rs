//! What every HTTP sink shares: a client with the sink's timeout, a POST of a body, a probe,
//! and the one place that turns an HTTP answer into an outcome — 2xx delivered; 408, 429 and
//! 5xx retried (honouring `Retry-After`); timeouts and connection errors retried; any other
//! answer parked. No reason carries a secret: reqwest errors lose their URL, and a secret the
//! receiver echoes back in its answer is replaced by `***`.

use std::time::Duration;

use super::kind::{Outcome, Problem};
use crate::secret::{redact_url, Secret, SecretRef};
use crate::text::{truncate, visible};

/// The most of a receiver's answer a reason quotes.
const QUOTED: usize = 200;

/// An HTTP client for one sink, and the secrets its reasons must never show.
pub(crate) struct Http {
    client: reqwest::Client,
    secrets: Vec<String>,
}

/// "LABEL https://host/***" for `check` and logs, or where the URL could not be read.
pub(crate) fn describe_url(label: &str, url: &SecretRef) -> String {
    match url.resolve() {
        Ok(u) => format!("{label} {}", redact_url(u.expose())),
        Err(e) => format!("{label} (url from {}: {e})", url.origin()),
    }
}

/// A webhook whose URL is its only secret: the URL, and a client that scrubs it from reasons.
pub(crate) fn webhook(url: &SecretRef, timeout: Duration) -> Result<(reqwest::Url, Http), Problem> {
    let secret = url.resolve()?;
    Ok((self::url(&secret)?, Http::new(timeout, &[&secret])?))
}

/// A parsed, checked webhook URL.
pub(crate) fn url(secret: &Secret) -> Result<reqwest::Url, Problem> {
    let parsed = reqwest::Url::parse(secret.expose())
        .map_err(|_| Problem::BadUrl(redact_url(secret.expose())))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(Problem::UrlScheme);
    }
    if parsed.scheme() == "http" && !is_local(&parsed) {
        return Err(Problem::PlainHttpRemote(
            parsed.host_str().unwrap_or("?").to_string(),
        ));
    }
    Ok(parsed)
}

/// True when the URL's host is this host (a loopback address, or localhost).
fn is_local(u: &reqwest::Url) -> bool {
    let host = u.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// `Retry-After`: seconds, or an HTTP date; at most an hour.
pub(crate) fn retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    let hour = Duration::from_secs(3600);
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s).min(hour));
    }
    let t = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let d = t.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(d).unwrap_or(Duration::ZERO).min(hour))
}

/// The outcome of an HTTP answer: `status`, its `Retry-After`, and its body (quoted in the
/// reason, already stripped of secrets).
pub(crate) fn classify(status: u16, retry_after_header: Option<&str>, body: &str) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Delivered;
    }
    let quoted = visible(&truncate(body.trim(), QUOTED));
    let reason = if quoted.is_empty() {
        format!("answered HTTP {status}")
    } else {
        format!("answered HTTP {status}: {quoted}")
    };
    if status == 408 || status == 429 || status >= 500 {
        Outcome::Retry {
            reason,
            after: retry_after_header.and_then(retry_after),
        }
    } else {
        Outcome::Park { reason }
    }
}

/// What of a secret must never be shown: the whole value and, for a URL, each part of its
/// path and query long enough to be a token (a receiver may echo only the token back).
fn secret_parts(secret: &str) -> Vec<String> {
    let mut parts = vec![secret.to_string()];
    if let Ok(u) = reqwest::Url::parse(secret) {
        let path = u.path_segments().into_iter().flatten().map(str::to_string);
        let query = u.query_pairs().map(|(_, v)| v.into_owned());
        parts.extend(path.chain(query).filter(|p| p.len() >= 8));
    }
    parts.retain(|p| p.len() >= 4);
    // Longest first, so that a part inside another is not left half-replaced.
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    parts
}

impl Http {
    /// A client whose requests take at most `timeout`; `secrets` are scrubbed from reasons.
    pub(crate) fn new(timeout: Duration, secrets: &[&Secret]) -> Result<Http, Problem> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("trailwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Problem::HttpClient(e.without_url().to_string()))?;
        Ok(Http {
            client,
            secrets: secrets
                .iter()
                .flat_map(|s| secret_parts(s.expose()))
                .collect(),
        })
    }

    /// `text` with every secret replaced by `***`.
    fn scrub(&self, text: &str) -> String {
        let mut t = text.to_string();
        for s in &self.secrets {
            t = t.replace(s.as_str(), "***");
        }
        t
    }

    /// POSTs `body` (JSON unless `headers` say otherwise) and classifies the answer.
    pub(crate) async fn post(
        &self,
        url: &reqwest::Url,
        body: Vec<u8>,
        headers: &[(String, String)],
    ) -> Outcome {
        let mut req = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() {
                    "no answer in time"
                } else {
                    "request failed"
                };
                return Outcome::Retry {
                    reason: self.scrub(&format!("{what}: {}", causes(e.without_url()))),
                    after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        let after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Read whole, even an acceptance (the connection is kept for the next message only
        // once its answer was read), and at most `MAX_ANSWER` of it.
        let body = answer_text(resp).await;
        classify(status, after.as_deref(), &self.scrub(&body))
    }

    /// Reaches `url` without posting anything: a HEAD request. A 4xx or 5xx answer is a
    /// failure naming the status (a rotated webhook answers 404), except 405: the endpoint
    /// exists and takes POST only.
    pub(crate) async fn probe(&self, url: &reqwest::Url) -> Result<String, String> {
        let shown = redact_url(url.as_str());
        match self.client.head(url.clone()).send().await {
            Ok(r) if r.status().as_u16() >= 400 && r.status().as_u16() != 405 => Err(format!(
                "{shown} answered HTTP {} ({})",
                r.status().as_u16(),
                r.status().canonical_reason().unwrap_or("error")
            )),
            Ok(r) => Ok(format!("{shown} answered HTTP {}", r.status().as_u16())),
            Err(e) => Err(self.scrub(&format!("{shown} unreachable: {}", causes(e.without_url())))),
        }
    }
}

/// The most of an answer's body read (and quoted): an endpoint may answer with anything.
const MAX_ANSWER: usize = 64 * 1024;

/// An answer's body as text, at most `MAX_ANSWER` bytes of it (what is beyond is not read, and
/// the connection is not kept).
async fn answer_text(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ANSWER - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ANSWER {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// A request error and its causes ("error sending request: client error (Connect): dns
/// error: …"): the top line alone does not say what to fix.
fn causes(e: reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut cur = std::error::Error::source(&e);
    while let Some(x) = cur {
        let t = x.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = x.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_outcomes() {
        assert_eq!(classify(200, None, ""), Outcome::Delivered);
        assert_eq!(classify(202, None, ""), Outcome::Delivered);
        for s in [408, 429, 500, 502, 503] {
            assert!(
                matches!(classify(s, None, "x"), Outcome::Retry { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 410, 413] {
            assert!(
                matches!(classify(s, None, "x"), Outcome::Park { .. }),
                "{s}"
            );
        }
        match classify(429, Some("7"), "slow down") {
            Outcome::Retry { after, reason } => {
                assert_eq!(after, Some(Duration::from_secs(7)));
                assert_eq!(reason, "answered HTTP 429: slow down");
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(retry_after("999999"), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn plain_http_is_only_for_this_host() {
        let u = |s: &str| url(&Secret::new(s));
        for ok in [
            "https://hook.dooray.com/services/1/2/T",
            "http://127.0.0.1:8080/hook",
            "http://[::1]:9/x",
            "http://localhost/x",
        ] {
            assert!(u(ok).is_ok(), "{ok}");
        }
        match u("http://hook.dooray.com/services/1/2/SECRET") {
            Err(Problem::PlainHttpRemote(h)) => assert_eq!(h, "hook.dooray.com"),
            other => panic!("{other:?}"),
        }
        assert!(u("http://10.0.0.5/x").is_err());
        assert!(matches!(u("ftp://127.0.0.1/x"), Err(Problem::UrlScheme)));
    }
}
