//! The contract every HTTP sink keeps, run against each kind: a local receiver answers each
//! case and the outcome must be the one `http` promises — 2xx delivered; 408, 429 (with its
//! `Retry-After`) and 5xx retried; any other 4xx parked; no answer in time and a refused
//! connection retried — and no reason may carry the secret, even when the receiver echoes it.
//! A new HTTP sink adds one line to `KINDS`; `every_kind_is_under_contract` fails until it does.

use std::sync::Arc;
use std::time::Duration;

use super::config::SinkSpec;
use super::message::{Format, Message, Render};
use super::open::Sink;
use super::Outcome;
use crate::alert::fields::Fields;
use crate::config::SourceText;
use crate::severity::Severity;

/// A token that is part of every sink's secret: it must never show in a reason.
const TOKEN: &str = "S3CRET-TOKEN-7f3a";

/// Each HTTP kind's `[[sinks]]` table, `{url}` being the receiver's address.
const KINDS: &[(&str, &str)] = &[
    ("dooray", "type = \"dooray\"\nurl = \"{url}/services/1/2/S3CRET-TOKEN-7f3a\"\n"),
    ("slack", "type = \"slack\"\nurl = \"{url}/services/T0/B0/S3CRET-TOKEN-7f3a\"\n"),
    ("teams", "type = \"teams\"\nurl = \"{url}/workflows/x?sig=S3CRET-TOKEN-7f3a\"\n"),
    ("pagerduty", "type = \"pagerduty\"\nrouting_key = \"S3CRET-TOKEN-7f3a\"\nurl = \"{url}/v2/enqueue\"\n"),
    ("webhook", "type = \"webhook\"\nurl = \"{url}/hook\"\nsecret = \"S3CRET-TOKEN-7f3a\"\nheaders = { Authorization = \"Bearer S3CRET-TOKEN-7f3a\" }\n"),
];

/// The kinds that are not HTTP: they keep their own contract (SMTP codes, standard output).
const NOT_HTTP: &[&str] = &["email", "console"];

struct Texts;
impl Render for Texts {
    fn render(&self, f: Format, _: &Fields) -> String {
        format!("text {f:?}")
    }
}

/// What the receiver answers: status, headers, body, and how long it waits first.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
    delay: Duration,
}

fn answer(status: u16) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: format!("status {status}"),
        delay: Duration::ZERO,
    }
}

/// A receiver answering every request with `a`; its base URL.
fn receiver(a: Answer) -> (String, Arc<tiny_http::Server>) {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("binds"));
    let url = format!("http://{}", server.server_addr());
    let s = server.clone();
    std::thread::spawn(move || {
        for req in s.incoming_requests() {
            std::thread::sleep(a.delay);
            let mut r = tiny_http::Response::from_string(a.body.clone()).with_status_code(a.status);
            for (k, v) in &a.headers {
                r.add_header(tiny_http::Header::from_bytes(*k, *v).expect("a header"));
            }
            let _ = req.respond(r);
        }
    });
    (url, server)
}

fn sink(kind_table: &str, url: &str) -> Sink {
    let text = format!(
        "[[sinks]]\nname = \"s\"\ntimeout = \"1s\"\n{}",
        kind_table.replace("{url}", url)
    );
    let src = SourceText {
        name: "t.toml".into(),
        text,
    };
    let cfg = crate::config::Config::parse(&src).expect("parses");
    let spec = SinkSpec::parse(&cfg.sinks[0], &src).expect("a valid sink");
    Sink::open(&spec).expect("opens")
}

async fn send(kind_table: &str, url: &str) -> Outcome {
    let facts = Fields::default();
    let texts = Texts;
    let m = Message::new(&facts, Severity::High, &texts);
    sink(kind_table, url).send(&m).await
}

fn reason(o: &Outcome) -> &str {
    match o {
        Outcome::Delivered => "",
        Outcome::Retry { reason, .. } | Outcome::Park { reason } => reason,
    }
}

#[tokio::test]
async fn every_http_sink_keeps_the_contract() {
    let retry_after = Answer {
        headers: vec![("Retry-After", "7")],
        ..answer(429)
    };
    let echo = Answer {
        body: format!("no such hook {TOKEN}"),
        ..answer(404)
    };
    let slow = Answer {
        delay: Duration::from_secs(3),
        ..answer(200)
    };
    for (kind, table) in KINDS {
        for (a, expect) in [
            (answer(200), "delivered"),
            (answer(202), "delivered"),
            (answer(204), "delivered"),
            (answer(408), "retry"),
            (answer(500), "retry"),
            (answer(503), "retry"),
            (answer(400), "park"),
            (answer(401), "park"),
            (answer(403), "park"),
            (answer(410), "park"),
            (echo.clone(), "park"),
            (retry_after.clone(), "retry after 7s"),
            (slow.clone(), "retry"),
        ] {
            let status = a.status;
            let (url, _server) = receiver(a);
            let out = send(table, &url).await;
            let got = match &out {
                Outcome::Delivered => "delivered".to_string(),
                Outcome::Retry { after: Some(d), .. } => format!("retry after {}s", d.as_secs()),
                Outcome::Retry { .. } => "retry".to_string(),
                Outcome::Park { .. } => "park".to_string(),
            };
            assert_eq!(got, expect, "{kind}, HTTP {status}: {out:?}");
            assert!(
                !reason(&out).contains(TOKEN),
                "{kind}: the secret leaked: {out:?}"
            );
        }
        // Nothing listens: a connection refused is retried, and says nothing secret.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = send(table, &format!("http://127.0.0.1:{port}")).await;
        assert!(matches!(out, Outcome::Retry { .. }), "{kind}: {out:?}");
        assert!(!reason(&out).contains(TOKEN), "{kind}: {out:?}");
    }
}

#[test]
fn every_kind_is_under_contract() {
    for kind in super::config::SinkKind::NAMES {
        assert!(
            KINDS.iter().any(|(k, _)| k == kind) || NOT_HTTP.contains(kind),
            "sink kind {kind} has no contract case: add it to KINDS (or NOT_HTTP)"
        );
    }
}
