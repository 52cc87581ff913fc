//! The `cloudwatch_logs` source against a real moto server, filled through the real API with
//! CloudTrail records and read by the real SDK client: paging past a full page, windows, the
//! server-side filter pattern (which moto ignores for JSON patterns, so the local re-check is
//! what decides), and `backfill` through the binary.

use std::sync::Arc;

use crate::support::fake_cloudtrail::record;
use crate::support::servers::moto;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use jiff::Timestamp;
use trailwatch::config::{Config, SourceText};
use trailwatch::poll::poll_stream;
use trailwatch::poll::Judge;
use trailwatch::rules::Evaluator;
use trailwatch::rules::RuleSet;
use trailwatch::source::{open_streams, Query, SourceSpec};
use trailwatch::state::State;

const GROUP: &str = "aws-cloudtrail-logs-111122223333";

fn aws_env() {
    crate::support::fake_cloudtrail::test_aws_env();
}

/// Creates the trail's log group and puts `noise` ordinary events and the matching ones,
/// spread over the last 50 minutes. Returns the matching event IDs.
async fn fill(url: &str, noise: usize) -> Vec<String> {
    aws_env();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("ap-northeast-2"))
        .endpoint_url(url)
        .load()
        .await;
    let c = aws_sdk_cloudwatchlogs::Client::new(&conf);
    c.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    let stream = "111122223333_CloudTrail_us-east-1";
    c.create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
    let now = Timestamp::now().as_millisecond();
    let start = now - 50 * 60_000;
    let mut evs: Vec<(i64, String)> = (0..noise)
        .map(|i| {
            let t = start + (i as i64 * 2_900_000 / noise as i64);
            (
                t,
                record(&format!("n-{i}"), "DescribeInstances", t, false).record,
            )
        })
        .collect();
    let mut truth = Vec::new();
    for i in 0..6 {
        let t = start + i * 8 * 60_000 + 500;
        let id = format!("match-{i}");
        let rec = match i % 3 {
            0 => record(&id, "CreateUser", t, false),
            1 => record(&id, "DeleteUser", t, false),
            _ => record(&id, "ConsoleLogin", t, true),
        };
        evs.push((t, rec.record));
        truth.push(id);
    }
    evs.sort();
    for chunk in evs.chunks(5_000) {
        let batch: Vec<InputLogEvent> = chunk
            .iter()
            .map(|(t, m)| {
                InputLogEvent::builder()
                    .timestamp(*t)
                    .message(m)
                    .build()
                    .unwrap()
            })
            .collect();
        c.put_log_events()
            .log_group_name(GROUP)
            .log_stream_name(stream)
            .set_log_events(Some(batch))
            .send()
            .await
            .unwrap();
    }
    truth
}

fn config_text(url: &str, state: &str) -> String {
    format!(
        "state_dir = \"{state}\"\n[[sources]]\nname = \"trail-logs\"\ntype = \"cloudwatch_logs\"\nregion = \"ap-northeast-2\"\nlog_group = \"{GROUP}\"\nlog_stream_prefix = \"111122223333_CloudTrail_\"\nendpoint_url = \"{url}\"\noverlap = \"60m\"\nmax_window = \"90m\"\nretry_initial = \"1ms\"\n"
    )
}

#[tokio::test]
async fn polling_moto_pages_past_a_full_page_and_alerts_each_match_once() {
    let (_moto, url) = moto();
    let mut truth = fill(&url, 10_500).await;
    let src = SourceText {
        name: "c.toml".into(),
        text: config_text(&url, "unused"),
    };
    let cfg = Config::parse(&src).unwrap();
    let spec = Arc::new(SourceSpec::parse(&cfg.sources[0], &src).unwrap());
    let stream = open_streams(&spec).await.unwrap().pop().unwrap();
    let mut rules = RuleSet::default();
    rules.add_spec("default").unwrap();
    // The plan sends the rules as one server-side pattern.
    match &stream.queries(&rules)[..] {
        [Query::Pattern(p)] => assert!(p.contains("$.eventName = \"CreateUser\""), "{p}"),
        q => panic!("expected a filter pattern, got {q:?}"),
    }
    let eval = Judge::every_sink(Evaluator::new(rules), &["s"]);
    let dir = tempfile::tempdir().unwrap();
    let state = State::open(dir.path()).unwrap();
    let rep = poll_stream(&stream, &eval, &state, Timestamp::now())
        .await
        .unwrap();
    // moto returns every event for a JSON pattern: 10,506 records, more than one page holds.
    assert_eq!(rep.records, 10_506);
    assert_eq!(rep.windows, 1);
    assert!(
        rep.pages >= 2,
        "10,506 events need a second page: {}",
        rep.pages
    );
    let mut got: Vec<String> = state
        .outbox()
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.alert.event_id)
        .collect();
    got.sort();
    truth.sort();
    assert_eq!(got, truth);
    let again = poll_stream(&stream, &eval, &state, Timestamp::now())
        .await
        .unwrap();
    assert_eq!((again.raised, again.repeated), (0, 6));
}

#[tokio::test]
async fn backfill_from_moto_prints_the_matches_and_moves_no_watermark() {
    let (_moto, url) = moto();
    let mut truth = fill(&url, 200).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        config_text(&url, &format!("{}/state", dir.path().display())),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args([
            "backfill",
            "--since",
            "2h",
            "--source",
            "trail-logs",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut got: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["eventID"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    got.sort();
    truth.sort();
    assert_eq!(got, truth);
    assert!(String::from_utf8_lossy(&o.stderr).contains("backfill: 6 matches in 206 records"));
    assert!(
        !dir.path().join("state").exists(),
        "backfill without --notify writes no state"
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(["backfill", "--since", "2h", "--output", "table", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.starts_with("EVENT TIME"), "{table}");
    assert_eq!(table.lines().count(), 7);
    assert!(table.contains("root-usage") && table.contains("arn:aws:iam::111122223333:root"));
}

#[tokio::test]
async fn backfill_notify_sends_once_and_never_again() {
    let (_moto, url) = moto();
    fill(&url, 50).await;
    let r = crate::support::servers::Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let text = format!(
        "{}\n[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{}\"\n",
        config_text(&url, &format!("{}/state", dir.path().display()))
            .replace("state_dir", "group_window = \"0s\"\nstate_dir"),
        r.url
    );
    std::fs::write(&cfg, text).unwrap();
    let run = || {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_trailwatch"))
            .args(["backfill", "--since", "2h", "--notify", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let first = run();
    assert!(first.contains("6 new alerts"), "{first}");
    assert_eq!(r.received().len(), 6);
    let second = run();
    assert!(
        second.contains("0 new alerts queued and delivered, 6 already raised before"),
        "{second}"
    );
    assert_eq!(r.received().len(), 6, "nothing sent twice");
}

#[tokio::test]
async fn backfill_finds_an_event_delivered_after_its_window() {
    let (_moto, url) = moto();
    fill(&url, 20).await;
    // A CreateUser whose eventTime is 70 minutes ago, delivered (its log timestamp) 10 minutes
    // ago: inside `--since 2h --until 1h` by eventTime, after it by delivery time.
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("ap-northeast-2"))
        .endpoint_url(&url)
        .load()
        .await;
    let c = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let now = Timestamp::now().as_millisecond();
    let rec = record("delivered-late", "CreateUser", now - 70 * 60_000, false).record;
    c.put_log_events()
        .log_group_name(GROUP)
        .log_stream_name("111122223333_CloudTrail_us-east-1")
        .log_events(
            InputLogEvent::builder()
                .timestamp(now - 10 * 60_000)
                .message(rec)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        config_text(&url, &format!("{}/state", dir.path().display())),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(["backfill", "--since", "2h", "--until", "1h", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["eventID"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        ids,
        ["delivered-late"],
        "fill()'s events are all in the last 50 minutes"
    );
}
