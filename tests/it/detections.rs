//! Detections through the binary: `rules test` over the built-in packs and a user's own rules,
//! `check` running the rule tests, thresholds and `[vars]` in `scan`, `backfill` and `run` (the
//! count surviving a restart), the threats pack's allowlists, and docs/detections.md naming
//! every built-in rule.

use std::path::Path;
use std::process::Output;

use crate::support::servers::Receiver;
use crate::support::*;
use serde_json::{json, Value};

/// A failed console sign-in of alice from `ip` at 09:`minute` on 2026-11-20.
fn failed_login(id: &str, ip: &str, minute: u32) -> Value {
    json!({
        "eventVersion": "1.09", "eventID": id, "eventTime": format!("2026-11-20T09:{minute:02}:00Z"),
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn",
        "awsRegion": "us-east-1", "recipientAccountId": "111122223333", "sourceIPAddress": ip,
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "userName": "alice"},
        "responseElements": {"ConsoleLogin": "Failure"}
    })
}

/// A rule counting failed sign-ins per source address, 5 in 10 minutes, except from
/// `trusted_ips`; `more` is appended (tests, other tables).
fn rules_toml(more: &str) -> String {
    format!(
        r#"rule_packs = []
[vars]
trusted_ips = ["198.51.100.0/24"]

[[rules]]
name = "failed-logins"
severity = "high"
title = "failed sign-ins"
event_pattern = '{{"source":["aws.signin"],"detail":{{"eventName":["ConsoleLogin"],"responseElements":{{"ConsoleLogin":["Failure"]}}}}}}'
exclude = ['{{"detail":{{"sourceIPAddress":[{{"cidr":"${{trusted_ips}}"}}]}}}}']
threshold = 5
period = "10m"
group_by = ["sourceIPAddress"]
{more}"#
    )
}

fn jsonl(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

/// Five failures from .7 (09:00–09:04), four from .8, six from the trusted range.
fn attempts() -> Vec<Value> {
    let mut v = Vec::new();
    for m in 0..5 {
        v.push(failed_login(&format!("a{m}"), "203.0.113.7", m));
    }
    for m in 0..4 {
        v.push(failed_login(&format!("b{m}"), "203.0.113.8", m));
    }
    for m in 0..6 {
        v.push(failed_login(&format!("t{m}"), "198.51.100.9", m));
    }
    v
}

fn threshold_ids(m: &Value) -> Vec<String> {
    m["threshold"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventID"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn rules_test_passes_every_built_in_pack_and_names_a_failing_user_test() {
    let o = run(&["rules", "test"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let last = stdout(&o).lines().last().unwrap().to_string();
    assert!(last.contains(" passed, 0 failed"), "{last}");
    let n: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(
        n >= 2 * 57,
        "a match and a near miss per rule at least: {last}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("trusted.json"),
        failed_login("x", "198.51.100.7", 0).to_string(),
    )
    .unwrap();
    let file = dir.path().join("rules.toml");
    let failure = failed_login("y", "203.0.113.7", 0).to_string();
    std::fs::write(
        &file,
        rules_toml(&format!(
            "[[rules.tests]]\nname = \"a failure counts\"\nmatches = true\nrecord = '{failure}'\n\
             [[rules.tests]]\nname = \"the trusted range counts too\"\nmatches = true\npath = \"trusted.json\"\n"
        )),
    )
    .unwrap();
    let o = run(&["rules", "test", "--rules", file.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("FAILED failed-logins / the trusted range counts too: expected a match"),
        "{out}"
    );
    assert!(
        out.contains("2 tests of 1 rule: 1 passed, 1 failed"),
        "{out}"
    );
    assert!(!out.contains("a failure counts"), "passes are quiet: {out}");
}

#[test]
fn check_runs_the_rule_tests_and_fails_on_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let trusted = failed_login("x", "198.51.100.7", 0).to_string();
    let config = |matches: bool| {
        format!(
            "state_dir = \"{}/state\"\n{}\n[[sinks]]\nname = \"c\"\ntype = \"console\"\n",
            dir.path().display(),
            rules_toml(&format!(
                "[[rules.tests]]\nname = \"the trusted range\"\nmatches = {matches}\nrecord = '{trusted}'\n"
            ))
        )
    };
    std::fs::write(&cfg, config(false)).unwrap();
    let o = run(&["check", "--config", cfg.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("rule tests: 1 of 1 passed"),
        "{}",
        stdout(&o)
    );
    std::fs::write(&cfg, config(true)).unwrap();
    let o = run(&["check", "--config", cfg.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("rule test FAILED: failed-logins / the trusted range"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn scan_alerts_once_at_the_threshold_per_key_and_skips_the_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.toml");
    std::fs::write(&file, rules_toml("")).unwrap();
    // Then three more from .7 inside the quiet period, and five after it: a second alert.
    let mut recs = attempts();
    for m in 5..8 {
        recs.push(failed_login(&format!("q{m}"), "203.0.113.7", m));
    }
    for m in 20..25 {
        recs.push(failed_login(&format!("c{m}"), "203.0.113.7", m));
    }
    let o = run(
        &["scan", "--rules", file.to_str().unwrap()],
        Some(jsonl(&recs).as_bytes()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ms = matches(&o);
    assert_eq!(ms.len(), 2, "{ms:#?}");
    assert_eq!(ms[0]["eventID"], "a4", "the fifth makes the alert");
    assert_eq!(ms[0]["threshold"]["count"], 5);
    assert_eq!(ms[0]["threshold"]["group"], "sourceIPAddress=203.0.113.7");
    assert_eq!(threshold_ids(&ms[0]), ["a0", "a1", "a2", "a3", "a4"]);
    assert_eq!(
        threshold_ids(&ms[1]),
        ["c20", "c21", "c22", "c23", "c24"],
        "quiet for the period, then counting again"
    );

    // Without the allowlist the trusted range's six failures alert too.
    let open = rules_toml("").replace(r#"["198.51.100.0/24"]"#, "[]");
    std::fs::write(&file, open).unwrap();
    let o = run(
        &["scan", "--rules", file.to_str().unwrap()],
        Some(jsonl(&attempts()).as_bytes()),
    );
    let groups: Vec<Value> = matches(&o)
        .iter()
        .map(|m| m["threshold"]["group"].clone())
        .collect();
    assert_eq!(
        groups,
        [
            "sourceIPAddress=203.0.113.7",
            "sourceIPAddress=198.51.100.9"
        ]
    );
}

#[test]
fn the_threats_packs_sharing_rules_follow_own_accounts_and_see_a_stranger_beside_them() {
    let share = |id: &str, accounts: &[&str]| {
        json!({
            "eventVersion": "1.09", "eventID": id, "eventTime": "2026-11-20T09:00:00Z",
            "eventSource": "ec2.amazonaws.com", "eventName": "ModifySnapshotAttribute",
            "eventType": "AwsApiCall", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
            "requestParameters": {"snapshotId": "snap-1", "createVolumePermission": {"add": {"items":
                accounts.iter().map(|a| json!({"userId": a})).collect::<Vec<_>>()}}}
        })
    };
    let input = jsonl(&[
        share("own", &["444455556666"]),
        share("stranger", &["999988887777"]),
        share("both", &["444455556666", "999988887777"]),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.toml");
    let shared = |o: &Output| -> Vec<String> {
        matches(o)
            .iter()
            .filter(|m| m["rule"] == "ebs-snapshot-shared")
            .map(|m| m["eventID"].as_str().unwrap().to_string())
            .collect()
    };
    // The pack's default (no accounts of one's own): every share is reported.
    let o = run(&["scan", "--rules", "threats"], Some(input.as_bytes()));
    assert_eq!(shared(&o), ["own", "stranger", "both"]);
    std::fs::write(
        &file,
        "rule_packs = [\"threats\"]\n[vars]\nown_accounts = [\"111122223333\", \"444455556666\"]\n",
    )
    .unwrap();
    let o = run(
        &["scan", "--rules", file.to_str().unwrap()],
        Some(input.as_bytes()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(shared(&o), ["stranger", "both"]);
}

// --- run and backfill over a folder source ----------------------------------------------------

/// Writes a delivery file whose modification time is two minutes ago (read at the first look).
fn delivery(path: &Path, records: &[Value]) {
    write_old(path, &json!({ "Records": records }).to_string());
}

#[test]
fn run_counts_across_a_restart_and_backfill_counts_the_window() {
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("trail")).unwrap();
    let cfg = d.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{0}/state\"\ngroup_window = \"0s\"\nlanguage = \"en\"\n{2}\n\
             [[sources]]\nname = \"files\"\ntype = \"files\"\npath = \"{0}/trail\"\n\n\
             [[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{1}\"\nretry_initial = \"50ms\"\n",
            d.display(),
            r.url,
            rules_toml("")
        ),
    )
    .unwrap();
    let once = || {
        let o = bin()
            .args(["run", "--once", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    // Three of the five failures from .7 (and the trusted range's), then a restart.
    let all = attempts();
    let (first, rest): (Vec<Value>, Vec<Value>) = all.into_iter().partition(|r| {
        ["a0", "a1", "a2"].contains(&r["eventID"].as_str().unwrap())
            || r["eventID"].as_str().unwrap().starts_with('t')
    });
    delivery(&d.join("trail/1.json"), &first);
    once();
    assert_eq!(r.received().len(), 0, "three of five: no alert yet");
    delivery(&d.join("trail/2.json"), &rest);
    once();
    let got = r.received();
    assert_eq!(
        got.len(),
        1,
        "the fifth failure, counted across the restart"
    );
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    let text = body["attachments"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("Count: `5 in 10m (sourceIPAddress=203.0.113.7): a0, a1, a2, a3, a4`"),
        "{text}"
    );
    assert_eq!(r.event_ids(), ["a4"]);
    // A third run reads nothing new and sends nothing.
    once();
    assert_eq!(r.received().len(), 1);

    // backfill over the window: the same one alert, counted in memory.
    let o = bin()
        .args([
            "backfill",
            "--since",
            "2026-11-20T08:00:00Z",
            "--until",
            "2026-11-20T10:00:00Z",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ms = matches(&o);
    assert_eq!(ms.len(), 1, "{ms:#?}");
    assert_eq!(threshold_ids(&ms[0]), ["a0", "a1", "a2", "a3", "a4"]);
}

#[test]
fn every_built_in_rule_is_in_docs_detections() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/detections.md"))
        .expect("docs/detections.md");
    let o = run(
        &["rules", "list", "--json", "--rules", "default,cis,threats"],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names: Vec<String> = matches(&o)
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() >= 57, "{}", names.len());
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(missing.is_empty(), "not in docs/detections.md: {missing:?}");
}
