//! The daemon's metrics, one method per metric (call sites never spell a name), encoded by
//! `prometheus-client` in the OpenMetrics text format. Names follow Prometheus's conventions
//! (`trailwatch_` prefix, base units, `_total` on counters); labels are the same everywhere:
//! `source` (the configured source), `stream` (a region, log group, account/region or
//! `queue` within it), `sink`, `kind`.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// Upper bounds (seconds) of the lateness histogram: 1, 5, 10, 15, 20, 30 minutes, 1, 3, 6 h.
const LATENESS_BUCKETS: [f64; 9] = [
    60.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0, 10800.0, 21600.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    source: String,
    stream: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    source: String,
    kind: String,
}

type GaugeF = Gauge<f64, AtomicU64>;

fn source(s: &str) -> SourceLabels {
    SourceLabels {
        source: s.to_string(),
    }
}

/// `source/stream` (the daemon's key for a stream) as labels.
fn stream(key: &str) -> StreamLabels {
    let (source, stream) = key.split_once('/').unwrap_or((key, ""));
    StreamLabels {
        source: source.to_string(),
        stream: stream.to_string(),
    }
}

/// Every metric family.
#[derive(Default)]
struct Families {
    records_read: Family<StreamLabels, Counter>,
    alerts_raised: Family<StreamLabels, Counter>,
    last_poll: Family<StreamLabels, GaugeF>,
    polls_failed: Family<StreamLabels, Counter>,
    watermark_lag: Family<StreamLabels, GaugeF>,
    api_calls: Family<SourceLabels, Counter>,
    api_throttled: Family<SourceLabels, Counter>,
    objects_doubted: Family<SourceLabels, Counter>,
    objects_set_aside: Family<SourceLabels, Counter>,
    objects_handed: Family<SourceLabels, Counter>,
    links_skipped: Family<SourceLabels, Counter>,
    digests_verified: Family<SourceLabels, Counter>,
    log_files_checked: Family<SourceLabels, Counter>,
    log_files_read_for_digests: Family<SourceLabels, Counter>,
    integrity_findings: Family<KindLabels, Counter>,
    late_events: Family<SourceLabels, Counter>,
    undeliverable: Family<SourceLabels, Counter>,
    records_noted: Family<KindLabels, Counter>,
    lateness_max: Family<SourceLabels, GaugeF>,
    clock_skew: Family<SourceLabels, GaugeF>,
    silenced: Family<RuleLabels, Counter>,
    by_rule: Family<RuleLabels, Counter>,
    excepted: Family<RuleLabels, Counter>,
    shadow: Family<RuleLabels, Counter>,
    messages_sent: Family<SinkLabels, Counter>,
    delivery_failures: Family<SinkLabels, Counter>,
    outbox: Gauge,
    dead_letters: Gauge,
    state_writable: Gauge,
    lease_held: Gauge,
    table_calls: Counter,
    table_items: Counter,
}

/// A gauge read when the metrics are served.
type Live = Box<dyn Fn() -> bool + Send>;
/// Totals read when the metrics are served.
type Totals = Box<dyn Fn() -> (u64, u64) + Send>;

/// The daemon's metrics.
#[derive(Clone)]
pub(crate) struct Metrics {
    f: Arc<Families>,
    lateness: Family<SourceLabels, Histogram>,
    registry: Arc<Registry>,
    /// The last totals seen of counters kept elsewhere (API calls, sink counts), to add only
    /// what is new; a total that went down (a reload made new counters) starts again.
    mirrored: Arc<Mutex<HashMap<(&'static str, String), u64>>>,
    writable: Arc<Mutex<Option<Live>>>,
    table: Arc<Mutex<Option<Totals>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// The content type of `render`'s text.
    pub(crate) const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";

    pub(crate) fn new() -> Metrics {
        let f = Arc::new(Families::default());
        let lateness = Family::<SourceLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENESS_BUCKETS)
        });
        let mut r = Registry::with_prefix("trailwatch");
        r.register(
            "build",
            "The running version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        register_streams(&mut r, &f);
        register_sources(&mut r, &f, &lateness);
        register_delivery(&mut r, &f);
        Metrics {
            f,
            lateness,
            registry: Arc::new(r),
            mirrored: Arc::default(),
            writable: Arc::default(),
            table: Arc::default(),
        }
    }

    /// A stream's poll read `records` and raised `raised` alerts, at `at`.
    pub(crate) fn poll_succeeded(&self, key: &str, records: u64, raised: u64, at: jiff::Timestamp) {
        let l = stream(key);
        self.f.records_read.get_or_create(&l).inc_by(records);
        self.f.alerts_raised.get_or_create(&l).inc_by(raised);
        self.f
            .last_poll
            .get_or_create(&l)
            .set(at.as_millisecond() as f64 / 1000.0);
    }

    /// A stream's poll failed.
    pub(crate) fn poll_failed(&self, key: &str) {
        self.f.polls_failed.get_or_create(&stream(key)).inc();
    }

    /// How far a stream's watermark is behind now.
    pub(crate) fn watermark_lag(&self, key: &str, seconds: f64) {
        self.f
            .watermark_lag
            .get_or_create(&stream(key))
            .set(seconds);
    }

    /// A source's AWS API calls so far (retries included) and how many were throttled.
    pub(crate) fn api_calls(&self, src: &str, calls: u64, throttled: u64) {
        let l = source(src);
        self.mirror("api_calls", src, calls, self.f.api_calls.get_or_create(&l));
        self.mirror(
            "api_throttled",
            src,
            throttled,
            self.f.api_throttled.get_or_create(&l),
        );
    }

    /// An S3 object whose name's time is not trusted (read, but no watermark moved for it).
    pub(crate) fn object_doubted(&self, src: &str) {
        self.f.objects_doubted.get_or_create(&source(src)).inc();
    }

    /// An S3 object that could not be read, set aside to be tried again.
    pub(crate) fn object_set_aside(&self, src: &str) {
        self.f.objects_set_aside.get_or_create(&source(src)).inc();
    }

    /// Symbolic links found in a `files` source's folder (not followed: their targets are not
    /// read), each counted once.
    pub(crate) fn links_skipped(&self, src: &str, n: u64) {
        self.f.links_skipped.get_or_create(&source(src)).inc_by(n);
    }

    /// S3 objects this standby read from the queue and handed to the instance that holds the
    /// lease (counted once it answered that they are durable).
    pub(crate) fn objects_handed(&self, src: &str, n: u64) {
        self.f.objects_handed.get_or_create(&source(src)).inc_by(n);
    }

    /// What checking a trail's digests did: digests verified, log files checked against them,
    /// and log files read only because a digest listed them.
    pub(crate) fn digests(&self, src: &str, digests: u64, checked: u64, read: u64) {
        let l = source(src);
        self.f.digests_verified.get_or_create(&l).inc_by(digests);
        self.f.log_files_checked.get_or_create(&l).inc_by(checked);
        self.f
            .log_files_read_for_digests
            .get_or_create(&l)
            .inc_by(read);
    }

    /// A finding of the trail's digests, by kind.
    pub(crate) fn integrity_finding(&self, src: &str, kind: &str) {
        let l = KindLabels {
            source: src.to_string(),
            kind: kind.to_string(),
        };
        self.f.integrity_findings.get_or_create(&l).inc();
    }

    /// How late the events of a source's alerts were first seen (first seen minus
    /// eventTime), and the largest so far.
    pub(crate) fn lateness(&self, src: &str, seconds: f64) {
        let l = source(src);
        self.lateness.get_or_create(&l).observe(seconds);
        let max = self.f.lateness_max.get_or_create(&l);
        if seconds > max.get() {
            max.set(seconds);
        }
    }

    /// An event of a source arrived later than `overlap`.
    pub(crate) fn late_event(&self, src: &str) {
        self.f.late_events.get_or_create(&source(src)).inc();
    }

    /// Records of a source that could not be read as they were, by what was done.
    pub(crate) fn records_noted(&self, src: &str, kind: &str, n: u64) {
        let l = KindLabels {
            source: src.to_string(),
            kind: kind.to_string(),
        };
        self.f.records_noted.get_or_create(&l).inc_by(n);
    }

    /// Alerts raised that no sink takes (each also logged as an error).
    pub(crate) fn undeliverable(&self, src: &str, n: u64) {
        self.f.undeliverable.get_or_create(&source(src)).inc_by(n);
    }

    /// Alerts of `rule` raised for delivery.
    pub(crate) fn raised_by_rule(&self, rule: &str, n: u64) {
        let l = RuleLabels {
            rule: rule.to_string(),
        };
        self.f.by_rule.get_or_create(&l).inc_by(n);
    }

    /// Matches of `rule` recorded but kept from delivery: `why` is silenced, excepted or
    /// shadow.
    pub(crate) fn quieted(&self, rule: &str, why: &str, n: u64) {
        let l = RuleLabels {
            rule: rule.to_string(),
        };
        let family = match why {
            "silenced" => &self.f.silenced,
            "excepted" => &self.f.excepted,
            _ => &self.f.shadow,
        };
        family.get_or_create(&l).inc_by(n);
    }

    /// AWS's clock minus the host's, as a source's answers tell it.
    pub(crate) fn clock_skew(&self, src: &str, seconds: f64) {
        self.f.clock_skew.get_or_create(&source(src)).set(seconds);
    }

    /// A sink's messages delivered and failed delivery attempts, as totals so far.
    pub(crate) fn sink_counts(&self, sink: &str, sent: u64, failed: u64) {
        let l = SinkLabels {
            sink: sink.to_string(),
        };
        self.mirror("sent", sink, sent, self.f.messages_sent.get_or_create(&l));
        self.mirror(
            "failed",
            sink,
            failed,
            self.f.delivery_failures.get_or_create(&l),
        );
    }

    /// The outbox's depth and the dead letters' count.
    pub(crate) fn queues(&self, outbox: usize, dead: usize) {
        self.f.outbox.set(outbox as i64);
        self.f.dead_letters.set(dead as i64);
    }

    /// Whether the state database can be written (0 while a full disk or a damaged database
    /// stops it), read when the metrics are served.
    pub(crate) fn state_writable(&self, writable: impl Fn() -> bool + Send + 'static) {
        *self.writable.lock().expect("metrics lock") = Some(Box::new(writable));
    }

    /// A shared state's DynamoDB calls and items written (totals kept by the table client),
    /// read when the metrics are served.
    pub(crate) fn state_table(&self, totals: impl Fn() -> (u64, u64) + Send + 'static) {
        *self.table.lock().expect("metrics lock") = Some(Box::new(totals));
    }

    /// Whether this instance holds a shared state's lease.
    pub(crate) fn lease_held(&self, held: bool) {
        self.f.lease_held.set(i64::from(held));
    }

    /// Adds to `counter` what `total` (a count kept elsewhere) grew by since last seen.
    fn mirror(
        &self,
        what: &'static str,
        key: &str,
        total: u64,
        counter: impl std::ops::Deref<Target = Counter>,
    ) {
        let mut seen = self.mirrored.lock().expect("metrics lock");
        let last = seen.entry((what, key.to_string())).or_insert(0);
        let grew = if total >= *last { total - *last } else { total };
        *last = total;
        counter.inc_by(grew);
    }

    /// The exposition text (OpenMetrics, ending in `# EOF`).
    pub(crate) fn render(&self) -> String {
        if let Some(w) = self.writable.lock().expect("metrics lock").as_ref() {
            self.f.state_writable.set(i64::from(w()));
        }
        let totals = self
            .table
            .lock()
            .expect("metrics lock")
            .as_ref()
            .map(|t| t());
        if let Some((calls, items)) = totals {
            self.mirror("table_calls", "", calls, &self.f.table_calls);
            self.mirror("table_items", "", items, &self.f.table_items);
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("metrics could not be encoded: {e}");
        }
        out
    }
}

/// The metrics of each stream's polls.
fn register_streams(r: &mut Registry, f: &Families) {
    r.register(
        "records_read",
        "CloudTrail records read",
        f.records_read.clone(),
    );
    r.register(
        "alerts_raised",
        "Alerts put into the outbox",
        f.alerts_raised.clone(),
    );
    r.register_with_unit(
        "last_poll_success_timestamp",
        "Time of the last successful poll (Unix time)",
        Unit::Seconds,
        f.last_poll.clone(),
    );
    r.register("polls_failed", "Polls that failed", f.polls_failed.clone());
    r.register_with_unit(
        "watermark_lag",
        "How far each stream's watermark is behind now",
        Unit::Seconds,
        f.watermark_lag.clone(),
    );
}

/// The metrics of each source: API calls, objects, lateness, records not read as they were.
fn register_sources(r: &mut Registry, f: &Families, lateness: &Family<SourceLabels, Histogram>) {
    r.register(
        "api_calls",
        "AWS API calls made (retries included)",
        f.api_calls.clone(),
    );
    r.register(
        "api_throttled",
        "AWS API calls throttled",
        f.api_throttled.clone(),
    );
    register_objects(r, f);
    r.register_with_unit(
        "event_lateness",
        "First seen minus eventTime of the events alerted on",
        Unit::Seconds,
        lateness.clone(),
    );
    r.register_with_unit(
        "event_lateness_max",
        "The latest an event alerted on was first seen after its eventTime",
        Unit::Seconds,
        f.lateness_max.clone(),
    );
    r.register(
        "late_events",
        "Events first seen later than overlap after their eventTime",
        f.late_events.clone(),
    );
    r.register(
        "records_not_read_as_they_were",
        "Records skipped, repaired, alerted as possible matches or without an eventID, and parts of inputs not read",
        f.records_noted.clone(),
    );
    r.register(
        "alerts_undeliverable",
        "Alerts raised with no sink to go to (logged as errors)",
        f.undeliverable.clone(),
    );
    r.register_with_unit(
        "clock_skew",
        "AWS's clock minus the host's (from the Date of AWS's answers)",
        Unit::Seconds,
        f.clock_skew.clone(),
    );
}

/// The metrics of what a source read besides records: S3 objects and their digests, a
/// folder's links.
fn register_objects(r: &mut Registry, f: &Families) {
    r.register(
        "objects_suspicious",
        "S3 objects named with a time outside their folder's day or in the future",
        f.objects_doubted.clone(),
    );
    r.register(
        "objects_set_aside",
        "S3 objects that could not be read and were set aside",
        f.objects_set_aside.clone(),
    );
    r.register(
        "files_links_skipped",
        "Symbolic links in a files source's folder, not followed (their targets are not read)",
        f.links_skipped.clone(),
    );
    r.register(
        "objects_handed",
        "S3 objects a standby read from the queue and handed to the instance that holds the lease",
        f.objects_handed.clone(),
    );
    r.register(
        "digests_verified",
        "The trail's signed digest files verified (signature, chain, the log files they list)",
        f.digests_verified.clone(),
    );
    r.register(
        "digest_log_files_checked",
        "Log files whose hash was checked against the digest that lists them",
        f.log_files_checked.clone(),
    );
    r.register(
        "digest_log_files_read",
        "Log files read only because a digest listed them (a lost notification, a listing that missed them)",
        f.log_files_read_for_digests.clone(),
    );
    r.register(
        "integrity_findings",
        "What checking the trail's digests found, by kind (modified, missing, digest-missing, signature, chain, not-in-digest, gap)",
        f.integrity_findings.clone(),
    );
}

/// The metrics of delivery and of the state.
fn register_delivery(r: &mut Registry, f: &Families) {
    r.register(
        "messages_sent",
        "Messages a sink accepted (one message may carry several alerts)",
        f.messages_sent.clone(),
    );
    r.register(
        "delivery_failures",
        "Delivery attempts a sink refused or did not answer (each is retried until max_delivery_age)",
        f.delivery_failures.clone(),
    );
    r.register(
        "alerts_by_rule",
        "Alerts raised for delivery, by rule (an event several rules matched counts for the first)",
        f.by_rule.clone(),
    );
    r.register(
        "alerts_silenced",
        "Matches a silence kept from delivery (recorded in the alert history)",
        f.silenced.clone(),
    );
    r.register(
        "alerts_excepted",
        "Matches an exception of their rule kept from delivery (recorded in the alert history)",
        f.excepted.clone(),
    );
    r.register(
        "alerts_shadow",
        "Matches of rules in shadow mode (recorded in the alert history, never delivered)",
        f.shadow.clone(),
    );
    r.register(
        "outbox_depth",
        "Alerts waiting for delivery",
        f.outbox.clone(),
    );
    r.register(
        "dead_letters",
        "Alerts given up on (max_delivery_age passed, or refused for good)",
        f.dead_letters.clone(),
    );
    r.register(
        "state_writable",
        "1 when the state database can be written, 0 while writes fail (and for 10 s after they work again)",
        f.state_writable.clone(),
    );
    r.register(
        "state_table_calls",
        "DynamoDB calls made for a shared state (retries included)",
        f.table_calls.clone(),
    );
    r.register(
        "state_table_items_written",
        "items written to a shared state's DynamoDB table",
        f.table_items.clone(),
    );
    r.register(
        "lease_held",
        "1 while this instance works (always, with a state of its own), 0 while it stands by for a shared state's lease",
        f.lease_held.clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family with one sample, so that each is rendered (an empty family is not).
    fn touched() -> Metrics {
        let m = Metrics::default();
        let f = &m.f;
        let st = stream("s/x");
        let src = source("s");
        let rule = RuleLabels { rule: "r".into() };
        let sink = SinkLabels { sink: "k".into() };
        let kind = KindLabels {
            source: "s".into(),
            kind: "k".into(),
        };
        for c in [&f.records_read, &f.alerts_raised, &f.polls_failed] {
            c.get_or_create(&st).inc();
        }
        for g in [&f.last_poll, &f.watermark_lag] {
            g.get_or_create(&st).set(1.0);
        }
        for c in [
            &f.api_calls,
            &f.api_throttled,
            &f.objects_doubted,
            &f.objects_set_aside,
            &f.objects_handed,
            &f.links_skipped,
            &f.digests_verified,
            &f.log_files_checked,
            &f.log_files_read_for_digests,
            &f.late_events,
            &f.undeliverable,
        ] {
            c.get_or_create(&src).inc();
        }
        for c in [&f.integrity_findings, &f.records_noted] {
            c.get_or_create(&kind).inc();
        }
        for g in [&f.lateness_max, &f.clock_skew] {
            g.get_or_create(&src).set(1.0);
        }
        for c in [&f.silenced, &f.by_rule, &f.excepted, &f.shadow] {
            c.get_or_create(&rule).inc();
        }
        for c in [&f.messages_sent, &f.delivery_failures] {
            c.get_or_create(&sink).inc();
        }
        m.lateness("s", 1.0);
        m
    }

    /// The metric names a configuration file (a dashboard, alerting rules) uses that
    /// `/metrics` does not serve.
    fn unserved(text: &str) -> Vec<String> {
        let served: std::collections::HashSet<String> = touched()
            .render()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(str::to_string)
            .collect();
        let mut missing: Vec<String> = text
            .match_indices("trailwatch_")
            .map(|(i, _)| {
                text[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .filter(|n| !served.contains(n))
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    #[test]
    fn the_shipped_dashboard_and_alerting_rules_use_only_metrics_that_are_served() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
        let rules = std::fs::read_to_string(root.join("prometheus/trailwatch-rules.yml")).unwrap();
        let dashboard =
            std::fs::read_to_string(root.join("grafana/trailwatch-dashboard.json")).unwrap();
        // The check finds a name that is not served (a check that can fail).
        assert_eq!(
            unserved("rate(trailwatch_records_red_total[5m]) + trailwatch_outbox_depth"),
            ["trailwatch_records_red_total"]
        );
        assert_eq!(
            unserved(&rules),
            Vec::<String>::new(),
            "in the alerting rules"
        );
        assert_eq!(
            unserved(&dashboard),
            Vec::<String>::new(),
            "in the dashboard"
        );
        // Each has what Prometheus and Grafana need to load it.
        let doc: yaml_serde::Value = yaml_serde::from_str(&rules).unwrap();
        let listed = doc["groups"][0]["rules"].as_sequence().unwrap();
        assert!(listed.len() >= 8);
        for r in listed {
            for k in ["alert", "expr"] {
                assert!(
                    r[k].as_str().is_some_and(|v| !v.is_empty()),
                    "{r:?} has no {k}"
                );
            }
            assert!(r["labels"]["severity"].as_str().is_some(), "{r:?}");
            assert!(r["annotations"]["summary"].as_str().is_some(), "{r:?}");
        }
        let d: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
        let panels = d["panels"].as_array().unwrap();
        assert!(panels.len() >= 8);
        for p in panels {
            assert!(
                p["targets"].as_array().is_some_and(|t| !t.is_empty()),
                "{p}"
            );
        }
        for want in [
            "trailwatch_watermark_lag_seconds",
            "trailwatch_last_poll_success_timestamp_seconds",
            "trailwatch_alerts_by_rule_total",
            "trailwatch_delivery_failures_total",
            "trailwatch_outbox_depth",
            "trailwatch_dead_letters",
            "trailwatch_state_writable",
            "trailwatch_lease_held",
        ] {
            assert!(dashboard.contains(want), "the dashboard shows {want}");
            assert!(
                rules.contains(want) || want.ends_with("by_rule_total"),
                "a rule watches {want}"
            );
        }
    }

    #[test]
    fn renders_openmetrics_with_one_label_scheme() {
        let m = Metrics::default();
        let at = jiff::Timestamp::UNIX_EPOCH;
        m.poll_succeeded("lookup/us-east-1", 2, 0, at);
        m.poll_succeeded("lookup/us-east-1", 3, 1, at);
        m.poll_succeeded("a\"b/x", 1, 0, at);
        m.queues(4, 0);
        m.lateness("lookup", 420.0);
        m.lateness("lookup", 2700.0);
        m.sink_counts("dooray", 2, 1);
        m.sink_counts("dooray", 5, 1);
        // A reload starts the delivery counts again: the counter keeps counting up.
        m.sink_counts("dooray", 1, 0);
        m.state_writable(|| true);
        let t = m.render();
        for want in [
            "trailwatch_build_info{version=\"",
            "trailwatch_records_read_total{source=\"lookup\",stream=\"us-east-1\"} 5\n",
            "trailwatch_records_read_total{source=\"a\\\"b\",stream=\"x\"} 1\n",
            "trailwatch_event_lateness_seconds_bucket{le=\"600.0\",source=\"lookup\"} 1\n",
            "trailwatch_event_lateness_seconds_bucket{le=\"3600.0\",source=\"lookup\"} 2\n",
            "trailwatch_event_lateness_seconds_count{source=\"lookup\"} 2\n",
            "trailwatch_event_lateness_max_seconds{source=\"lookup\"} 2700.0\n",
            "# TYPE trailwatch_outbox_depth gauge\ntrailwatch_outbox_depth 4\n",
            "trailwatch_messages_sent_total{sink=\"dooray\"} 6\n",
            "trailwatch_delivery_failures_total{sink=\"dooray\"} 1\n",
            "trailwatch_state_writable 1\n",
            "# EOF\n",
        ] {
            assert!(t.contains(want), "{want} not in:\n{t}");
        }
        assert!(!t.contains("alerts_failed"), "{t}");
    }
}
