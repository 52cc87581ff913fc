//! Quieting noise, through the binary: a silence added while the daemon runs quiets matching
//! events from the next poll while others still alert, and ends; trailwatch's own alerts
//! cannot be silenced; an expired exception warns and no longer applies; a shadow rule
//! delivers nothing and is in the history; replay counts what `scan` finds; the history
//! survives a restart and a kill -9.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::support::servers::Receiver;
use crate::support::{
    bin, corpus, delivery_file, files_config, run, spawn_run, stderr, stdout, text, write_old, T0,
};

/// A CreateUser record by `user` from `ip`.
fn created_by(id: &str, user: &str, ip: &str, ms: i64) -> String {
    let t = jiff::Timestamp::from_millisecond(ms).unwrap().to_string();
    json!({
        "eventVersion": "1.08", "eventID": id, "eventTime": t, "eventName": "CreateUser",
        "eventSource": "iam.amazonaws.com", "eventType": "AwsApiCall", "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333", "sourceIPAddress": ip, "userAgent": "aws-cli/2",
        "userIdentity": {"type": "IAMUser", "userName": user,
                         "arn": format!("arn:aws:iam::111122223333:user/{user}")},
        "requestParameters": {"userName": format!("new-{id}")}
    })
    .to_string()
}

fn hook_sink(url: &str) -> String {
    format!("[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nurl = \"{url}\"\nmax_per_second = 0\nstorm_after = 0\nretry_initial = \"50ms\"\n")
}

/// `trailwatch ARGS --config CFG`.
fn tw(cfg: &Path, args: &[&str]) -> std::process::Output {
    bin().args(args).arg("--config").arg(cfg).output().unwrap()
}

/// The history's alerts as JSON objects.
fn history(cfg: &Path) -> Vec<serde_json::Value> {
    let o = tw(cfg, &["alerts", "list", "--json", "--since", "1d"]);
    assert!(o.status.success(), "{}", text(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_silence_added_while_running_quiets_its_records_from_the_next_poll_and_ends() {
    let r = Receiver::start(0, vec![]);
    let (dir, cfg) = files_config(
        &[],
        "group_window = \"0s\"\nhealth_after = \"2s\"",
        &hook_sink(&r.url),
    );
    let (_d, mut logs) = spawn_run(&cfg);
    logs.until("trailwatch running", Duration::from_secs(20));
    let o = tw(
        &cfg,
        &[
            "silence",
            "add",
            "--rule",
            "iam-user-lifecycle",
            "--match",
            "userIdentity.userName=ci-bot",
            "--match",
            "sourceIPAddress=203.0.113.9",
            "--for",
            "8s",
            "--reason",
            "CI rotates its users today",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let id = stdout(&o).trim().to_string();
    assert!(id.parse::<u64>().is_ok(), "{}", text(&o));
    logs.until(&format!("silence {id} added"), Duration::from_secs(10));
    let listed = stdout(&tw(&cfg, &["silence", "list"]));
    assert!(
        listed.contains("userIdentity.userName=ci-bot, sourceIPAddress=203.0.113.9")
            && listed.contains("CI rotates its users today"),
        "{listed}"
    );
    // ci-bot from its address is quiet; ci-bot from elsewhere and eve still alert.
    write_old(
        &dir.path().join("trail/f2.json"),
        &delivery_file(&[
            created_by("quiet-1", "ci-bot", "203.0.113.9", T0),
            created_by("loud-1", "ci-bot", "198.51.100.7", T0 + 1),
            created_by("loud-2", "eve", "203.0.113.9", T0 + 2),
        ]),
    );
    assert!(r.wait_ok(2, Duration::from_secs(20)), "{:?}", r.event_ids());
    let h = history(&cfg);
    let status = |id: &str| {
        h.iter()
            .find(|e| e["alert"]["eventID"] == id)
            .map(|e| e["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("quiet-1").as_deref(), Some("silenced"), "{h:?}");
    assert_eq!(status("loud-1").as_deref(), Some("delivered"));
    assert_eq!(status("loud-2").as_deref(), Some("delivered"));
    // The silence ends, is said, and the next match is delivered.
    logs.until(&format!("silence {id} ended"), Duration::from_secs(30));
    write_old(
        &dir.path().join("trail/f3.json"),
        &delivery_file(&[created_by("after-1", "ci-bot", "203.0.113.9", T0 + 3)]),
    );
    assert!(r.wait_ok(3, Duration::from_secs(20)), "{:?}", r.event_ids());
    let mut ids = r.event_ids();
    ids.sort();
    assert_eq!(ids, ["after-1", "loud-1", "loud-2"]);
}

#[test]
fn silences_refuse_own_alerts_unknown_rules_and_no_end() {
    let (_dir, cfg) = files_config(&[], "", "[[sinks]]\nname = \"out\"\ntype = \"console\"\n");
    let add = |rule: &str, dur: &str| {
        tw(
            &cfg,
            &[
                "silence", "add", "--rule", rule, "--for", dur, "--reason", "r",
            ],
        )
    };
    let o = add("trailwatch-*", "1h");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("own alerts") && stderr(&o).contains("cannot be silenced"),
        "{}",
        stderr(&o)
    );
    let o = add("trailwatch-health", "1h");
    assert_eq!(o.status.code(), Some(2));
    let o = add("iam-user-lifecyle", "1h");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("names no rule"), "{}", stderr(&o));
    let o = add("iam-*", "31d");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("at most 30d"), "{}", stderr(&o));
    let o = tw(
        &cfg,
        &[
            "silence",
            "add",
            "--rule",
            "root-usage",
            "--match",
            "userName",
            "--for",
            "1h",
            "--reason",
            "r",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not PATH=VALUE"), "{}", stderr(&o));
    // Without a daemon, the state itself takes it; remove takes it back.
    let o = add("iam-*", "1h");
    assert!(o.status.success(), "{}", text(&o));
    let id = stdout(&o).trim().to_string();
    assert!(stdout(&tw(&cfg, &["silence", "list"])).contains("iam-*"));
    assert!(tw(&cfg, &["silence", "remove", &id]).status.success());
    assert_eq!(stdout(&tw(&cfg, &["silence", "list"])), "no silences\n");
    assert_eq!(tw(&cfg, &["silence", "remove", &id]).status.code(), Some(2));
}

#[test]
fn an_exception_applies_until_it_ends_and_check_says_which_ended() {
    let r = Receiver::start(0, vec![]);
    let (_dir, cfg) = files_config(
        &[
            created_by("ci-1", "ci-bot", "203.0.113.9", T0),
            created_by("old-1", "migrator", "203.0.113.9", T0 + 1),
            created_by("eve-1", "eve", "203.0.113.9", T0 + 2),
        ],
        "group_window = \"0s\"\n[vars]\nautomation = [\"ci-bot\", \"deployer\"]\n\n[[rules]]\nname = \"iam-user-lifecycle\"\nexceptions = [\n  { match = { \"userIdentity.userName\" = \"${automation}\" }, until = \"2099-12-31\", reason = \"CI creates users\" },\n  { match = { \"userIdentity.userName\" = \"migrator\" }, until = \"2020-01-31\", reason = \"the 2019 migration\" },\n]\n",
        &hook_sink(&r.url),
    );
    let o = tw(&cfg, &["check", "--skip-secrets"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        out.contains("exception of rule 'iam-user-lifecycle' until 2100-01-01 00:00 UTC (userIdentity.userName=ci-bot|deployer): CI creates users"),
        "{out}"
    );
    assert!(
        out.contains("warning: the exception of rule 'iam-user-lifecycle' (userIdentity.userName=migrator) ended 2020-02-01 00:00 UTC and no longer applies: the 2019 migration"),
        "{out}"
    );
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let mut ids = r.event_ids();
    ids.sort();
    assert_eq!(
        ids,
        ["eve-1", "old-1"],
        "the ended exception no longer applies"
    );
    let h = history(&cfg);
    let ci = h.iter().find(|e| e["alert"]["eventID"] == "ci-1").unwrap();
    assert_eq!(ci["status"], "excepted");
    assert_eq!(ci["reason"], "CI creates users");
    let shown = stdout(&tw(&cfg, &["alerts", "show", &ci["id"].to_string()]));
    assert!(
        shown.contains("excepted by its rule: CI creates users"),
        "{shown}"
    );
}

#[test]
fn an_unreadable_record_is_alerted_though_an_exception_names_its_user_and_the_log_says_why() {
    let r = Receiver::start(0, vec![]);
    let (dir, cfg) = files_config(
        &[created_by("ci-1", "ci-bot", "203.0.113.9", T0)],
        "group_window = \"0s\"\n[[rules]]\nname = \"iam-user-lifecycle\"\nexceptions = [\n  { match = { \"userIdentity.userName\" = \"ci-bot\" }, until = \"2099-12-31\", reason = \"CI creates users\" },\n]\n",
        &hook_sink(&r.url),
    );
    // The same user's record, with a syntax error: a possible match, whose fields no
    // exception can test.
    let broken =
        created_by("broken-1", "ci-bot", "203.0.113.9", T0 + 1).replacen('{', "{\"x\":tru,", 1);
    write_old(&dir.path().join("trail/b.jsonl"), &format!("{broken}\n"));
    let o = tw(&cfg, &["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(r.event_ids(), ["broken-1"], "the readable one is excepted");
    let err = stderr(&o);
    assert!(
        err.lines().any(|l| l.contains("broken-1")
            && l.contains("alert not quieted though its rule has exceptions or silences: its record cannot be read")
            && l.contains("they test its fields: the exception userIdentity.userName=ci-bot (\"CI creates users\")")),
        "{err}"
    );
    let h = history(&cfg);
    let ci = h.iter().find(|e| e["alert"]["eventID"] == "ci-1").unwrap();
    assert_eq!(ci["status"], "excepted", "{h:?}");
}

#[test]
fn a_shadow_rule_delivers_nothing_and_is_in_the_history() {
    let r = Receiver::start(0, vec![]);
    let (_dir, cfg) = files_config(
        &[created_by("cu-1", "eve", "203.0.113.9", T0)],
        "group_window = \"0s\"\nrule_packs = [{ name = \"default\", mode = \"shadow\" }]",
        &hook_sink(&r.url),
    );
    let o = tw(&cfg, &["check", "--skip-secrets"]);
    assert!(
        stdout(&o).contains("rule 'iam-user-lifecycle' runs in shadow mode"),
        "{}",
        text(&o)
    );
    let listed = stdout(&tw(&cfg, &["rules", "list"]));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("iam-user-lifecycle") && l.contains("shadow")),
        "{listed}"
    );
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(r.received().is_empty(), "a shadow rule sends nothing");
    let h = history(&cfg);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(
        (h[0]["alert"]["eventID"].as_str(), h[0]["status"].as_str()),
        (Some("cu-1"), Some("shadow"))
    );
    let report = stdout(&tw(&cfg, &["report", "--since", "1d"]));
    assert!(report.contains("1 shadow"), "{report}");
}

#[test]
fn replay_counts_what_scan_finds_and_what_exceptions_remove() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let invictus = corpus();
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}/state\"\nrule_packs = [\"default\", \"threats\"]\n[[sources]]\nname = \"archive\"\ntype = \"files\"\npath = \"{}\"\n\n[[rules]]\nname = \"iam-user-lifecycle\"\nexceptions = [{{ match = {{ \"userIdentity.type\" = \"IAMUser\" }}, until = \"2099-01-01\", reason = \"people create users here\" }}]\n\n[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
            dir.path().display(),
            invictus.display()
        ),
    )
    .unwrap();
    let o = tw(&cfg, &["rules", "replay", "--since", "5000d", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let replayed: std::collections::BTreeMap<String, (u64, u64)> = stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let n = |k: &str| v["by_status"][k].as_u64().unwrap_or(0);
            (
                v["rule"].as_str().unwrap().to_string(),
                (v["total"].as_u64().unwrap(), n("excepted")),
            )
        })
        .collect();
    // scan with the same rules: each event and rule once.
    let o = run(
        &[
            "scan",
            "--rules",
            cfg.to_str().unwrap(),
            invictus.to_str().unwrap(),
        ],
        None,
    );
    let mut scanned =
        std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for l in stdout(&o).lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        scanned
            .entry(v["rule"].as_str().unwrap().to_string())
            .or_default()
            .insert(v["eventID"].as_str().unwrap().to_string());
    }
    assert!(!scanned.is_empty(), "the corpus sets rules off");
    let counts: std::collections::BTreeMap<String, u64> = scanned
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    let totals: std::collections::BTreeMap<String, u64> =
        replayed.iter().map(|(k, v)| (k.clone(), v.0)).collect();
    assert_eq!(totals, counts);
    let (iam_total, iam_excepted) = replayed
        .get("iam-user-lifecycle")
        .copied()
        .unwrap_or_default();
    assert!(iam_total > 0 && iam_excepted == iam_total, "{replayed:?}");
    let o = tw(&cfg, &["rules", "replay", "--since", "5000d"]);
    let table = stdout(&o);
    assert!(
        table.contains("(nothing was sent)") && table.contains("BUSIEST DAY"),
        "{table}"
    );
    // Messages, one per event: as many as the events scan found that would alert.
    let alerting: std::collections::BTreeSet<&String> = scanned
        .iter()
        .filter(|(rule, _)| *rule != "iam-user-lifecycle")
        .flat_map(|(_, ids)| ids)
        .collect();
    let first = table.lines().next().unwrap();
    assert!(
        first.contains(&format!("({} messages: one per event", alerting.len())),
        "{first}"
    );
    // Times to the second, without nanoseconds.
    let window = first.strip_prefix("replay from ").unwrap();
    let times: Vec<&str> = window.split(" UTC").take(2).collect();
    for t in times {
        let t = t.trim_start_matches(" to ");
        assert_eq!(t.len(), "2026-12-07 11:00:00".len(), "{first}");
    }
}

#[test]
fn the_history_survives_a_restart_and_a_kill() {
    let r = Receiver::start(0, vec![]);
    let (dir, cfg) = files_config(
        &[created_by("h-1", "eve", "203.0.113.9", T0)],
        "group_window = \"0s\"",
        &hook_sink(&r.url),
    );
    let (mut d, mut logs) = spawn_run(&cfg);
    logs.until("trailwatch running", Duration::from_secs(20));
    assert!(r.wait_ok(1, Duration::from_secs(20)));
    // Through the running daemon's socket.
    let live = history(&cfg);
    assert_eq!(live.len(), 1, "{live:?}");
    let id = live[0]["id"].to_string();
    // Its delivery is recorded once the worker has written it: wait for it through the socket.
    assert!(crate::support::eventually(
        || history(&cfg)[0]["status"] == "delivered",
        Duration::from_secs(10)
    ));
    crate::support::signal(&d.0, 9);
    d.0.wait().unwrap();
    // The daemon is gone (its socket left behind): the state answers.
    let after = history(&cfg);
    assert_eq!(
        (after.len(), after[0]["status"].as_str()),
        (1, Some("delivered")),
        "{after:?}"
    );
    let shown = stdout(&tw(&cfg, &["alerts", "show", &id]));
    assert!(shown.contains("sink hook: delivered at"), "{shown}");
    // The list shows when the event happened (it was raised today).
    let listed = stdout(&tw(&cfg, &["alerts", "list", "--since", "1d"]));
    assert!(
        listed.contains("EVENT TIME (UTC)") && listed.contains("2026-11-22 00:00"),
        "{listed}"
    );
    // The record is shown as readable JSON, one member a line.
    assert!(
        shown.contains("record:\n{\n  \"awsRegion\": \"us-east-1\",\n")
            && !shown.contains("\\u{a}"),
        "{shown}"
    );
    // Restarted: the same history, and a new alert beside it.
    let (_d2, mut logs2) = spawn_run(&cfg);
    logs2.until("trailwatch running", Duration::from_secs(20));
    write_old(
        &dir.path().join("trail/f2.json"),
        &delivery_file(&[created_by("h-2", "eve", "203.0.113.9", T0 + 1)]),
    );
    assert!(r.wait_ok(2, Duration::from_secs(20)));
    let both: Vec<String> = history(&cfg)
        .iter()
        .map(|e| e["alert"]["eventID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(both, ["h-1", "h-2"]);
    assert_eq!(r.event_ids().len(), 2, "nothing sent twice");
}

#[test]
fn a_history_longer_than_a_page_is_listed_whole_from_the_daemon_and_from_the_state() {
    let now = jiff::Timestamp::now().as_millisecond();
    let records: Vec<String> = (0..1_234)
        .map(|i| {
            created_by(
                &format!("e{i:04}"),
                "alice",
                "203.0.113.9",
                now - 60_000 + i,
            )
        })
        .collect();
    let (_dir, cfg) = files_config(
        &records,
        "group_window = \"0s\"",
        "[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
    );
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // From the state (no daemon), then through a running daemon's socket: each alert once,
    // in order, across the pages.
    let listed = |h: Vec<serde_json::Value>| {
        let ids: Vec<u64> = h.iter().map(|e| e["id"].as_u64().unwrap()).collect();
        // People type them: one by one from 1, in order.
        assert_eq!(ids, (1..=1_234).collect::<Vec<u64>>());
    };
    listed(history(&cfg));
    let o = tw(&cfg, &["alerts", "list", "--since", "1d"]);
    assert_eq!(
        stdout(&o).lines().count(),
        1 + 1_234,
        "a header and every alert"
    );
    let (_d, mut logs) = spawn_run(&cfg);
    logs.until("trailwatch running", Duration::from_secs(20));
    listed(history(&cfg));
    let o = tw(&cfg, &["report", "--since", "1d"]);
    assert!(
        stdout(&o).contains("alerts raised since") && stdout(&o).contains(": 1234 ("),
        "{}",
        text(&o)
    );
}

#[test]
fn a_silence_on_a_member_no_record_has_is_refused_and_one_the_caller_writes_warned() {
    let (_dir, cfg) = files_config(&[], "", "[[sinks]]\nname = \"out\"\ntype = \"console\"\n");
    let add = |m: &str| {
        tw(
            &cfg,
            &[
                "silence",
                "add",
                "--rule",
                "iam-user-lifecycle",
                "--match",
                m,
                "--for",
                "1h",
                "--reason",
                "test",
            ],
        )
    };
    let o = add("userIdentity.typo=Root");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("userIdentity has no member 'typo'"),
        "{}",
        text(&o)
    );
    let o = add("eventname=CreateUser");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = add("userAgent=ci-bot/1.0");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(stdout(&o).trim(), "1", "the first silence is 1");
    assert!(
        stderr(&o).contains("warning: --match userAgent: the caller writes it")
            && stderr(&o).contains("add a condition AWS writes"),
        "{}",
        text(&o)
    );
    let o = add("userIdentity.arn=arn:aws:iam::111122223333:user/ci");
    assert!(
        o.status.success() && !stderr(&o).contains("warning"),
        "{}",
        text(&o)
    );
    // Another process, the state opened again: the next one is 2 (sled's ids jump by a
    // million after a restart; people type these).
    assert_eq!(stdout(&o).trim(), "2", "{}", text(&o));
}
