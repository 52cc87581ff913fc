//! First-seen rules and the networks of source addresses, end to end through a `files` source:
//! a 40-day timeline learned, new and forgotten combinations alerted (and why), the history
//! kept across runs and a kill -9, a forged `enrich` member and missing fields, MaxMind-format
//! databases made by the test, and `backfill --learn`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::support::{bin, signal, spawn_run, text, write_old, T0};

const DAY: i64 = 86_400_000;
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const CAROL: &str = "arn:aws:iam::111122223333:user/carol";
const DAVE: &str = "arn:aws:iam::111122223333:user/dave";
/// Example VPS (AS64500, NL), Acme Corp (AS64501, KR), and an AWS range (AS16509).
const VPS: &str = "198.51.100.7";
const ACME: &str = "203.0.113.9";

/// A GetSecretValue record at `ms` by `arn` (none: no ARN at all) from `ip`; `forged` adds a
/// top-level `enrich` member claiming the VPS's network.
fn read(id: &str, ms: i64, arn: Option<&str>, ip: &str, forged: bool) -> String {
    let time = jiff::Timestamp::from_millisecond(ms).unwrap();
    let who = match arn {
        Some(a) => format!(
            r#"{{"type":"IAMUser","arn":"{a}","accountId":"111122223333","principalId":"AIDA{id}"}}"#
        ),
        None => r#"{"type":"IAMUser","accountId":"111122223333","principalId":"AIDANOARN"}"#.into(),
    };
    let enrich = if forged {
        r#","enrich":{"asn":64500,"network":"AS64500","as_org":"Example VPS"}"#
    } else {
        ""
    };
    format!(
        r#"{{"eventVersion":"1.09","eventID":"{id}","eventTime":"{time}","eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","awsRegion":"us-east-1","sourceIPAddress":"{ip}","userIdentity":{who},"requestParameters":{{"secretId":"prod/db"}},"recipientAccountId":"111122223333","eventType":"AwsApiCall"{enrich}}}"#
    )
}

/// Writes the test's ASN and country databases into `dir` (built `age_days` ago).
fn databases(dir: &Path, age_days: u64) -> (PathBuf, PathBuf) {
    let (asn, country) = (dir.join("asn.mmdb"), dir.join("country.mmdb"));
    let built = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - age_days * 86400;
    let spec = serde_json::json!({
        "asn": asn, "country": country, "built": built,
        "networks": [
            ["198.51.100.0/24", 64500, "Example VPS", "NL"],
            ["203.0.113.0/24", 64501, "Acme Corp", "KR"],
            ["3.5.0.0/16", 16509, "AMAZON-02", "US"],
        ],
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/support/mmdb.py");
    let o = std::process::Command::new("python3")
        .arg(script)
        .arg(spec.to_string())
        .output()
        .expect("python3 (scripts/test installs mmdb-writer into target/test-venv)");
    assert!(o.status.success(), "{}", text(&o));
    (asn, country)
}

/// A configuration: a files source over `dir/trail`, one first-seen rule on (principal,
/// network), the test's databases, a console sink, no grouping.
fn config(dir: &Path, learn: &str) -> PathBuf {
    config_with(dir, learn, "", "c")
}

/// `config`, with `state` (a `[state]` table) and named `name`.toml.
fn config_with(dir: &Path, learn: &str, state: &str, name: &str) -> PathBuf {
    let (asn, country) = databases(dir, 0);
    std::fs::create_dir_all(dir.join("trail")).unwrap();
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            r#"state_dir = "{d}/{name}-state"
language = "en"
group_window = "0s"
rule_packs = []
{state}
[enrich]
asn_db = "{asn}"
country_db = "{country}"
[[sources]]
name = "files"
type = "files"
path = "{d}/trail"
poll_interval = "1s"
[[rules]]
name = "new-network"
title = "secret read from a new network"
event_pattern = '{{"detail":{{"eventName":["GetSecretValue"]}}}}'
first_seen = {{ fields = ["userIdentity.arn", "enrich.network"], window = "30d", learn = "{learn}" }}
[[sinks]]
name = "out"
type = "console"
"#,
            d = dir.display(),
            asn = asn.display(),
            country = country.display(),
        ),
    )
    .unwrap();
    cfg
}

fn put(dir: &Path, name: &str, records: &[String]) {
    write_old(
        &dir.join("trail").join(name),
        &format!("{{\"Records\":[{}]}}", records.join(",")),
    );
}

fn once(cfg: &Path) -> Output {
    bin()
        .args(["run", "--once", "--config"])
        .arg(cfg)
        .output()
        .unwrap()
}

/// The messages printed by the console sink: each one's eventID and its text.
fn alerts(o: &Output) -> Vec<(String, String)> {
    String::from_utf8_lossy(&o.stdout)
        .split("== ")
        .filter(|m| !m.trim().is_empty())
        .map(|m| {
            let id = m
                .lines()
                .find_map(|l| l.strip_prefix("eventID: "))
                .unwrap_or("")
                .trim()
                .to_string();
            (id, m.to_string())
        })
        .collect()
}

fn ids(a: &[(String, String)]) -> Vec<&str> {
    let mut v: Vec<&str> = a.iter().map(|(i, _)| i.as_str()).collect();
    v.sort_unstable();
    v
}

#[test]
fn a_40_day_timeline_learns_then_alerts_on_what_is_new_and_on_what_was_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "7d");
    // Days 0-6 learn: nothing alerts, whatever is seen.
    put(
        dir.path(),
        "a-learn.json",
        &[
            read("l-alice", T0, Some(ALICE), ACME, false),
            read("l-bob", T0 + 3 * DAY, Some(BOB), VPS, false),
            read("l-carol", T0 + DAY, Some(CAROL), VPS, false),
            read("l-dave", T0 + 2 * DAY, Some(DAVE), VPS, false),
        ],
    );
    let o = once(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    assert!(alerts(&o).is_empty(), "learning: {}", text(&o));
    put(
        dir.path(),
        "b-later.json",
        &[
            // Known: alice from Acme again (refreshes it).
            read("k-alice", T0 + 10 * DAY, Some(ALICE), ACME, false),
            // New: alice from the VPS.
            read("n-alice", T0 + 12 * DAY, Some(ALICE), VPS, false),
            // Refreshed at day 25, so still known at day 50 (25 days after); without the refresh
            // it would be 49 days.
            read("r1-carol", T0 + 25 * DAY, Some(CAROL), VPS, false),
            // A forged enrich member claims the VPS dave knows; the address is Acme's: new.
            read("f-dave", T0 + 20 * DAY, Some(DAVE), ACME, true),
            // No ARN at all: a combination of its own, not a crash, not skipped.
            read("m-noarn", T0 + 30 * DAY, None, VPS, false),
        ],
    );
    let o = once(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    let got = alerts(&o);
    assert_eq!(ids(&got), ["f-dave", "m-noarn", "n-alice"], "{}", text(&o));
    let alice = &got.iter().find(|(i, _)| i == "n-alice").unwrap().1;
    assert!(
        alice.contains("Source IP: 198.51.100.7 (AS64500 Example VPS, NL)"),
        "the network, from the databases: {alice}"
    );
    assert!(
        alice.contains(&format!("first time in 30 days: {ALICE} on AS64500")),
        "why it is new: {alice}"
    );
    assert!(
        alice.contains("last seen with AS64501 Acme Corp, KR 2 days before"),
        "what alice was last seen with: {alice}"
    );
    let dave = &got.iter().find(|(i, _)| i == "f-dave").unwrap().1;
    assert!(
        dave.contains("on AS64501"),
        "judged by its address, not its enrich member: {dave}"
    );
    let noarn = &got.iter().find(|(i, _)| i == "m-noarn").unwrap().1;
    assert!(noarn.contains("(missing) on AS64500"), "{noarn}");
    // Days 40-50: bob last seen at day 3 (37 days before: forgotten), carol refreshed at 25.
    put(
        dir.path(),
        "c-much-later.json",
        &[
            read("o-bob", T0 + 40 * DAY, Some(BOB), VPS, false),
            read("r2-carol", T0 + 50 * DAY, Some(CAROL), VPS, false),
            // Seen again right after it alerted: known.
            read("n2-alice", T0 + 41 * DAY, Some(ALICE), VPS, false),
        ],
    );
    let o = once(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ids(&alerts(&o)), ["o-bob"], "{}", text(&o));
}

#[test]
fn a_kill_9_forgets_no_sighting_an_alert_or_a_later_silence_depended_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "0s");
    // One file of many sightings, read in batches (alerts are raised and made durable as the
    // file is read): principal k is first seen at record 700 k (new: it alerts), then again
    // and again (known). Killed after the first alert, in the middle of the file.
    let user = |k: i64| format!("arn:aws:iam::111122223333:user/u{k}");
    let mut records = Vec::new();
    for n in 0..30_000 {
        let k = if n < 28_000 { n / 700 } else { n % 40 };
        let id = format!("e{n:05}");
        records.push(read(&id, T0 + n * 1000, Some(&user(k)), ACME, false));
    }
    put(dir.path(), "many.json", &records);
    let (mut d, mut logs) = spawn_run(&cfg);
    logs.until("alert raised", Duration::from_secs(60));
    signal(&d.0, 9);
    d.0.wait().unwrap();
    // What was not made durable is read again: each principal alerts exactly once, at its
    // first sighting, whatever the kill interrupted (the history holds every alert raised).
    drop(logs);
    let o = once(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    let o = bin()
        .args(["alerts", "list", "--json", "--since", "1h", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let mut raised: Vec<String> = crate::support::matches(&o)
        .iter()
        .map(|a| a["alert"]["eventID"].as_str().unwrap_or("?").to_string())
        .collect();
    raised.sort();
    let want: Vec<String> = (0..40).map(|k| format!("e{:05}", k * 700)).collect();
    assert_eq!(raised, want, "each principal's first sighting, once");
    // Every sighting survived: new events of the same principals and network, a day later,
    // are known (a forgotten sighting would alert again, under a new eventID).
    let later: Vec<String> = (0..40)
        .map(|k| {
            read(
                &format!("later-{k}"),
                T0 + DAY + k * 1000,
                Some(&user(k)),
                ACME,
                false,
            )
        })
        .collect();
    put(dir.path(), "later.json", &later);
    let o = once(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    assert!(alerts(&o).is_empty(), "{}", text(&o));
}

#[test]
fn backfill_learn_builds_the_history_the_daemon_starts_from() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "7d");
    put(
        dir.path(),
        "past.json",
        &[
            read("p1", T0, Some(ALICE), ACME, false),
            read("p2", T0 + 9 * DAY, Some(ALICE), VPS, false),
        ],
    );
    // Learning from the past: nothing printed for the first-seen rule, sightings recorded.
    let o = bin()
        .args([
            "backfill",
            "--learn",
            "--since",
            "2026-11-01T00:00:00Z",
            "--until",
            "2026-12-31T00:00:00Z",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    // The daemon then reads the same files: both combinations known, nothing alerts (without
    // the history, p2 would be new after the learning week).
    let o = once(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    assert!(alerts(&o).is_empty(), "{}", text(&o));
    // A backfill without --learn judges with a history of its own: p2 is new there.
    let o = bin()
        .args([
            "backfill",
            "--since",
            "2026-11-01T00:00:00Z",
            "--until",
            "2026-12-31T00:00:00Z",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("\"eventID\":\"p2\"") && out.contains("first time in 30 days"),
        "{}",
        text(&o)
    );
    assert!(!out.contains("\"eventID\":\"p1\""), "{out}");
}

#[test]
fn check_names_the_databases_and_warns_when_one_is_old() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "7d");
    let o = bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("asn_db =") && t.contains("GeoLite2-ASN") && t.contains("0 days ago"),
        "{t}"
    );
    assert!(!t.contains("refresh it"), "{t}");
    databases(dir.path(), 75);
    let o = bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        t.contains("built 75 days ago") && t.contains("refresh it"),
        "{t}"
    );
    // Not a database: refused, naming the key and the file.
    std::fs::write(dir.path().join("asn.mmdb"), "not a database").unwrap();
    let o = bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("asn_db") && text(&o).contains("not a MaxMind-format database"),
        "{}",
        text(&o)
    );
}

#[test]
fn scan_sees_the_databases_networks_and_never_a_forged_member() {
    let dir = tempfile::tempdir().unwrap();
    let (asn, country) = databases(dir.path(), 0);
    let input = format!(
        "{}\n{}\n",
        read("from-vps", T0, Some(ALICE), VPS, false),
        read("forged", T0, Some(ALICE), ACME, true)
    );
    let o = crate::support::run(
        &[
            "scan",
            "--filter",
            "{ $.enrich.asn = 64500 && $.enrich.country = \"NL\" }",
            "--asn-db",
            asn.to_str().unwrap(),
            "--country-db",
            country.to_str().unwrap(),
        ],
        Some(input.as_bytes()),
    );
    assert!(o.status.success(), "{}", text(&o));
    let ids: Vec<String> = crate::support::matches(&o)
        .iter()
        .map(|m| m["eventID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["from-vps"]);
}

#[test]
fn two_instances_on_one_shared_table_share_one_history() {
    crate::support::fake_cloudtrail::test_aws_env();
    let (_moto, murl) = crate::support::servers::moto();
    let dir = tempfile::tempdir().unwrap();
    let state = |me: &str| {
        format!("[state]\nbackend = \"dynamodb\"\ntable = \"tw-seen\"\nregion = \"us-east-1\"\nendpoint_url = \"{murl}\"\ninstance = \"{me}\"\nlease = \"3s\"\n")
    };
    let a = config_with(dir.path(), "0s", &state("a"), "a");
    let b = config_with(dir.path(), "0s", &state("b"), "b");
    let o = crate::support::aws_bin()
        .args(["state", "init", "--config"])
        .arg(&a)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let once = |cfg: &Path| {
        crate::support::aws_bin()
            .args(["run", "--once", "--config"])
            .arg(cfg)
            .output()
            .unwrap()
    };
    // Instance a sees alice on the VPS first: new.
    put(
        dir.path(),
        "1.json",
        &[read("a-alice", T0, Some(ALICE), VPS, false)],
    );
    let o = once(&a);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ids(&alerts(&o)), ["a-alice"], "{}", text(&o));
    // Instance b works next, from the table: alice on the VPS is known there (one alert, not
    // two); bob is new.
    put(
        dir.path(),
        "2.json",
        &[
            read("b-alice", T0 + DAY, Some(ALICE), VPS, false),
            read("b-bob", T0 + DAY, Some(BOB), VPS, false),
        ],
    );
    let o = once(&b);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ids(&alerts(&o)), ["b-bob"], "{}", text(&o));
}

#[test]
fn scan_judges_first_seen_and_thresholds_once_every_input_is_read() {
    // A first-seen rule and a threshold rule over a JSON Lines file, a gzipped delivery file
    // and standard input: judged in eventTime order once all is read, each alert with its
    // record's fields and where it was read (its record read again from its input).
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let pattern = r#"'''{"detail":{"eventName":["GetSecretValue"]}}'''"#;
    std::fs::write(
        &rules,
        format!(
            "[[rules]]\nname = \"new-address\"\ntitle = \"A secret read from a new address\"\nseverity = \"high\"\nevent_pattern = {pattern}\nfirst_seen = {{ fields = [\"userIdentity.arn\", \"sourceIPAddress\"], window = \"30d\", learn = \"1d\" }}\n\
             [[rules]]\nname = \"three-reads\"\ntitle = \"Three reads in ten minutes\"\nseverity = \"medium\"\nthreshold = 3\nperiod = \"10m\"\ngroup_by = [\"sourceIPAddress\"]\nevent_pattern = {pattern}\n"
        ),
    )
    .unwrap();
    let m = 60_000;
    let (d2, d3) = (T0 + 2 * DAY, T0 + 3 * DAY);
    let lines = [
        read("l1", T0, Some(ALICE), VPS, false),
        read("l2", d2, Some(ALICE), ACME, false), // new: alice's first read from ACME
        read("l3", d2 + m, Some(ALICE), VPS, false),
        read("l4", d3 + 3 * m, Some(ALICE), ACME, false), // known; the third from ACME
    ];
    let delivered = [
        read("r4", d3, Some(BOB), VPS, false),            // new
        read("r5", d3 + m, Some(BOB), ACME, false),       // new
        read("r6", d3 + 2 * m, Some(CAROL), ACME, false), // new
    ];
    std::fs::write(dir.path().join("a.jsonl"), lines.join("\n") + "\n").unwrap();
    let doc = format!("{{\"Records\":[{}]}}", delivered.join(","));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, doc.as_bytes()).unwrap();
    std::fs::write(dir.path().join("b.json.gz"), gz.finish().unwrap()).unwrap();

    let found = |o: &Output| -> Vec<(String, String, String)> {
        assert!(o.status.success(), "{}", text(o));
        let mut f: Vec<_> = crate::support::matches(o)
            .iter()
            .map(|x| {
                assert_eq!(x["eventName"], "GetSecretValue", "{x}");
                assert_eq!(x["recipientAccountId"], "111122223333", "{x}");
                assert!(x["principalArn"]
                    .as_str()
                    .unwrap()
                    .starts_with("arn:aws:iam::"));
                if x["rule"] == "new-address" {
                    let new = x["new"].as_str().unwrap();
                    assert!(new.starts_with("first time in 30 days: arn:"), "{new}");
                }
                let loc = x["location"].as_str().unwrap();
                let loc = loc.rsplit('/').next().unwrap().to_string();
                let id = x["eventID"].as_str().unwrap().to_string();
                (x["rule"].as_str().unwrap().to_string(), id, loc)
            })
            .collect();
        f.sort();
        f
    };
    let rules = rules.to_str().unwrap();
    let o = crate::support::run(
        &["scan", "--rules", rules, dir.path().to_str().unwrap()],
        None,
    );
    let want = |at: [&str; 5]| {
        let ids = [
            ("new-address", "l2"),
            ("new-address", "r4"),
            ("new-address", "r5"),
            ("new-address", "r6"),
            ("three-reads", "l4"),
        ];
        let w = ids.iter().zip(at);
        w.map(|((r, id), at)| (r.to_string(), id.to_string(), at.to_string()))
            .collect::<Vec<_>>()
    };
    let files = [
        "a.jsonl:2",
        "b.json.gz:1[0]",
        "b.json.gz:1[1]",
        "b.json.gz:1[2]",
        "a.jsonl:4",
    ];
    assert_eq!(found(&o), want(files), "{}", text(&o));

    // The same records on standard input (one per line).
    let stdin = [&lines[..], &delivered[..]].concat().join("\n") + "\n";
    let o = crate::support::run(&["scan", "--rules", rules, "-"], Some(stdin.as_bytes()));
    let w = want(["-:2", "-:5", "-:6", "-:7", "-:4"]);
    assert_eq!(found(&o), w, "{}", text(&o));
}

#[test]
fn scan_keys_a_record_matched_by_two_first_seen_rules_each_on_its_own_fields() {
    // One record, two first-seen rules: one keyed on the principal and its network, one on
    // the principal alone. The network is worked out once for the record, and only the first
    // rule's key holds it: alice's first read from a new network is new to the first rule
    // alone, bob's first read is new to both.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let rule = |name: &str, fields: &str| {
        format!("[[rules]]\nname = \"{name}\"\ntitle = \"t\"\nseverity = \"high\"\nevent_pattern = '''{{\"detail\":{{\"eventName\":[\"GetSecretValue\"]}}}}'''\nfirst_seen = {{ fields = [{fields}], window = \"30d\", learn = \"1d\" }}\n")
    };
    let toml = rule("new-network", r#""userIdentity.arn", "enrich.network""#)
        + &rule("new-reader", r#""userIdentity.arn""#);
    std::fs::write(&rules, toml).unwrap();
    let d2 = T0 + 2 * DAY;
    let lines = [
        read("l1", T0, Some(ALICE), VPS, false),
        read("l2", d2, Some(ALICE), ACME, false),
        read("l3", d2 + 1, Some(BOB), VPS, false),
        read("l4", d2 + 2, Some(ALICE), VPS, false),
    ];
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.jsonl"), lines.join("\n") + "\n").unwrap();
    let (asn, country) = databases(dir.path(), 0);
    let o = crate::support::run(
        &[
            "scan",
            "--rules",
            rules.to_str().unwrap(),
            "--asn-db",
            asn.to_str().unwrap(),
            "--country-db",
            country.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut found: Vec<(String, String, String)> = crate::support::matches(&o)
        .iter()
        .map(|x| {
            let s = |k: &str| x[k].as_str().unwrap().to_string();
            (s("rule"), s("eventID"), s("new"))
        })
        .collect();
    found.sort();
    let said: Vec<(&str, &str)> = found.iter().map(|(r, id, _)| (&r[..], &id[..])).collect();
    assert_eq!(
        said,
        [
            ("new-network", "l2"),
            ("new-network", "l3"),
            ("new-reader", "l3")
        ],
        "{}",
        text(&o)
    );
    // The network as the databases say it: new, and the one it differs from.
    let alice = &found[0].2;
    assert!(
        alice.contains("AS64501") && alice.contains("AS64500 Example VPS, NL"),
        "{alice}"
    );
}

/// A rules file with one first-seen rule, `new-address`: a principal's first secret read from
/// an address (learning for a day).
fn new_address_rule(dir: &Path) -> PathBuf {
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\nname = \"new-address\"\ntitle = \"t\"\nseverity = \"high\"\nevent_pattern = '''{\"detail\":{\"eventName\":[\"GetSecretValue\"]}}'''\nfirst_seen = { fields = [\"userIdentity.arn\", \"sourceIPAddress\"], window = \"30d\", learn = \"1d\" }\n",
    )
    .unwrap();
    rules
}

#[test]
fn scan_reads_again_the_record_of_a_file_with_bad_bytes() {
    // A delivery file (a document over several lines) with a byte that is not UTF-8 in an
    // earlier record: read with the bytes replaced (and said), and the alerting records found
    // again at the same place of that text (3 bytes for 1 before them), in the file or in
    // what standard input gave.
    let dir = tempfile::tempdir().unwrap();
    let rules = new_address_rule(dir.path());
    let bad = read("x1", T0, Some(ALICE), VPS, false).replace("prod/db", "prod/d#");
    let mut doc = format!(
        "{{\"Records\":[\n{bad},\n{},\n{}\n]}}\n",
        read("x2", T0 + 2 * DAY, Some(ALICE), ACME, false),
        read("x3", T0 + 3 * DAY, Some(BOB), ACME, false)
    )
    .into_bytes();
    let at = doc.windows(2).position(|w| w == b"\\u").unwrap_or(0);
    assert_eq!(at, 0, "no escape in the test's records");
    let i = doc.windows(7).position(|w| w == b"prod/d#").unwrap() + 6;
    doc[i] = 0xFF;
    std::fs::write(dir.path().join("c.json"), &doc).unwrap();
    let rules = rules.to_str().unwrap();
    // The file is read again; standard input, which cannot be, keeps those records' texts.
    let file = ["scan", "--rules", rules, dir.path().to_str().unwrap()];
    for (args, stdin, name) in [
        (&file[..], None, "c.json"),
        (&["scan", "--rules", rules][..], Some(&doc[..]), "-"),
    ] {
        let o = crate::support::run(args, stdin);
        assert_eq!(o.status.code(), Some(1), "bad bytes are said: {}", text(&o));
        assert!(text(&o).contains("invalid UTF-8"), "{}", text(&o));
        let m = crate::support::matches(&o);
        let got: Vec<(&str, &str, &str)> = m
            .iter()
            .map(|x| {
                let loc = x["location"].as_str().unwrap();
                let name = x["eventName"].as_str().unwrap_or("(none)");
                (
                    x["eventID"].as_str().unwrap(),
                    name,
                    loc.rsplit('/').next().unwrap(),
                )
            })
            .collect();
        let (at1, at2) = (format!("{name}:1[1]"), format!("{name}:1[2]"));
        assert_eq!(
            got,
            [
                ("x2", "GetSecretValue", at1.as_str()),
                ("x3", "GetSecretValue", at2.as_str())
            ],
            "{}",
            text(&o)
        );
    }
}

#[test]
fn scan_gives_each_alert_its_own_record_and_place_when_event_ids_repeat_or_lack() {
    // Sample sets reuse event IDs ("1") and some records have none: each alert still carries
    // its own match's record and location (not another match's with the same ID).
    let dir = tempfile::tempdir().unwrap();
    let rules = new_address_rule(dir.path());
    let d2 = T0 + 2 * DAY;
    let lines = [
        read("1", T0, Some(ALICE), VPS, false),
        read("1", d2, Some(BOB), VPS, false),
        read("1", d2 + 60_000, Some(CAROL), ACME, false),
        read("1", d2 + 120_000, Some(CAROL), ACME, false), // known: carol on ACME a minute ago
        read("X", d2 + 180_000, Some(DAVE), VPS, false).replace(r#""eventID":"X","#, ""),
    ];
    let file = dir.path().join("a.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let o = crate::support::run(
        &[
            "scan",
            "--rules",
            rules.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let got: Vec<(String, String)> = crate::support::matches(&o)
        .iter()
        .map(|x| {
            let loc = x["location"].as_str().unwrap().rsplit('/').next().unwrap();
            (
                x["principalArn"].as_str().unwrap_or("(none)").to_string(),
                loc.to_string(),
            )
        })
        .collect();
    let want = [
        (BOB, "a.jsonl:2"),
        (CAROL, "a.jsonl:3"),
        (DAVE, "a.jsonl:5"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, l)| (a.to_string(), l.to_string()))
        .collect();
    assert_eq!(got, want, "{}", text(&o));
}
