//! The trail bucket under hostile and broken objects, against a real moto server (S3, SQS):
//! one object named with a future time does not blind its account and region; one that cannot
//! be read (a refusing bucket policy or KMS key, played by the S3 gate) is set aside while the
//! files after it are read, and read once it can be; a notification of an object that is gone
//! is deleted, naming key and message; a restart does not leave a notification in flight.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use trailwatch::source::s3::layout::{key_for, Place};

use crate::support::fake_cloudtrail::record;
use crate::support::moto_aws::{self, gz, put};
use crate::support::servers::{moto, Receiver};
use crate::support::{aws_bin, rt, signal, spawn_run, text};

const BUCKET: &str = "hostile-trail";
const ACCOUNT: &str = "111122223333";

fn place() -> Place {
    Place {
        org: None,
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
    }
}

/// A delivery file with one CreateUser record, gzipped.
fn creation(id: &str) -> Vec<u8> {
    let rec = record(id, "CreateUser", Timestamp::now().as_millisecond(), false).record;
    gz(format!("{{\"Records\":[{rec}]}}").as_bytes())
}

fn minutes_ago(m: i64) -> Timestamp {
    Timestamp::now() - jiff::SignedDuration::from_mins(m)
}

async fn bucket(url: &str) -> aws_sdk_s3::Client {
    let s3 = moto_aws::s3(&moto_aws::conf(url, "us-east-1").await);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    s3
}

fn config(dir: &Path, s3_url: &str, hook: &str, extra: &str) -> PathBuf {
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}/state\"\ngroup_window = \"0s\"\nlanguage = \"en\"\n\n[[sources]]\nname = \"trail\"\ntype = \"s3\"\nbucket = \"{BUCKET}\"\nregion = \"us-east-1\"\nendpoint_url = \"{s3_url}\"\nretry_attempts = 0\n{extra}\n\n[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{hook}\"\n",
            dir.display()
        ),
    )
    .unwrap();
    cfg
}

fn once(cfg: &Path) -> Output {
    aws_bin()
        .args(["run", "--once", "--config"])
        .arg(cfg)
        .output()
        .unwrap()
}

fn has_id(r: &Receiver, id: &str) -> bool {
    r.event_ids().iter().any(|i| i == id)
}

fn bodies(r: &Receiver) -> String {
    r.received().into_iter().map(|g| g.body).collect()
}

#[test]
fn an_object_named_in_the_future_is_read_said_and_blinds_nothing() {
    let (_moto, url) = moto();
    let rt = rt();
    let s3 = rt.block_on(bucket(&url));
    let p = place();
    // Today's folder, named 2099: its name's time must not become the watermark.
    let forged = key_for("", &p, minutes_ago(3), "forged").replace(
        &minutes_ago(3).strftime("_%Y%m%dT%H%MZ_").to_string(),
        "_20991231T2359Z_",
    );
    assert!(forged.contains("_20991231T2359Z_"), "{forged}");
    rt.block_on(async {
        put(
            &s3,
            BUCKET,
            &key_for("", &p, minutes_ago(5), "a"),
            creation("before"),
        )
        .await;
        put(&s3, BUCKET, &forged, creation("from-the-future")).await;
    });
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &url, &r.url, "");
    let o = once(&cfg);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    assert!(
        has_id(&r, "before") && has_id(&r, "from-the-future"),
        "{log}"
    );
    assert!(
        log.contains(&forged) && log.contains("its name is not trusted"),
        "the key is said: {log}"
    );
    assert!(
        bodies(&r).contains("named suspiciously"),
        "a health alert names it: {}",
        bodies(&r)
    );
    // A file delivered now is still read: the stream was not blinded.
    rt.block_on(put(
        &s3,
        BUCKET,
        &key_for("", &p, minutes_ago(1), "b"),
        creation("after"),
    ));
    let o = once(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    assert!(has_id(&r, "after"), "{}", text(&o));
}

#[test]
fn an_unreadable_object_is_set_aside_the_rest_read_and_it_is_read_once_it_can_be() {
    let (_moto, url) = moto();
    let (_gate, gate) = moto_aws::s3_gate(&url, 0);
    let rt = rt();
    let s3 = rt.block_on(bucket(&url));
    let p = place();
    let refused = key_for("", &p, minutes_ago(4), "b");
    rt.block_on(async {
        put(
            &s3,
            BUCKET,
            &key_for("", &p, minutes_ago(6), "a"),
            creation("first"),
        )
        .await;
        put(&s3, BUCKET, &refused, creation("refused")).await;
        put(
            &s3,
            BUCKET,
            &key_for("", &p, minutes_ago(2), "c"),
            creation("third"),
        )
        .await;
        moto_aws::gate_refuse(&gate, Some(&refused)).await;
    });
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let extra = "unreadable_retry = \"1s\"\nlist_interval = \"1s\"";
    let cfg = config(dir.path(), &gate, &r.url, extra);
    let (mut d, mut logs) = spawn_run(&cfg);
    // The files before and after it are read; it is said, and alerted once.
    let both = |r: &Receiver| has_id(r, "first") && has_id(r, "third");
    assert!(r.wait_for(both, Duration::from_secs(30)), "{}", logs.seen);
    logs.until("is set aside and tried again", Duration::from_secs(10));
    let alerted = |r: &Receiver| bodies(r).contains("cannot read an object");
    assert!(
        r.wait_for(alerted, Duration::from_secs(10)),
        "{}",
        bodies(&r)
    );
    assert!(!has_id(&r, "refused"));
    // Readable again: it is read at its next try.
    rt.block_on(moto_aws::gate_refuse(&gate, None));
    let read = |r: &Receiver| has_id(r, "refused");
    assert!(r.wait_for(read, Duration::from_secs(30)), "{}", logs.seen);
    logs.until("can be read now", Duration::from_secs(10));
    signal(&d.0, 15);
    assert!(d.0.wait().unwrap().success());
    let unreadable_alerts = r
        .received()
        .iter()
        .filter(|g| g.body.contains("cannot read an object"))
        .count();
    assert_eq!(unreadable_alerts, 1, "alerted once: {}", bodies(&r));
    for id in ["first", "third", "refused"] {
        assert_eq!(
            r.event_ids().iter().filter(|i| *i == id).count(),
            1,
            "{id} once"
        );
    }
}

#[test]
fn a_set_aside_object_is_listed_by_state_show_and_check() {
    let (_moto, url) = moto();
    let (_gate, gate) = moto_aws::s3_gate(&url, 0);
    let rt = rt();
    let s3 = rt.block_on(bucket(&url));
    let refused = key_for("", &place(), minutes_ago(4), "x");
    rt.block_on(async {
        put(&s3, BUCKET, &refused, creation("refused")).await;
        moto_aws::gate_refuse(&gate, Some(&refused)).await;
    });
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &gate, &r.url, "");
    assert!(once(&cfg).status.success());
    let o = aws_bin()
        .args(["state", "show", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(
        out.contains("set aside: 1") && out.contains(&refused),
        "{out}"
    );
    assert!(out.contains("AccessDenied"), "AWS's own cause: {out}");
    let o = aws_bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(
        out.contains(&refused) && out.contains("set aside"),
        "check says it: {out}"
    );
}

#[test]
fn a_notification_of_an_object_that_is_gone_is_deleted_naming_key_and_message() {
    let (_moto, url) = moto();
    let rt = rt();
    let queue_url = rt.block_on(async {
        bucket(&url).await;
        moto_aws::queue(&url, "trail-events").await.0
    });
    let key = key_for("", &place(), minutes_ago(1), "vanished");
    let body = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 10}}}]})
    .to_string();
    rt.block_on(moto_aws::send(&url, &queue_url, &body));
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("queue_url = \"{queue_url}\"\nlist_interval = \"1h\"");
    let cfg = config(dir.path(), &url, &r.url, &extra);
    let (mut d, mut logs) = spawn_run(&cfg);
    let line = logs.until("which is gone", Duration::from_secs(30));
    assert!(line.contains(&key) && line.contains("message "), "{line}");
    let drained = || rt.block_on(moto_aws::waiting(&url, &queue_url)) == 0;
    assert!(
        crate::support::eventually(drained, Duration::from_secs(10)),
        "the message stayed: {}",
        logs.seen
    );
    signal(&d.0, 15);
    assert!(d.0.wait().unwrap().success());
}

#[test]
fn a_run_once_deals_with_the_notification_the_listing_also_reads() {
    // The listing and the queue read the same object at start (a restart, cron's `--once`):
    // the notification is deleted, never left in flight for its visibility timeout.
    let (_moto, url) = moto();
    let rt = rt();
    let (queue_url, s3) = rt.block_on(async {
        let s3 = bucket(&url).await;
        let (q, arn) = moto_aws::queue(&url, "trail-events").await;
        moto_aws::notify(&s3, BUCKET, &arn).await;
        (q, s3)
    });
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("queue_url = \"{queue_url}\"");
    let cfg = config(dir.path(), &url, &r.url, &extra);
    for i in 0..3 {
        let id = format!("while-down-{i}");
        let key = key_for("", &place(), minutes_ago(0), &id);
        rt.block_on(put(&s3, BUCKET, &key, creation(&id)));
        let o = once(&cfg);
        assert!(o.status.success(), "{}", text(&o));
        assert!(has_id(&r, &id), "{}", text(&o));
        let left = rt.block_on(moto_aws::waiting(&url, &queue_url));
        assert_eq!(
            left,
            0,
            "the notification stayed in the queue: {}",
            text(&o)
        );
    }
    let mut ids = r.event_ids();
    ids.sort();
    assert_eq!(
        ids,
        ["while-down-0", "while-down-1", "while-down-2"],
        "each once"
    );
}

#[test]
fn a_notification_held_by_a_process_killed_while_reading_comes_back_within_a_minute() {
    // A process killed in the middle of an object held its notification: hidden only for a
    // short visibility timeout (kept while reading), it comes back, not after five minutes.
    let (_moto, url) = moto();
    let (_gate, gate) = moto_aws::s3_gate(&url, 0);
    let rt = rt();
    let (queue_url, s3) = rt.block_on(async {
        let s3 = bucket(&url).await;
        let (q, arn) = moto_aws::queue(&url, "trail-events").await;
        moto_aws::notify(&s3, BUCKET, &arn).await;
        (q, s3)
    });
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("queue_url = \"{queue_url}\"\nlist_interval = \"1h\"");
    let cfg = config(dir.path(), &gate, &r.url, &extra);
    let (mut d, mut logs) = spawn_run(&cfg);
    logs.until("trailwatch running", Duration::from_secs(30));
    let key = key_for("", &place(), minutes_ago(0), "killed-mid-read");
    rt.block_on(moto_aws::gate_slow(&gate, Some(&key)));
    rt.block_on(put(&s3, BUCKET, &key, creation("killed-mid-read")));
    let started = || {
        let c = rt.block_on(moto_aws::gate_counts(&gate));
        c[format!("started {key}")].as_u64().unwrap_or(0) > 0
    };
    assert!(
        crate::support::eventually(started, Duration::from_secs(30)),
        "{}",
        logs.rest_now()
    );
    signal(&d.0, 9);
    d.0.wait().unwrap();
    rt.block_on(moto_aws::gate_slow(&gate, None));
    // Its notification is held by the dead process: in flight, not visible (S3's test event
    // may be in flight too, with another of its receives).
    let visible = rt.block_on(moto_aws::visible_bodies(&url, &queue_url));
    assert!(
        !visible.iter().any(|b| b.contains(&key)),
        "the notification is not held: {visible:?}"
    );
    assert!(
        rt.block_on(moto_aws::in_flight(&url, &queue_url)) >= 1,
        "held by the dead process"
    );
    let t = std::time::Instant::now();
    let (mut d, mut logs) = spawn_run(&cfg);
    // The listing reads the object at once; the notification comes back once the dead
    // process's short hold ends (within 30 s of its last renewal), and is deleted.
    let got = |r: &Receiver| has_id(r, "killed-mid-read");
    assert!(
        r.wait_for(got, Duration::from_secs(20)),
        "{}",
        logs.rest_now()
    );
    let drained = || rt.block_on(moto_aws::waiting(&url, &queue_url)) == 0;
    assert!(
        crate::support::eventually(drained, Duration::from_secs(45)),
        "the notification is still held after {:?}: {}",
        t.elapsed(),
        logs.rest_now()
    );
    signal(&d.0, 15);
    assert!(d.0.wait().unwrap().success());
}
