//! Sigma rules as written, through the binary: a folder of rules in `scan`, a rule entry in a
//! configuration (alerts named by the rule with its title and level, its tests run), pushdown
//! from a Sigma selection, and a broken rule refused with its file named.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::json;

use crate::support::fake_cloudtrail::FakeCloudTrail;
use crate::support::servers::Receiver;
use crate::support::{bin, delivery_file, files_config, run, stderr, stdout, text};

fn sigma_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sigma")
}

/// A record of `name` from `source` by `user` (its agent and error optional).
fn rec(id: &str, source: &str, name: &str, extra: serde_json::Value) -> String {
    let mut r = json!({
        "eventVersion": "1.09", "eventID": id, "eventTime": "2026-11-22T00:00:00Z",
        "eventSource": source, "eventName": name, "eventType": "AwsApiCall",
        "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
        "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2.15.0",
        "userIdentity": {"type": "IAMUser", "userName": "alice",
                         "arn": "arn:aws:iam::111122223333:user/alice"}
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r.to_string()
}

#[test]
fn a_folder_of_sigma_rules_runs_in_scan_as_the_specification_says() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("trail.json");
    let records = [
        rec("stop", "cloudtrail.amazonaws.com", "StopLogging", json!({})),
        rec(
            "start",
            "cloudtrail.amazonaws.com",
            "StartLogging",
            json!({}),
        ),
        rec(
            "key-other",
            "iam.amazonaws.com",
            "CreateAccessKey",
            json!({"responseElements": {"accessKey": {"userName": "carol"}}}),
        ),
        rec(
            "key-self",
            "iam.amazonaws.com",
            "CreateAccessKey",
            json!({"responseElements": {"accessKey": {"userName": "ALICE"}}}),
        ),
        rec(
            "pacu",
            "iam.amazonaws.com",
            "ListUsers",
            json!({"userAgent": "aws-cli/1.16 Pacu/1.4"}),
        ),
        rec(
            "pacu-denied",
            "iam.amazonaws.com",
            "ListUsers",
            json!({"userAgent": "Pacu", "errorCode": "AccessDenied"}),
        ),
        rec(
            "root",
            "ec2.amazonaws.com",
            "RunInstances",
            json!({"userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"}}),
        ),
        rec(
            "root-by-service",
            "ec2.amazonaws.com",
            "RunInstances",
            json!({"userIdentity": {"type": "Root", "invokedBy": "support.amazonaws.com"}}),
        ),
    ];
    std::fs::write(&f, delivery_file(&records)).unwrap();
    let o = run(
        &[
            "scan",
            "--rules",
            sigma_dir().to_str().unwrap(),
            f.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got: BTreeSet<(String, String)> = stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["rule"].as_str().unwrap().into(),
                v["eventID"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("cloudtrail_logging_disabled", "stop"),
        ("access_key_for_another_user", "key-other"),
        ("suspicious_tooling", "pacu"),
        ("root_used", "root"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
    let o = run(
        &[
            "rules",
            "list",
            "--coverage",
            "--rules",
            sigma_dir().to_str().unwrap(),
        ],
        None,
    );
    assert!(
        stdout(&o).contains("T1562.008") && stdout(&o).contains("6 written in Sigma"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_sigma_entry_alerts_with_its_title_level_and_tests() {
    let r = Receiver::start(0, vec![]);
    let rule = sigma_dir().join("cloudtrail_logging_disabled.yml");
    let entry = format!(
        "rule_packs = []\ngroup_window = \"0s\"\n\n[[rules]]\nname = \"trail-off\"\nsigma = \"{}\"\n[[rules.tests]]\nname = \"stop\"\nmatches = true\nrecord = '{}'\n[[rules.tests]]\nname = \"start\"\nmatches = false\nrecord = '{}'\n",
        rule.display(),
        rec("t1", "cloudtrail.amazonaws.com", "StopLogging", json!({})),
        rec("t2", "cloudtrail.amazonaws.com", "StartLogging", json!({})),
    );
    let (_dir, cfg) = files_config(
        &[rec("s1", "cloudtrail.amazonaws.com", "DeleteTrail", json!({}))],
        &entry,
        &format!("[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nurl = \"{}\"\nmax_per_second = 0\nstorm_after = 0\n", r.url),
    );
    let o = bin()
        .args(["rules", "test", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("2 tests of 1 rule: 2 passed"),
        "{}",
        stdout(&o)
    );
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let got = r.received();
    assert_eq!(got.len(), 1);
    assert!(
        got[0]
            .body
            .contains("CloudTrail Logging Disabled Or Trail Removed")
            && got[0].body.contains("[MEDIUM]"),
        "the rule's own title and level: {}",
        got[0].body
    );
    // A broken rule is refused, its file and line named.
    let broken = _dir.path().join("broken.yml");
    std::fs::write(&broken, "title: x\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    eventName|expand: '%x%'\n  condition: selection\n").unwrap();
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace(&rule.display().to_string(), "broken.yml"),
    )
    .unwrap();
    let o = bin()
        .args(["check", "--skip-secrets", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("broken.yml")
            && stderr(&o).contains("modifier `expand`")
            && stderr(&o).contains("c.toml:"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_sigma_selection_on_event_names_is_pushed_down_to_lookup_events() {
    let fake = FakeCloudTrail::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}/state\"\nrule_packs = []\n[[rules]]\nsigma = \"{}\"\n\n[[sources]]\nname = \"lookup\"\ntype = \"lookup_events\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n\n[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
            dir.path().display(),
            sigma_dir().join("cloudtrail_logging_disabled.yml").display(),
            fake.url
        ),
    )
    .unwrap();
    let o = bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains(
            "3 lookups: EventName=DeleteTrail, EventName=StopLogging, EventName=UpdateTrail"
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn sigma_rules_of_other_log_sources_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("windows.yml");
    std::fs::write(&f, "title: w\nlogsource:\n  product: windows\n  service: security\ndetection:\n  s:\n    EventID: 4624\n  condition: s\n").unwrap();
    let o = run(&["scan", "--rules", f.to_str().unwrap(), "/dev/null"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("trailwatch reads AWS CloudTrail"),
        "{}",
        stderr(&o)
    );
}
