//! The trail's signed digests: a trail laid out in a moto bucket with digest chains signed by
//! keys the test makes (PyPI's cryptography), and `ListPublicKeys` answered by the fake
//! CloudTrail. An intact chain across a key rotation and with a SubjectPublicKeyInfo key
//! passes; each kind of tampering is caught and named by `trailwatch verify`; the daemon reads
//! a log file only a digest announced, and raises a finding once across a kill -9.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::fake_cloudtrail::{Behaviour, FakeCloudTrail};
use crate::support::moto_aws;
use crate::support::servers::{moto, Proc, Receiver};
use crate::support::{aws_bin, signal, spawn_run, text};

const ACCOUNT: &str = "111122223333";

/// A moto server and the fake CloudTrail answering `ListPublicKeys`.
struct World {
    _moto: Proc,
    murl: String,
    fake: FakeCloudTrail,
}

fn world() -> World {
    crate::support::fake_cloudtrail::test_aws_env();
    let (m, murl) = moto();
    World {
        _moto: m,
        murl,
        fake: FakeCloudTrail::start(Vec::new()),
    }
}

/// The start of the hour `hours` before this one (seconds).
fn hours_ago(hours: i64) -> i64 {
    let now = jiff::Timestamp::now().as_second();
    now - now % 3600 - hours * 3600
}

/// Lays a trail out in `bucket` (`hours` hours from `start`, `files` per hour, `keys` as
/// `[from_hour, spki]`, `tamper` ops) and gives its keys to the fake; what was laid out.
fn lay(
    w: &World,
    bucket: &str,
    start: i64,
    hours: i64,
    keys: &[(i64, bool)],
    tamper: Value,
) -> Value {
    lay_in(w, bucket, (start, hours), keys, tamper, json!({}))
}

/// `lay`, with more of the spec (`region`, `org`) given.
fn lay_in(
    w: &World,
    bucket: &str,
    (start, hours): (i64, i64),
    keys: &[(i64, bool)],
    tamper: Value,
    more: Value,
) -> Value {
    let mut spec = json!({
        "endpoint": w.murl, "bucket": bucket, "account": ACCOUNT, "region": "us-east-1",
        "trail": "main_trail", "home": "us-east-1", "start": start, "hours": hours, "files": 2,
        "keys": keys.iter().map(|(h, spki)| json!({"from_hour": h, "spki": spki})).collect::<Vec<_>>(),
        "tamper": tamper,
    });
    for (k, v) in more.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let region = spec["region"].as_str().unwrap().to_string();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/support/trail_digests.py"
    );
    let o = std::process::Command::new("python3")
        .arg(script)
        .arg(spec.to_string())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let laid: Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys: Vec<(String, String, i64, i64)> = laid["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let s = |f: &str| k[f].as_str().unwrap().to_string();
            (
                s("der"),
                s("fingerprint"),
                k["from"].as_i64().unwrap(),
                k["to"].as_i64().unwrap(),
            )
        })
        .collect();
    w.fake.set_public_keys(&region, &keys);
    laid
}

fn config(dir: &Path, w: &World, bucket: &str, hook: &str) -> PathBuf {
    config_with(dir, w, bucket, hook, "")
}

/// `config`, with more lines in the source's table.
fn config_with(dir: &Path, w: &World, bucket: &str, hook: &str, extra: &str) -> PathBuf {
    let cfg = dir.join(format!("{bucket}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}/{bucket}-state\"\ngroup_window = \"0s\"\nlanguage = \"en\"\n\n[[sources]]\nname = \"trail\"\ntype = \"s3\"\nbucket = \"{bucket}\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\nendpoint_urls = {{ cloudtrail = \"{}\" }}\nretry_attempts = 0\n{extra}\n\n[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{hook}\"\n",
            dir.display(),
            w.murl,
            w.fake.url,
        ),
    )
    .unwrap();
    cfg
}

fn verify(cfg: &Path, since: i64, extra: &[&str]) -> Output {
    let since = jiff::Timestamp::from_second(since).unwrap().to_string();
    aws_bin()
        .args(["verify", "--since", &since, "--config"])
        .arg(cfg)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn an_intact_chain_across_a_key_rotation_and_a_spki_key_verifies() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let start = hours_ago(6);
    lay(&w, "intact", start, 4, &[(0, false), (2, true)], json!([]));
    let r = Receiver::start(0, vec![]);
    let cfg = config(dir.path(), &w, "intact", &r.url);
    let o = verify(&cfg, start - 3600, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("4 digests, 8 log files verified, 0 findings"),
        "{}",
        text(&o)
    );
    let o = verify(&cfg, start - 3600, &["--json"]);
    let out = String::from_utf8_lossy(&o.stdout);
    let last: Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert_eq!(last, json!({"digests": 4, "log_files": 8, "findings": 0}));
    assert!(
        !w.fake.public_key_calls().is_empty(),
        "the keys were asked for"
    );
    // check --probe asks for them too, and says when it may not.
    let probe = || {
        aws_bin()
            .args(["check", "--probe", "--config"])
            .arg(&cfg)
            .output()
            .unwrap()
    };
    let o = probe();
    assert!(o.status.success(), "{}", text(&o));
    // Before the daemon verified any, check asks whether validation is on.
    assert!(
        text(&o).contains("digests: source 'trail': none verified yet. Is log file validation on"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("probe source 'trail': ok: cloudtrail:ListPublicKeys in us-east-1 ("),
        "{}",
        text(&o)
    );
    w.fake.set_behaviour(Behaviour {
        fail_with: Some("AccessDeniedException"),
        ..Behaviour::default()
    });
    let o = probe();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let failed = text(&o);
    assert!(
        failed
            .lines()
            .any(|l| l.starts_with("probe source 'trail': FAILED:")
                && l.contains("cloudtrail:ListPublicKeys")
                && l.contains("verify_digests = false")),
        "{failed}"
    );
}

#[test]
fn an_organization_trail_in_two_regions_with_backfill_digests_verifies() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let start = hours_ago(3);
    let org = |region: &str| json!({"org": "o-a1b2c3d4e5", "region": region});
    // us-east-1: two hours and two files delivered late (a backfill chain of two digests);
    // eu-west-1, its own key: two hours.
    let late = json!([{"op": "backfill", "hour": 0}, {"op": "backfill", "hour": 1}]);
    let laid = lay_in(&w, "org", (start, 2), &[(0, false)], late, org("us-east-1"));
    assert!(laid["digests"][2]
        .as_str()
        .unwrap()
        .ends_with("_backfill.json.gz"));
    assert!(laid["logs"][0]
        .as_str()
        .unwrap()
        .starts_with(&format!("AWSLogs/o-a1b2c3d4e5/{ACCOUNT}/")));
    lay_in(
        &w,
        "org",
        (start, 2),
        &[(0, true)],
        json!([]),
        org("eu-west-1"),
    );
    let cfg = config(dir.path(), &w, "org", "http://127.0.0.1:9/unused");
    let o = verify(&cfg, start - 3600, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("6 digests, 10 log files verified, 0 findings"),
        "{}",
        text(&o)
    );
    let calls = w.fake.public_key_calls();
    assert!(
        calls.iter().any(|c| c == "us-east-1") && calls.iter().any(|c| c == "eu-west-1"),
        "{calls:?}"
    );
    // A late file changed after delivery: its backfill digest says so.
    let laid = lay_in(
        &w,
        "org-late",
        (start, 2),
        &[(0, false)],
        json!([{"op": "backfill", "hour": 0}, {"op": "modify_late", "file": 0, "hour": 0}]),
        org("us-east-1"),
    );
    let late = laid["late"][0].as_str().unwrap();
    let cfg = config(dir.path(), &w, "org-late", "http://127.0.0.1:9/unused");
    let o = verify(&cfg, start - 3600, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.starts_with(&format!("modified {late} "))),
        "{}",
        text(&o)
    );
}

#[test]
fn verify_catches_and_names_each_kind_of_tampering() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let start = hours_ago(6);
    let keys = [(0, false)];
    // (bucket, tampering, the kind said, what it names: "log h/f", "digest h" or "planted")
    let cases = [
        (
            "t-modify",
            json!([{"op": "modify", "hour": 1, "file": 0}]),
            "modified",
            "log 1/0",
        ),
        (
            "t-append",
            json!([{"op": "append", "hour": 2, "file": 1}]),
            "modified",
            "log 2/1",
        ),
        (
            "t-missing",
            json!([{"op": "delete_file", "hour": 1, "file": 1}]),
            "missing",
            "log 1/1",
        ),
        (
            "t-digest",
            json!([{"op": "delete_digest", "hour": 1}]),
            "digest-missing",
            "digest 1",
        ),
        (
            "t-forged",
            json!([{"op": "forge_signature", "hour": 2}]),
            "signature",
            "digest 2",
        ),
        (
            "t-altered",
            json!([{"op": "alter_digest", "hour": 1}]),
            "signature",
            "digest 1",
        ),
        (
            "t-moved",
            json!([{"op": "move_digest", "hour": 2}]),
            "signature",
            "digest 2",
        ),
        (
            "t-chain",
            json!([{"op": "bad_chain", "hour": 2}]),
            "chain",
            "digest 2",
        ),
        (
            "t-gap",
            json!([{"op": "gap", "hour": 2}]),
            "gap",
            "digest 2",
        ),
        (
            "t-plant",
            json!([{"op": "plant", "hour": 1}]),
            "not-in-digest",
            "planted",
        ),
    ];
    for (bucket, tamper, kind, what) in cases {
        let laid = lay(&w, bucket, start, 4, &keys, tamper);
        let key = match what.split_once(' ') {
            Some(("log", hf)) => {
                let (h, f) = hf.split_once('/').unwrap();
                let i = h.parse::<usize>().unwrap() * 2 + f.parse::<usize>().unwrap();
                laid["logs"][i].as_str().unwrap().to_string()
            }
            Some(("digest", h)) => laid["digests"][h.parse::<usize>().unwrap()]
                .as_str()
                .unwrap()
                .to_string(),
            _ => laid["planted"].as_str().unwrap().to_string(),
        };
        let cfg = config(dir.path(), &w, bucket, "http://127.0.0.1:9/unused");
        let o = verify(&cfg, start - 3600, &[]);
        assert_eq!(o.status.code(), Some(1), "{bucket}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{kind} {key} "))),
            "{bucket}: no '{kind} {key}' in:\n{out}"
        );
        let o = verify(&cfg, start - 3600, &["--json"]);
        let found: Vec<Value> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            found
                .iter()
                .any(|f| f["kind"] == kind && f["key"] == key.as_str() && f["account"] == ACCOUNT),
            "{bucket}: {found:?}"
        );
    }
}

#[test]
fn the_daemon_reads_what_only_a_digest_announced_and_raises_a_finding_once_across_a_kill() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    // Two hours ending now: their files are older than the listing's first look (20 minutes),
    // so only the digests say they are there. One of them was changed after delivery.
    let start = hours_ago(2);
    let laid = lay(
        &w,
        "daemon",
        start,
        2,
        &[(0, false)],
        json!([{"op": "modify", "hour": 1, "file": 1}]),
    );
    let modified = laid["logs"][3].as_str().unwrap().to_string();
    let r = Receiver::start(0, vec![]);
    let cfg = config(dir.path(), &w, "daemon", &r.url);
    let finding = |r: &Receiver| {
        r.received()
            .iter()
            .filter(|g| g.body.contains("CloudTrail integrity") && g.body.contains(&modified))
            .count()
    };
    let (mut d, mut logs) = spawn_run(&cfg);
    let read = |r: &Receiver| {
        let ids = r.event_ids();
        ["h0-f0", "h0-f1", "h1-f0"]
            .iter()
            .all(|i| ids.iter().any(|x| x == i))
            && finding(r) == 1
    };
    assert!(
        r.wait_for(read, Duration::from_secs(60)),
        "{:?}\n{}",
        r.event_ids(),
        logs.rest_now()
    );
    assert!(
        !r.event_ids().iter().any(|i| i == "h1-f1"),
        "the changed file's records are its own now (none)"
    );
    signal(&d.0, 9);
    d.0.wait().unwrap();
    drop(logs);
    // Started again: the finding is not raised a second time (the history holds every alert
    // raised; a message the kill interrupted may be sent again, as any alert's).
    let o = aws_bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = aws_bin()
        .args([
            "alerts",
            "list",
            "--json",
            "--since",
            "1h",
            "--rule",
            "trailwatch-integrity",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    let raised: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(raised.len(), 1, "{}", text(&o));
    assert!(raised[0]["alert"]["kind"]["detail"]
        .as_str()
        .unwrap()
        .contains(&modified));
    // check says when each place's digests were last verified.
    let o = aws_bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        text(&o).contains(&format!(
            "digests: source 'trail' {ACCOUNT}/us-east-1 (main_trail@us-east-1): last verified"
        )) && !text(&o).contains("none verified yet"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_new_digest_announced_by_the_queue_is_checked_at_once() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let rt = crate::support::rt();
    let queue_url = rt.block_on(async {
        let s3 = moto_aws::s3(&moto_aws::conf(&w.murl, "us-east-1").await);
        s3.create_bucket().bucket("queued").send().await.unwrap();
        let (q, arn) = moto_aws::queue(&w.murl, "trail-events").await;
        moto_aws::notify(&s3, "queued", &arn).await;
        q
    });
    let r = Receiver::start(0, vec![]);
    // Listing once an hour, and the bucket empty at the first: only the notifications can
    // bring the log files and the digest in time.
    let extra = format!("queue_url = \"{queue_url}\"\nlist_interval = \"1h\"");
    let cfg = config_with(dir.path(), &w, "queued", &r.url, &extra);
    let (_d, mut logs) = spawn_run(&cfg);
    logs.until("trailwatch running", Duration::from_secs(30));
    // An hour delivered now, its digest signed by a key ListPublicKeys does not know.
    let laid = lay(
        &w,
        "queued",
        hours_ago(1),
        1,
        &[(0, false)],
        json!([{"op": "forge_signature", "hour": 0}]),
    );
    let digest = laid["digests"][0].as_str().unwrap().to_string();
    let caught = |r: &Receiver| {
        r.received()
            .iter()
            .any(|g| g.body.contains("CloudTrail integrity") && g.body.contains(&digest))
    };
    assert!(
        r.wait_for(caught, Duration::from_secs(30)),
        "{:?}\n{}",
        r.event_ids(),
        logs.rest_now()
    );
}
