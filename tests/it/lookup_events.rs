//! The `lookup_events` source against the wire-level fake CloudTrail, through the real SDK
//! client: late events, overlap, throttling, paging and pushdown, with the fake's clock driven
//! by the test (no sleeps).

use std::sync::Arc;

use crate::support::fake_cloudtrail::{record, tally, Behaviour, FakeCloudTrail, FakeEvent};
use crate::support::{at, default_judge, fresh_state, outbox_ids, MIN, T0};
use trailwatch::config::{Config, SourceText};
use trailwatch::poll::poll_stream;
use trailwatch::source::{open_streams, SourceSpec, Stream};

fn aws_env() {
    crate::support::fake_cloudtrail::test_aws_env();
}

async fn stream(fake: &FakeCloudTrail, extra: &str) -> Stream {
    aws_env();
    let src = SourceText {
        name: "test.toml".into(),
        text: format!(
            "[[sources]]\nname = \"lookup\"\ntype = \"lookup_events\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\nretry_initial = \"1ms\"\n{}\n",
            fake.url,
            if extra.contains("max_calls_per_second") {
                extra.to_string()
            } else {
                format!("max_calls_per_second = 200\n{extra}")
            }
        ),
    };
    let cfg = Config::parse(&src).unwrap();
    let spec = Arc::new(SourceSpec::parse(&cfg.sources[0], &src).unwrap());
    open_streams(&spec).await.unwrap().pop().unwrap()
}

fn noise(n: usize, from: i64, step: i64) -> Vec<FakeEvent> {
    (0..n)
        .map(|i| {
            record(
                &format!("noise-{i}"),
                "DescribeInstances",
                from + i as i64 * step,
                false,
            )
        })
        .collect()
}

#[tokio::test]
async fn an_event_visible_15_minutes_late_is_alerted_once() {
    let mut late = record("late-1", "CreateUser", T0 + MIN, false);
    late.visible_ms = T0 + 16 * MIN;
    let on_time = record("prompt-1", "DeleteUser", T0 + 2 * MIN, false);
    let fake = FakeCloudTrail::start(vec![late, on_time]);
    let s = stream(&fake, "pushdown = false").await;
    let (_dir, state) = fresh_state();
    let e = default_judge();
    let mut raised_at = Vec::new();
    // A poll every minute for 40 minutes; each re-reads 20 minutes behind its watermark.
    for m in 0..=40 {
        let now = T0 + m * MIN;
        fake.set_now(now);
        let rep = poll_stream(&s, &e, &state, at(now)).await.unwrap();
        if rep.raised > 0 {
            raised_at.push((m, rep.raised));
        }
    }
    assert_eq!(
        raised_at,
        [(2, 1), (16, 1)],
        "prompt at minute 2, late at minute 16"
    );
    let mut ids = outbox_ids(&state);
    ids.sort();
    assert_eq!(ids, ["late-1", "prompt-1"]);
}

#[tokio::test]
async fn an_overlap_full_of_seen_events_alerts_nothing_again() {
    let mut evs = noise(300, T0, 2_000);
    evs.extend((0..60).map(|i| record(&format!("cu-{i}"), "CreateUser", T0 + i * 10_000, false)));
    let fake = FakeCloudTrail::start(evs);
    let s = stream(&fake, "").await;
    let (_dir, state) = fresh_state();
    let e = default_judge();
    let now = T0 + 15 * MIN;
    let first = poll_stream(&s, &e, &state, at(now)).await.unwrap();
    assert_eq!(first.raised, 60);
    let second = poll_stream(&s, &e, &state, at(now + MIN)).await.unwrap();
    assert_eq!((second.raised, second.repeated), (0, 60));
    assert_eq!(state.outbox_len(), 60);
}

#[tokio::test]
async fn thirty_percent_throttled_leaves_no_gap() {
    let mut evs = noise(2_000, T0, 1_000);
    let truth: Vec<String> = (0..150).map(|i| format!("du-{i}")).collect();
    evs.extend(
        truth
            .iter()
            .enumerate()
            .map(|(i, id)| record(id, "DeleteUser", T0 + i as i64 * 13_000, false)),
    );
    let fake = FakeCloudTrail::start(evs);
    fake.set_behaviour(Behaviour {
        throttle_tenths: 3,
        ..Behaviour::default()
    });
    // Read everything (no pushdown) so the sweep has many pages to lose.
    let s = stream(&fake, "pushdown = false\noverlap = \"40m\"").await;
    let (_dir, state) = fresh_state();
    let rep = poll_stream(&s, &default_judge(), &state, at(T0 + 35 * MIN))
        .await
        .unwrap();
    let throttled = fake
        .counters()
        .throttled
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        throttled * 10 >= fake.calls() * 2,
        "about 30% throttled: {throttled} of {}",
        fake.calls()
    );
    assert!(rep.pages >= 43, "2150 events in pages of 50: {}", rep.pages);
    let mut ids = outbox_ids(&state);
    ids.sort();
    let mut want = truth.clone();
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(
        s.stats.throttled.load(std::sync::atomic::Ordering::SeqCst),
        throttled
    );
}

#[tokio::test]
async fn pushdown_asks_only_for_what_the_rules_pin() {
    let mut evs = noise(500, T0, 1_000);
    evs.push(record("root-1", "ConsoleLogin", T0 + 5_000, true));
    evs.push(record("cu-1", "CreateUser", T0 + 6_000, false));
    let fake = FakeCloudTrail::start(evs);
    let s = stream(&fake, "").await;
    let (_dir, state) = fresh_state();
    let rep = poll_stream(&s, &default_judge(), &state, at(T0 + 10 * MIN))
        .await
        .unwrap();
    assert_eq!(rep.raised, 2);
    let t = tally(&fake.lookups());
    assert_eq!(t.len(), 3, "{t:?}");
    for k in [
        "EventName=CreateUser",
        "EventName=DeleteUser",
        "Username=root",
    ] {
        assert_eq!(t.get(k), Some(&1), "{t:?}");
    }
    assert_eq!(fake.calls(), 3, "one page per lookup, no full read");
}

#[tokio::test]
async fn a_sweep_pages_to_the_end_with_fixed_times() {
    let evs: Vec<FakeEvent> = (0..120)
        .map(|i| record(&format!("cu-{i:03}"), "CreateUser", T0 + i * 1_000, false))
        .collect();
    let fake = FakeCloudTrail::start(evs);
    let s = stream(&fake, "").await;
    let (_dir, state) = fresh_state();
    let rep = poll_stream(&s, &default_judge(), &state, at(T0 + 10 * MIN))
        .await
        .unwrap();
    assert_eq!(rep.raised, 120);
    assert_eq!(tally(&fake.lookups()).get("EventName=CreateUser"), Some(&3));
    // The outbox is oldest first.
    let ids = outbox_ids(&state);
    assert_eq!(ids.first().map(String::as_str), Some("cu-000"));
    assert_eq!(ids.last().map(String::as_str), Some("cu-119"));
}

#[tokio::test]
async fn the_rate_limiter_keeps_within_the_quota() {
    let evs: Vec<FakeEvent> = (0..160)
        .map(|i| {
            record(
                &format!("n-{i}"),
                "DescribeInstances",
                T0 + i * 1_000,
                false,
            )
        })
        .collect();
    let fake = FakeCloudTrail::start(evs);
    fake.set_behaviour(Behaviour {
        max_rate: 2.0,
        ..Behaviour::default()
    });
    let s = stream(&fake, "pushdown = false\nmax_calls_per_second = 2").await;
    let (_dir, state) = fresh_state();
    let rep = poll_stream(&s, &default_judge(), &state, at(T0 + 10 * MIN))
        .await
        .unwrap();
    assert_eq!(rep.pages, 4);
    assert_eq!(
        fake.counters()
            .throttled
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}
