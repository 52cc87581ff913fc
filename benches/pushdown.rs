//! API calls with and without pushdown, on a simulated busy account: 50 events/s for a day
//! (4.32 million events) served by the wire-level fake CloudTrail, 20 of them matching the
//! default rules. Measures the daemon's polls (every 60 s, 20-minute overlap), a backfill of
//! the whole day, and the full daemon plan: every enabled region (17), root under its alias,
//! and the late sweep every 10 minutes, all through the real SDK client. The client-side limiter is lifted so the run is
//! quick; wall time at the real 2 calls/s is the call count divided by 2.
//!
//! Run: cargo bench --bench pushdown

#[path = "../tests/it/support/fake_cloudtrail.rs"]
#[allow(dead_code)]
mod fake_cloudtrail;

use std::sync::Arc;
use std::time::Instant;

use fake_cloudtrail::{FakeAccount, FakeCloudTrail, Synthetic};
use jiff::Timestamp;
use trailwatch::config::{Config, SourceText};
use trailwatch::poll::Judge;
use trailwatch::poll::{poll_stream, read_window, sweep_stream, PollReport};
use trailwatch::rules::Evaluator;
use trailwatch::rules::RuleSet;
use trailwatch::source::{open_source, open_streams, SourceSpec, Stream, Window};
use trailwatch::state::State;

const T0: i64 = 1_795_305_600_000;
const DAY: i64 = 86_400_000;

fn spec(url: &str, extra: &str) -> Arc<SourceSpec> {
    fake_cloudtrail::test_aws_env();
    let src = SourceText {
        name: "bench.toml".into(),
        text: format!(
            "[[sources]]\nname = \"lookup\"\ntype = \"lookup_events\"\nendpoint_url = \"{url}\"\nmax_calls_per_second = 100000\n{extra}\n"
        ),
    };
    let cfg = Config::parse(&src).unwrap();
    Arc::new(SourceSpec::parse(&cfg.sources[0], &src).unwrap())
}

async fn stream(url: &str, pushdown: bool) -> Stream {
    let extra = format!("regions = [\"us-east-1\"]\npushdown = {pushdown}");
    open_streams(&spec(url, &extra))
        .await
        .unwrap()
        .pop()
        .unwrap()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap()
}

#[tokio::main]
async fn main() {
    let per_second = 50;
    let total = 86_400 * per_second;
    // 20 matching events, spread over the day: 8 CreateUser, 8 DeleteUser, 4 root sign-ins.
    let matching: Vec<(i64, String, bool)> = (0..20)
        .map(|k| {
            let idx = 1_000 + k * (total - 2_000) / 20;
            let (name, root) = match k % 5 {
                0 | 1 => ("CreateUser", false),
                2 | 3 => ("DeleteUser", false),
                _ => ("ConsoleLogin", true),
            };
            (idx, name.to_string(), root)
        })
        .collect();
    let fake = FakeCloudTrail::synthetic(Synthetic {
        start_ms: T0,
        per_second,
        total,
        matching: matching.clone(),
    });
    let mut rules = RuleSet::default();
    rules.add_spec("default").unwrap();
    let eval = Judge::every_sink(Evaluator::new(rules), &["s"]);
    println!(
        "account: {per_second} events/s for a day = {total} events, {} matching the default rules",
        matching.len()
    );

    // 1. The daemon with pushdown: a poll every 60 s for the whole day.
    let s = stream(&fake.url, true).await;
    let dir = tempfile::tempdir().unwrap();
    let state = State::open(dir.path()).unwrap();
    let before = fake.calls();
    let t = Instant::now();
    let mut raised = 0;
    let polls = DAY / 60_000;
    for k in 1..=polls {
        let r = poll_stream(&s, &eval, &state, at(T0 + k * 60_000))
            .await
            .unwrap();
        raised += r.raised;
    }
    let calls = fake.calls() - before;
    println!(
        "daemon, pushdown:    {polls} polls, {calls} calls = {:.2} per poll, {calls} per day ({:.0} s of calls at 2/s); alerts {raised} (truth 20); {:.1} s here",
        calls as f64 / polls as f64,
        calls as f64 / 2.0,
        t.elapsed().as_secs_f64()
    );
    assert_eq!(raised, 20);

    // 2. The daemon without pushdown: a few polls of a 21-minute window, extrapolated per day.
    let s = stream(&fake.url, false).await;
    let dir = tempfile::tempdir().unwrap();
    let state = State::open(dir.path()).unwrap();
    let sample = 5;
    let start = T0 + DAY / 2;
    // The first poll of an empty state reads `overlap`; later ones overlap + 60 s.
    poll_stream(&s, &eval, &state, at(start)).await.unwrap();
    let before = fake.calls();
    let t = Instant::now();
    for k in 1..=sample {
        poll_stream(&s, &eval, &state, at(start + k * 60_000))
            .await
            .unwrap();
    }
    let per_poll = (fake.calls() - before) as f64 / sample as f64;
    println!(
        "daemon, no pushdown: {per_poll:.0} calls per poll, {:.0} per day ({:.1} days of calls at 2/s per day of traffic: cannot keep up); {:.2} s per poll here",
        per_poll * polls as f64,
        per_poll * polls as f64 / 2.0 / 86_400.0,
        t.elapsed().as_secs_f64() / sample as f64
    );

    // 3. Backfill of the day, as `trailwatch backfill` reads it.
    for pushdown in [true, false] {
        let s = stream(&fake.url, pushdown).await;
        let queries = s.queries(eval.eval.rules());
        let max = if pushdown { 90 * DAY } else { 3_600_000 };
        let before = fake.calls();
        let t = Instant::now();
        let mut rep = PollReport::default();
        let mut ids = std::collections::BTreeSet::new();
        let windows = Window::split(
            at(T0),
            at(T0 + DAY),
            std::time::Duration::from_millis(max as u64),
        );
        for w in &windows {
            let found = read_window(&s, w, &queries, &eval.eval, &mut rep)
                .await
                .unwrap();
            ids.extend(found.alerts.into_iter().map(|a| a.event_id));
        }
        let calls = fake.calls() - before;
        println!(
            "backfill, {}: {calls} calls = {} at 2/s; {} records read; matches {} (truth 20); {:.1} s here",
            if pushdown { "pushdown   " } else { "no pushdown" },
            humantime::format_duration(std::time::Duration::from_millis(calls * 500)),
            rep.records,
            ids.len(),
            t.elapsed().as_secs_f64()
        );
        assert_eq!(ids.len(), 20);
    }

    // 4. The whole daemon plan for a day: every enabled region, root under its alias, the sweep.
    fake.set_account(FakeAccount {
        alias: Some("acme-prod".into()),
        ..FakeAccount::default()
    });
    let opened = open_source(&spec(&fake.url, ""), &std::collections::BTreeMap::new())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = State::open(dir.path()).unwrap();
    let before = fake.calls();
    let skip = fake.region_lookups().len();
    let t = Instant::now();
    let (mut poll_calls, mut sweep_calls, mut raised) = (0, 0, 0);
    for k in 1..=polls {
        let now = at(T0 + k * 60_000);
        let c = fake.calls();
        for s in &opened.streams {
            raised += poll_stream(s, &eval, &state, now).await.unwrap().raised;
        }
        poll_calls += fake.calls() - c;
        if k % 10 == 0 {
            let c = fake.calls();
            for s in &opened.streams {
                raised += sweep_stream(s, &eval, &state, now).await.unwrap().raised;
            }
            sweep_calls += fake.calls() - c;
        }
    }
    let calls = fake.calls() - before;
    println!(
        "daemon, {} regions, alias, sweep every 10 min: {:.2} calls per poll ({} per region in us-east-1, {} elsewhere), {poll_calls} per day for polls + {sweep_calls} for the sweep = {calls} per day; busiest region {:.3} calls/s; alerts {raised} (truth 20); {:.1} s here",
        opened.streams.len(),
        poll_calls as f64 / polls as f64,
        opened.streams.iter().find(|s| s.name == "us-east-1").map(|s| s.queries(eval.eval.rules()).len()).unwrap_or(0),
        opened.streams.iter().find(|s| s.name != "us-east-1").map(|s| s.queries(eval.eval.rules()).len()).unwrap_or(0),
        tally_max(&fake, skip) as f64 / 86_400.0,
        t.elapsed().as_secs_f64()
    );
    assert_eq!(raised, 20);
}

/// The most calls any one region got after the first `skip` (the quota is per region).
fn tally_max(fake: &FakeCloudTrail, skip: usize) -> usize {
    let mut per: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (r, _) in fake.region_lookups().into_iter().skip(skip) {
        *per.entry(r).or_default() += 1;
    }
    per.into_values().max().unwrap_or(0)
}
