//! Counters and gauges of the daemon, and the optional Prometheus endpoint that serves them
//! (text exposition format, `GET /metrics`, on the configured address: keep it on loopback).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One metric family: help text, type, and a value per label set.
#[derive(Debug, Default)]
struct Family {
    help: &'static str,
    kind: &'static str,
    values: BTreeMap<String, f64>,
}

/// The daemon's metrics.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    families: Arc<Mutex<BTreeMap<&'static str, Family>>>,
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl Metrics {
    fn with(
        &self,
        name: &'static str,
        help: &'static str,
        kind: &'static str,
        l: &[(&str, &str)],
        f: impl FnOnce(&mut f64),
    ) {
        let mut fams = self.families.lock().expect("metrics lock");
        let fam = fams.entry(name).or_insert_with(|| Family {
            help,
            kind,
            values: BTreeMap::new(),
        });
        f(fam.values.entry(labels(l)).or_insert(0.0));
    }

    fn add(&self, name: &'static str, help: &'static str, l: &[(&str, &str)], v: f64) {
        self.with(name, help, "counter", l, |x| *x += v);
    }

    fn set(
        &self,
        name: &'static str,
        help: &'static str,
        kind: &'static str,
        l: &[(&str, &str)],
        v: f64,
    ) {
        self.with(name, help, kind, l, |x| *x = v);
    }

    /// A stream's poll read `records` and raised `raised` alerts, at `at`.
    pub fn poll_succeeded(&self, stream: &str, records: u64, raised: u64, at: jiff::Timestamp) {
        let l = [("stream", stream)];
        self.add(
            "trailwatch_records_read_total",
            "CloudTrail records read.",
            &l,
            records as f64,
        );
        self.add(
            "trailwatch_alerts_raised_total",
            "Alerts put into the outbox.",
            &l,
            raised as f64,
        );
        self.set(
            "trailwatch_last_poll_success_timestamp_seconds",
            "Time of the last successful poll.",
            "gauge",
            &l,
            at.as_second() as f64,
        );
    }

    /// A stream's poll failed.
    pub fn poll_failed(&self, stream: &str) {
        self.add(
            "trailwatch_poll_failures_total",
            "Polls that failed.",
            &[("stream", stream)],
            1.0,
        );
    }

    /// A source's AWS API calls so far (retries included) and how many were throttled.
    pub fn api_calls(&self, source: &str, calls: u64, throttled: u64) {
        let l = [("source", source)];
        self.set(
            "trailwatch_api_calls_total",
            "AWS API calls made (retries included).",
            "counter",
            &l,
            calls as f64,
        );
        self.set(
            "trailwatch_api_throttled_total",
            "AWS API calls throttled.",
            "counter",
            &l,
            throttled as f64,
        );
    }

    /// How far a stream's watermark is behind now.
    pub fn watermark_lag(&self, stream: &str, seconds: f64) {
        self.set(
            "trailwatch_watermark_lag_seconds",
            "How far each stream's watermark is behind now.",
            "gauge",
            &[("stream", stream)],
            seconds,
        );
    }

    /// A sink's messages delivered and failed attempts so far.
    pub fn sink_counts(&self, sink: &str, sent: u64, failed: u64) {
        let l = [("sink", sink)];
        self.set(
            "trailwatch_alerts_sent_total",
            "Messages delivered per sink.",
            "counter",
            &l,
            sent as f64,
        );
        self.set(
            "trailwatch_alerts_failed_total",
            "Delivery attempts that failed per sink.",
            "counter",
            &l,
            failed as f64,
        );
    }

    /// The outbox's depth and the dead letters' count.
    pub fn queues(&self, outbox: usize, dead: usize) {
        self.set(
            "trailwatch_outbox_depth",
            "Alerts waiting for delivery.",
            "gauge",
            &[],
            outbox as f64,
        );
        self.set(
            "trailwatch_dead_letters",
            "Alerts given up on.",
            "gauge",
            &[],
            dead as f64,
        );
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let fams = self.families.lock().expect("metrics lock");
        let mut out = String::new();
        for (name, f) in fams.iter() {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {}", f.help, f.kind);
            for (l, v) in &f.values {
                let _ = writeln!(out, "{name}{l} {v}");
            }
        }
        out
    }

    /// Serves `GET /metrics` until the task is dropped.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
        loop {
            let (mut sock, _) = listener.accept().await?;
            let m = self.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n =
                    tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let resp = if req.starts_with("GET /metrics ") || req.starts_with("GET / ") {
                    let body = m.render();
                    format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_string()
                };
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_exposition_format_with_escaped_labels() {
        let m = Metrics::default();
        let at = jiff::Timestamp::UNIX_EPOCH;
        m.poll_succeeded("a\"b", 2, 0, at);
        m.poll_succeeded("a\"b", 3, 1, at);
        m.queues(4, 0);
        let t = m.render();
        assert!(
            t.contains("# TYPE trailwatch_outbox_depth gauge\ntrailwatch_outbox_depth 4\n"),
            "{t}"
        );
        assert!(
            t.contains("trailwatch_records_read_total{stream=\"a\\\"b\"} 5\n"),
            "{t}"
        );
    }
}
