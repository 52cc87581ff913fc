//! Seconds from an event becoming readable to its alert reaching a webhook, per source: one
//! release daemon reads a `lookup_events` region (the wire-level fake CloudTrail, events
//! visible at once), a `cloudwatch_logs` group (a real moto server), an `s3` bucket whose
//! objects are announced on an SQS queue (moto) and a `files` folder, and
//! sends to a local receiver that stamps each arrival. Events are put in one at a time at
//! moments spread over the poll cycle (12 per source); each latency is the arrival minus the
//! moment the event became readable (the put answered, the object stored, the file renamed
//! into the folder).
//!
//! Run: cargo build --release && cargo bench --bench latency   (LATENCY_EVENTS=12, POLL=5,
//! TRAILWATCH_BIN=path of another build to compare)

#[path = "../tests/it/support/fake_cloudtrail.rs"]
#[allow(dead_code)]
mod fake_cloudtrail;
#[path = "../tests/it/support/moto_aws.rs"]
#[allow(dead_code)]
mod moto_aws;
#[path = "../tests/it/support/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_cloudtrail::{record, FakeCloudTrail};

/// The alert of `id` in what the receiver got, and when it came.
fn arrival(hook: &servers::Receiver, id: &str, deadline: Duration) -> Option<Instant> {
    hook.wait_for(
        |r| r.received().iter().any(|g| g.body.contains(id)),
        deadline,
    );
    hook.received()
        .iter()
        .find(|g| g.body.contains(id))
        .map(|g| g.at)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("LATENCY_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let poll: u64 = std::env::var("POLL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    // TRAILWATCH_BIN: another build to compare (a copy of an earlier one).
    let bin = std::env::var("TRAILWATCH_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/trailwatch").to_string()
    });
    assert!(
        std::path::Path::new(&bin).exists(),
        "build the release binary first"
    );
    fake_cloudtrail::test_aws_env();
    let fake = FakeCloudTrail::start(Vec::new());
    let (_moto, moto_url) = servers::moto();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto_url)
        .load()
        .await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    logs.create_log_group()
        .log_group_name("trail")
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name("trail")
        .log_stream_name("111122223333_CloudTrail_us-east-1")
        .send()
        .await
        .unwrap();
    let s3 = moto_aws::s3(&moto_aws::conf(&moto_url, "us-east-1").await);
    s3.create_bucket()
        .bucket("trail-bucket")
        .send()
        .await
        .unwrap();
    let (queue, arn) = moto_aws::queue(&moto_url, "trail-events").await;
    moto_aws::notify(&s3, "trail-bucket", &arn).await;
    let hook = servers::Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("trail");
    std::fs::create_dir_all(&folder).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{d}/state\"\ngroup_window = \"0s\"\nlanguage = \"en\"\n\
             [[sources]]\nname = \"lookup\"\ntype = \"lookup_events\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{ct}\"\npoll_interval = \"{poll}s\"\n\n\
             [[sources]]\nname = \"logs\"\ntype = \"cloudwatch_logs\"\nregion = \"us-east-1\"\nlog_group = \"trail\"\nendpoint_url = \"{moto_url}\"\npoll_interval = \"{poll}s\"\n\n\
             [[sources]]\nname = \"bucket\"\ntype = \"s3\"\nbucket = \"trail-bucket\"\nregion = \"us-east-1\"\nendpoint_url = \"{moto_url}\"\nqueue_url = \"{queue}\"\nlist_interval = \"1h\"\nverify_digests = false\n\n\
             [[sources]]\nname = \"files\"\ntype = \"files\"\npath = \"{d}/trail\"\npoll_interval = \"1s\"\n\n\
             [[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}\"\nmax_per_second = 0\nstorm_after = 0\n",
            d = dir.path().display(),
            ct = fake.url,
            hook = hook.url,
        ),
    )
    .unwrap();
    let mut daemon = servers::Proc(
        Command::new(&bin)
            .args(["run", "--config"])
            .arg(&cfg)
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Every stream polled once: the events below are new to a running daemon.
    std::thread::sleep(Duration::from_secs(poll + 2));
    let mut rows = Vec::new();
    for source in ["lookup", "logs", "bucket", "files"] {
        let mut took = Vec::new();
        for i in 0..n {
            // Moments spread over the poll cycle (a fixed, uneven step).
            std::thread::sleep(Duration::from_millis(
                1_000 + (i as u64 * 1_370) % (poll * 1_000),
            ));
            let id = format!("{source}-{i}-{}", std::process::id());
            let now = jiff::Timestamp::now().as_millisecond();
            let ev = record(&id, "CreateUser", now, false);
            let readable = match source {
                "lookup" => {
                    fake.add(ev);
                    Instant::now()
                }
                "logs" => {
                    logs.put_log_events()
                        .log_group_name("trail")
                        .log_stream_name("111122223333_CloudTrail_us-east-1")
                        .log_events(
                            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                                .timestamp(now)
                                .message(ev.record.clone())
                                .build()
                                .unwrap(),
                        )
                        .send()
                        .await
                        .unwrap();
                    Instant::now()
                }
                "bucket" => {
                    use trailwatch::source::s3::layout::{key_for, Place};
                    let place = Place {
                        org: None,
                        account: "111122223333".into(),
                        region: "us-east-1".into(),
                    };
                    let key = key_for("", &place, jiff::Timestamp::now(), &id);
                    let body = moto_aws::gz(format!("{{\"Records\":[{}]}}", ev.record).as_bytes());
                    moto_aws::put(&s3, "trail-bucket", &key, body).await;
                    Instant::now()
                }
                _ => {
                    let tmp = dir.path().join(format!("{id}.tmp"));
                    std::fs::write(&tmp, format!("{{\"Records\":[{}]}}", ev.record)).unwrap();
                    std::fs::rename(&tmp, folder.join(format!("{id}.json"))).unwrap();
                    Instant::now()
                }
            };
            let at = arrival(&hook, &id, Duration::from_secs(60))
                .unwrap_or_else(|| panic!("{id}: no alert within 60 s"));
            took.push(at.saturating_duration_since(readable).as_secs_f64());
        }
        let max = took.iter().copied().fold(0.0, f64::max);
        rows.push((source, median(&mut took), max));
    }
    let _ = daemon.0.kill();
    println!("| source (poll) | median | max | events |");
    println!("|---|---|---|---|");
    for (source, med, max) in rows {
        let p = match source {
            "files" => "1 s".to_string(),
            "bucket" => "announced on SQS".to_string(),
            _ => format!("{poll} s"),
        };
        println!("| {source} ({p}) | {med:.2} s | {max:.2} s | {n} |");
    }
}
