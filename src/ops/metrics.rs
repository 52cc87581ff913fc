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

/// One histogram: cumulative bucket counts, sum and count, per label set.
#[derive(Debug, Default)]
struct Histogram {
    help: &'static str,
    bounds: &'static [f64],
    series: BTreeMap<String, (Vec<u64>, f64, u64)>,
}

/// Upper bounds (seconds) of the lateness histogram: 1, 5, 10, 15, 20, 30 minutes, 1, 3, 6 h.
const LATENESS_BUCKETS: &[f64] = &[
    60.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0, 10800.0, 21600.0,
];

/// A gauge read when the metrics are served.
type Live = (&'static str, &'static str, Box<dyn Fn() -> f64 + Send>);

/// The daemon's metrics.
#[derive(Default, Clone)]
pub(crate) struct Metrics {
    families: Arc<Mutex<BTreeMap<&'static str, Family>>>,
    histograms: Arc<Mutex<BTreeMap<&'static str, Histogram>>>,
    live: Arc<Mutex<Vec<Live>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
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
    pub(crate) fn poll_succeeded(
        &self,
        stream: &str,
        records: u64,
        raised: u64,
        at: jiff::Timestamp,
    ) {
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
    pub(crate) fn poll_failed(&self, stream: &str) {
        self.add(
            "trailwatch_poll_failures_total",
            "Polls that failed.",
            &[("stream", stream)],
            1.0,
        );
    }

    /// A source's AWS API calls so far (retries included) and how many were throttled.
    pub(crate) fn api_calls(&self, source: &str, calls: u64, throttled: u64) {
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

    /// An S3 object whose name's time is not trusted (read, but no watermark moved for it).
    pub(crate) fn object_doubted(&self, source: &str) {
        self.add(
            "trailwatch_objects_suspicious_total",
            "S3 objects named with a time outside their folder's day or in the future.",
            &[("source", source)],
            1.0,
        );
    }

    /// An S3 object that could not be read, set aside to be tried again.
    pub(crate) fn object_set_aside(&self, source: &str) {
        self.add(
            "trailwatch_objects_set_aside_total",
            "S3 objects that could not be read and were set aside.",
            &[("source", source)],
            1.0,
        );
    }

    /// How far a stream's watermark is behind now.
    pub(crate) fn watermark_lag(&self, stream: &str, seconds: f64) {
        self.set(
            "trailwatch_watermark_lag_seconds",
            "How far each stream's watermark is behind now.",
            "gauge",
            &[("stream", stream)],
            seconds,
        );
    }

    /// A sink's messages delivered and failed attempts so far.
    pub(crate) fn sink_counts(&self, sink: &str, sent: u64, failed: u64) {
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
    pub(crate) fn queues(&self, outbox: usize, dead: usize) {
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

    /// How late the events of a source's alerts were first seen (first seen minus
    /// eventTime), and the largest so far.
    pub(crate) fn lateness(&self, source: &str, seconds: f64) {
        let l = labels(&[("source", source)]);
        {
            let mut hs = self.histograms.lock().expect("metrics lock");
            let h = hs
                .entry("trailwatch_event_lateness_seconds")
                .or_insert_with(|| Histogram {
                    help: "First seen minus eventTime of the events alerted on.",
                    bounds: LATENESS_BUCKETS,
                    series: BTreeMap::new(),
                });
            let n = h.bounds.len();
            let (counts, sum, count) = h.series.entry(l).or_insert((vec![0; n], 0.0, 0));
            for (c, b) in counts.iter_mut().zip(LATENESS_BUCKETS) {
                if seconds <= *b {
                    *c += 1;
                }
            }
            *sum += seconds;
            *count += 1;
        }
        self.with(
            "trailwatch_event_lateness_max_seconds",
            "The latest an event alerted on was first seen after its eventTime.",
            "gauge",
            &[("source", source)],
            |x| *x = x.max(seconds),
        );
    }

    /// An event of a source arrived later than `overlap`.
    pub(crate) fn late_event(&self, source: &str) {
        self.add(
            "trailwatch_late_events_total",
            "Events first seen later than overlap after their eventTime.",
            &[("source", source)],
            1.0,
        );
    }

    /// Records of a source that could not be read as they were, by what was done.
    pub(crate) fn records_noted(&self, source: &str, kind: &str, n: u64) {
        self.add(
            "trailwatch_records_not_read_as_they_were_total",
            "Records skipped, repaired, alerted as possible matches or without an eventID, and parts of inputs not read.",
            &[("source", source), ("kind", kind)],
            n as f64,
        );
    }

    /// Alerts raised that no sink takes (each also logged as an error).
    pub(crate) fn undeliverable(&self, source: &str, n: u64) {
        self.add(
            "trailwatch_alerts_undeliverable_total",
            "Alerts raised with no sink to go to (logged as errors).",
            &[("source", source)],
            n as f64,
        );
    }

    /// Whether the state database can be written (0 while a full disk or a damaged database
    /// stops it), read when the metrics are served.
    pub(crate) fn state_writable(&self, writable: impl Fn() -> bool + Send + 'static) {
        self.live.lock().expect("metrics lock").push((
            "trailwatch_state_writable",
            "1 when the state database can be written, 0 while writes fail (and for 10 s after they work again).",
            Box::new(move || if writable() { 1.0 } else { 0.0 }),
        ));
    }

    /// AWS's clock minus the host's, as a source's answers tell it.
    pub(crate) fn clock_skew(&self, source: &str, seconds: f64) {
        self.set(
            "trailwatch_clock_skew_seconds",
            "AWS's clock minus the host's (from the Date of AWS's answers).",
            "gauge",
            &[("source", source)],
            seconds,
        );
    }

    /// The exposition text.
    pub(crate) fn render(&self) -> String {
        let fams = self.families.lock().expect("metrics lock");
        let mut out = String::new();
        for (name, f) in fams.iter() {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {}", f.help, f.kind);
            for (l, v) in &f.values {
                let _ = writeln!(out, "{name}{l} {v}");
            }
        }
        for (name, help, read) in self.live.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                read()
            );
        }
        for (name, h) in self.histograms.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", h.help);
            for (l, (counts, sum, count)) in &h.series {
                // `{source="x"}` → `source="x",` to put beside `le`.
                let inner = l.trim_start_matches('{').trim_end_matches('}');
                let sep = if inner.is_empty() { "" } else { "," };
                for (c, b) in counts.iter().zip(h.bounds) {
                    let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"{b}\"}} {c}");
                }
                let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"+Inf\"}} {count}");
                let _ = writeln!(out, "{name}_sum{l} {sum}");
                let _ = writeln!(out, "{name}_count{l} {count}");
            }
        }
        out
    }

    /// Serves `GET /metrics` until the task is dropped.
    pub(crate) async fn serve(self, addr: SocketAddr) -> std::io::Result<()> {
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
        m.lateness("lookup", 420.0);
        m.lateness("lookup", 2700.0);
        let t = m.render();
        assert!(
            t.contains(
                "trailwatch_event_lateness_seconds_bucket{source=\"lookup\",le=\"600\"} 1\n"
            ) && t.contains(
                "trailwatch_event_lateness_seconds_bucket{source=\"lookup\",le=\"3600\"} 2\n"
            ) && t.contains("trailwatch_event_lateness_seconds_count{source=\"lookup\"} 2\n")
                && t.contains("trailwatch_event_lateness_max_seconds{source=\"lookup\"} 2700\n"),
            "{t}"
        );
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
