//! The `s3` source and organizations against a real moto server (S3, SQS, Organizations, STS):
//! a bucket laid out as an organization trail (two accounts, gzipped delivery files holding the
//! real corpus records), a queue that the bucket notifies, and the binary reading them. Also a
//! `cloudwatch_logs` source over an organization's accounts, one of which refuses its role.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::fake_cloudtrail::record;
use crate::support::moto_aws::{self, gz, put};
use crate::support::servers::{moto, Proc, Receiver};
use crate::support::{aws_bin, rt, signal, Logs};
use jiff::Timestamp;
use serde_json::json;
use trailwatch::source::s3::layout::{key_for, Place};

const BUCKET: &str = "acme-cloudtrail";
const ORG: &str = "o-a1b2c3d4e5";
const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];

fn place(account: &str) -> Place {
    Place {
        org: Some(ORG.into()),
        account: account.into(),
        region: "us-east-1".into(),
    }
}

/// The corpus's delivery files, and the time each was delivered (from its name).
fn corpus_files() -> Vec<(PathBuf, Timestamp)> {
    let mut v: Vec<(PathBuf, Timestamp)> = std::fs::read_dir(crate::support::corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let stamp = name.split('_').nth(3).unwrap();
            let t = format!(
                "{}-{}-{}T{}:{}:00Z",
                &stamp[..4],
                &stamp[4..6],
                &stamp[6..8],
                &stamp[9..11],
                &stamp[11..13]
            );
            (p, t.parse().unwrap())
        })
        .collect();
    v.sort();
    v
}

/// The eventIDs of the corpus's IAM user creations and deletions (what the default pack
/// alerts on).
fn corpus_iam_ids() -> Vec<String> {
    let o = crate::support::run(&["scan", crate::support::corpus().to_str().unwrap()], None);
    let mut ids: Vec<String> = crate::support::matches(&o)
        .iter()
        .filter(|m| m["rule"] == "iam-user-lifecycle")
        .map(|m| m["eventID"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 8, "the corpus holds 8 IAM user changes");
    ids
}

/// A bucket holding the corpus as an organization trail of two accounts (files alternate);
/// `at(original)` says when each file is delivered.
async fn fill(url: &str, at: impl Fn(Timestamp) -> Timestamp) -> aws_sdk_s3::Client {
    let s3 = moto_aws::s3(&moto_aws::conf(url, "us-east-1").await);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    for (i, (path, t)) in corpus_files().into_iter().enumerate() {
        let key = key_for("", &place(ACCOUNTS[i % 2]), at(t), &format!("f{i:03}"));
        put(&s3, BUCKET, &key, gz(&std::fs::read(path).unwrap())).await;
    }
    // What is not a log file is left alone.
    let digest = format!(
        "AWSLogs/{ORG}/{}/CloudTrail-Digest/us-east-1/2023/07/10/x.json.gz",
        ACCOUNTS[0]
    );
    put(&s3, BUCKET, &digest, b"not a log".to_vec()).await;
    s3
}

/// A config with the s3 source (`extra` keys in it) and a Dooray sink.
fn config(dir: &Path, url: &str, hook: &str, extra: &str) -> PathBuf {
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}/state\"\ngroup_window = \"0s\"\nlanguage = \"en\"\n\n[[sources]]\nname = \"org-trail\"\ntype = \"s3\"\nbucket = \"{BUCKET}\"\nregion = \"us-east-1\"\nendpoint_url = \"{url}\"\n{extra}\n\n[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{hook}\"\n",
            dir.display()
        ),
    )
    .unwrap();
    cfg
}

fn ids_of(r: &Receiver, want: impl Fn(&str) -> bool) -> Vec<String> {
    let mut ids: Vec<String> = r.event_ids().into_iter().filter(|i| want(i)).collect();
    ids.sort();
    ids
}

/// A delivery file with one CreateUser record, gzipped.
fn one_creation(id: &str) -> Vec<u8> {
    let rec = record(id, "CreateUser", Timestamp::now().as_millisecond(), false).record;
    gz(format!("{{\"Records\":[{rec}]}}").as_bytes())
}

fn spawn(cfg: &Path) -> (Proc, Logs) {
    crate::support::fake_cloudtrail::test_aws_env();
    crate::support::spawn_run(cfg)
}

#[test]
fn an_organization_trail_gives_each_alert_once() {
    let (_moto, url) = moto();
    let now = Timestamp::now();
    // Delivered over the last 10 minutes, oldest first.
    let first = corpus_files()[0].1;
    let rt = rt();
    rt.block_on(fill(&url, |t| {
        now - jiff::SignedDuration::from_secs(600)
            + jiff::SignedDuration::from_secs(t.duration_since(first).as_secs() / 20)
    }));
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &url, &r.url, "");
    let o = aws_bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(ids_of(&r, |_| true), corpus_iam_ids(), "{err}");
    // Both accounts were read (the alerts' files alternate between them).
    let state = aws_bin()
        .args(["state", "show", "--json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let show: serde_json::Value = serde_json::from_slice(&state.stdout).unwrap();
    let streams: Vec<&str> = show["watermarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["stream"].as_str().unwrap())
        .collect();
    assert_eq!(
        streams,
        ["111122223333/us-east-1", "444455556666/us-east-1"]
    );
    // A second run reads nothing again and alerts nothing again.
    let o = aws_bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(r.received().len(), 8, "each alert once");
}

#[test]
fn a_file_listed_late_with_an_earlier_name_is_still_read() {
    let (_moto, url) = moto();
    let rt = rt();
    let s3 = rt.block_on(async {
        let s3 = moto_aws::s3(&moto_aws::conf(&url, "us-east-1").await);
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        s3
    });
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &url, &r.url, "");
    let now = Timestamp::now();
    let at = |min: i64| now - jiff::SignedDuration::from_mins(min);
    let p = place(ACCOUNTS[0]);
    rt.block_on(put(
        &s3,
        BUCKET,
        &key_for("", &p, at(1), "b"),
        one_creation("second"),
    ));
    let once = || {
        aws_bin()
            .args(["run", "--once", "--config"])
            .arg(&cfg)
            .output()
            .unwrap()
    };
    assert!(once().status.success());
    // A file named 6 minutes earlier than the last one read appears only now (two files of
    // one minute, or a slow upload): within `overlap`, it is read.
    rt.block_on(put(
        &s3,
        BUCKET,
        &key_for("", &p, at(7), "a"),
        one_creation("first"),
    ));
    let o = once();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ids_of(&r, |_| true), ["first", "second"]);
}

#[test]
fn a_notified_object_is_alerted_within_seconds_and_once_when_notified_twice() {
    let (_moto, url) = moto();
    let rt = rt();
    let (queue_url, arn) = rt.block_on(async {
        let s3 = moto_aws::s3(&moto_aws::conf(&url, "us-east-1").await);
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        let (q, arn) = moto_aws::queue(&url, "trail-events").await;
        moto_aws::notify(&s3, BUCKET, &arn).await;
        (q, arn)
    });
    let _ = arn;
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    // Listing once an hour: only the notification can bring the object in time.
    let extra = format!("queue_url = \"{queue_url}\"\nlist_interval = \"1h\"");
    let cfg = config(dir.path(), &url, &r.url, &extra);
    let (mut d, mut logs) = spawn(&cfg);
    logs.until("trailwatch running", Duration::from_secs(30));
    let key = key_for("", &place(ACCOUNTS[1]), Timestamp::now(), "new");
    let s3 = rt.block_on(async { moto_aws::s3(&moto_aws::conf(&url, "us-east-1").await) });
    let t = Instant::now();
    rt.block_on(put(&s3, BUCKET, &key, one_creation("notified-1")));
    let got = |r: &Receiver| r.event_ids().iter().any(|i| i == "notified-1");
    assert!(r.wait_for(got, Duration::from_secs(5)), "{}", logs.seen);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    // The same notification twice more (a redelivery): nothing new.
    let body = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 1}}}]})
    .to_string();
    rt.block_on(async {
        moto_aws::send(&url, &queue_url, &body).await;
        moto_aws::send(&url, &queue_url, &body).await;
    });
    let drained = || rt.block_on(moto_aws::waiting(&url, &queue_url)) == 0;
    assert!(
        crate::support::eventually(drained, Duration::from_secs(30)),
        "the queue was not drained: {}",
        logs.seen
    );
    signal(&d.0, 15);
    assert!(d.0.wait().unwrap().success());
    assert_eq!(ids_of(&r, |i| i == "notified-1").len(), 1, "alerted once");
}

#[test]
fn a_lost_notification_is_caught_by_the_listing() {
    let (_moto, url) = moto();
    let rt = rt();
    // A queue the bucket does not notify: the notification is lost.
    let (queue_url, s3) = rt.block_on(async {
        let s3 = moto_aws::s3(&moto_aws::conf(&url, "us-east-1").await);
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        (moto_aws::queue(&url, "trail-events").await.0, s3)
    });
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("queue_url = \"{queue_url}\"\nlist_interval = \"2s\"");
    let cfg = config(dir.path(), &url, &r.url, &extra);
    let (mut d, mut logs) = spawn(&cfg);
    logs.until("trailwatch running", Duration::from_secs(30));
    let key = key_for("", &place(ACCOUNTS[0]), Timestamp::now(), "lost");
    rt.block_on(put(&s3, BUCKET, &key, one_creation("listed-1")));
    let got = |r: &Receiver| r.event_ids().iter().any(|i| i == "listed-1");
    assert!(r.wait_for(got, Duration::from_secs(20)), "{}", logs.seen);
    signal(&d.0, 15);
    assert!(d.0.wait().unwrap().success());
}

#[test]
fn a_restart_in_the_middle_of_an_object_loses_and_repeats_nothing() {
    let (_moto, url) = moto();
    let rt = rt();
    // One big file: 60,000 records, a creation every 12,000 (alerts are raised every 10,000
    // records read, so the first is raised long before the file ends).
    let now = Timestamp::now().as_millisecond();
    let noise = record("n", "DescribeInstances", now, false).record;
    let mut recs = Vec::new();
    let mut want = Vec::new();
    for i in 0..60_000 {
        if i % 12_000 == 5_000 {
            let id = format!("big-{i}");
            recs.push(record(&id, "CreateUser", now, false).record);
            want.push(id);
        } else {
            recs.push(noise.replace("\"n\"", &format!("\"n-{i}\"")));
        }
    }
    let body = gz(format!("{{\"Records\":[{}]}}", recs.join(",")).as_bytes());
    let s3 = rt.block_on(async {
        let s3 = moto_aws::s3(&moto_aws::conf(&url, "us-east-1").await);
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        s3
    });
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &url, &r.url, "list_interval = \"1s\"");
    let (mut d, mut logs) = spawn(&cfg);
    logs.until("trailwatch running", Duration::from_secs(30));
    let key = key_for("", &place(ACCOUNTS[0]), Timestamp::now(), "big");
    rt.block_on(put(&s3, BUCKET, &key, body));
    // The first alert of the file is raised: the process dies before the file's end.
    logs.until("alert raised", Duration::from_secs(30));
    signal(&d.0, 9);
    d.0.wait().unwrap();
    // It died inside the file: the stream's watermark has not reached it.
    let show = aws_bin()
        .args(["state", "show", "--json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert!(show["watermarks"].as_array().unwrap().is_empty(), "{show}");
    let (mut d, mut logs) = spawn(&cfg);
    logs.until("trailwatch running", Duration::from_secs(30));
    let all = |r: &Receiver| {
        r.event_ids()
            .iter()
            .filter(|i| i.starts_with("big-"))
            .count()
            >= want.len()
    };
    assert!(r.wait_for(all, Duration::from_secs(60)), "{}", logs.seen);
    signal(&d.0, 15);
    assert!(d.0.wait().unwrap().success());
    want.sort();
    assert_eq!(ids_of(&r, |i| i.starts_with("big-")), want, "each once");
}

#[test]
fn backfill_reads_files_older_than_90_days() {
    let (_moto, url) = moto();
    // The corpus's own delivery times: July 2023.
    rt().block_on(fill(&url, |t| t));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &url, "http://127.0.0.1:9/services/1/2/x", "");
    let o = aws_bin()
        .args([
            "backfill",
            "--source",
            "org-trail",
            "--since",
            "2023-07-01T00:00:00Z",
            "--until",
            "2023-07-31T00:00:00Z",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let mut ids: Vec<String> = crate::support::matches(&o)
        .iter()
        .map(|m| m["eventID"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, corpus_iam_ids(), "{err}");
    assert!(err.contains("read 55 S3 files"), "{err}");
    // A window that holds none of them finds none.
    let o = aws_bin()
        .args([
            "backfill",
            "--since",
            "2023-08-01T00:00:00Z",
            "--until",
            "2023-08-02T00:00:00Z",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(crate::support::matches(&o).is_empty());
}

#[test]
fn an_organization_is_read_account_by_account_and_a_refused_role_is_named() {
    let (_moto, url) = moto();
    let rt = rt();
    let group = "org-trail-logs";
    let members = rt.block_on(moto_aws::organization(&url, 2));
    let refused = members[1].clone();
    let accounts = [
        moto_aws::MANAGEMENT.to_string(),
        members[0].clone(),
        refused.clone(),
    ];
    let now = Timestamp::now().as_millisecond() - 120_000;
    rt.block_on(async {
        for a in &accounts {
            let conf = moto_aws::conf_in(&url, "us-east-1", a).await;
            let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
            logs.create_log_group()
                .log_group_name(group)
                .send()
                .await
                .unwrap();
            logs.create_log_stream()
                .log_group_name(group)
                .log_stream_name("s")
                .send()
                .await
                .unwrap();
            let ev = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now)
                .message(record(&format!("cu-{a}"), "CreateUser", now, false).record)
                .build()
                .unwrap();
            logs.put_log_events()
                .log_group_name(group)
                .log_stream_name("s")
                .log_events(ev)
                .send()
                .await
                .unwrap();
        }
    });
    let (_gate, sts) = moto_aws::sts_gate(&url, &[&refused]);
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}/state\"\ngroup_window = \"0s\"\nlanguage = \"en\"\n\n[[sources]]\nname = \"org-logs\"\ntype = \"cloudwatch_logs\"\nregion = \"us-east-1\"\nlog_group = \"{group}\"\naccounts = \"organization\"\nrole_name = \"trailwatch-reader\"\nendpoint_url = \"{url}\"\nsts_endpoint_url = \"{sts}\"\n\n[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{}\"\n",
            dir.path().display(),
            r.url
        ),
    )
    .unwrap();
    // check names the accounts and the one that cannot be read.
    let o = aws_bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("accounts (3)"), "{out}");
    assert!(
        out.contains(&format!("account {refused} CANNOT be read")),
        "{out}"
    );
    // AWS's own cause, with the role: not "no credentials", which would send the operator to
    // the host's credentials (they work for the other accounts).
    let role = format!("arn:aws:iam::{refused}:role/trailwatch-reader");
    let said = |text: &str| {
        text.contains("AccessDenied")
            && text.contains(&role)
            && !text.contains("no AWS credentials")
    };
    assert!(said(&out), "{out}");
    let before = rt.block_on(moto_aws::sts_counts(&sts))["AssumeRole"]
        .as_u64()
        .unwrap_or(0);
    let o = aws_bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("account {refused} is NOT watched")),
        "{err}"
    );
    assert!(said(&err), "{err}");
    // One AssumeRole per account and role for the whole run, shared by every client.
    let after = rt.block_on(moto_aws::sts_counts(&sts))["AssumeRole"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        after - before <= 3,
        "{} AssumeRole calls for 3 accounts",
        after - before
    );
    let got = ids_of(&r, |i| i.starts_with("cu-"));
    assert_eq!(
        got,
        [format!("cu-{}", accounts[1]), format!("cu-{}", accounts[0])]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>(),
        "{err}"
    );
    let bodies: String = r.received().into_iter().map(|g| g.body).collect();
    assert!(
        bodies.contains(&format!("cannot read account {refused}")),
        "a health alert names it: {bodies}"
    );
    assert!(
        bodies.contains("AccessDenied"),
        "with AWS's cause: {bodies}"
    );
}
