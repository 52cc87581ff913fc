//! The cost of the durable flush: an alert raised and flushed, with trailwatch's flush (sled's
//! flush, then fsync of the log, new blobs and the directories) against sled's flush alone (its
//! `sync_file_range`, not durable on power loss), side by side in the same run, on the disk
//! that holds `target/` (a tmpfs would hide the cost).
//!
//! Run: cargo bench --bench state_flush  (FLUSHES=N per side, default 500)

use std::time::{Duration, Instant};

use trailwatch::alert::{Alert, Event, Kind, RuleFacts};
use trailwatch::severity::Severity;
use trailwatch::state::State;

fn alert(i: usize) -> Alert {
    let rule = RuleFacts {
        name: "iam-user-lifecycle",
        title: "IAM user created or deleted",
        subject: "IAM user",
        severity: Severity::High,
    };
    let event = Event {
        id: format!("00000000-0000-0000-0000-{i:012}"),
        time: "2026-11-22T00:00:00Z".into(),
        source: "lookup".into(),
        // A CloudTrail record's usual size.
        record: format!("{{\"eventID\":\"{i}\",\"pad\":\"{}\"}}", "x".repeat(2000)),
        principal: String::new(),
    };
    Alert::new(rule, event, Kind::Match)
}

/// Median, 99th percentile and flushes per second of `times`.
fn report(name: &str, mut times: Vec<Duration>) -> f64 {
    times.sort();
    let total: Duration = times.iter().sum();
    let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let rate = times.len() as f64 / total.as_secs_f64();
    println!(
        "{name:<34} {rate:>9.0} flushes/s   median {:>8.3} ms   p99 {:>8.3} ms",
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3
    );
    rate
}

fn main() {
    let n: usize = std::env::var("FLUSHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-state");
    std::fs::create_dir_all(&base).unwrap();
    let dir = tempfile::tempdir_in(&base).unwrap();
    println!(
        "{n} alerts raised and flushed one by one, in {}",
        dir.path().display()
    );

    // Baseline: sled alone, same mode, same values, its own flush.
    let db = sled::Config::new()
        .path(dir.path().join("sled-only"))
        .mode(sled::Mode::LowSpace)
        .open()
        .unwrap();
    let tree = db.open_tree("outbox").unwrap();
    let mut plain = Vec::with_capacity(n);
    for i in 0..n {
        let a = alert(i);
        let t = Instant::now();
        tree.insert(a.event_id.as_bytes(), a.record.as_bytes())
            .unwrap();
        db.flush().unwrap();
        plain.push(t.elapsed());
    }
    drop(db);

    // trailwatch: the raise (alert key + outbox entry in one transaction) and the durable flush.
    let state = State::open(&dir.path().join("state")).unwrap();
    let now = jiff::Timestamp::now();
    let mut durable = Vec::with_capacity(n);
    for i in 0..n {
        let a = alert(i);
        let t = Instant::now();
        state.raise(&a, vec!["hook".into()], now).unwrap();
        state.flush().unwrap();
        durable.push(t.elapsed());
    }
    let a = report("sled flush alone (not durable)", plain);
    let b = report("trailwatch durable flush", durable);
    println!("durable / sled-only throughput: {:.2}", b / a);
}
