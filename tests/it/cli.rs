//! The command line as a user meets it: every input shape, malformed input, exit codes,
//! `pattern test`, `rules list`, and output that stays one JSON line whatever a record holds.

use std::io::Write;

use crate::support::*;
use serde_json::json;

fn create_user(id: &str) -> serde_json::Value {
    json!({
        "eventVersion": "1.08", "eventID": id, "eventTime": "2024-05-01T00:00:00Z",
        "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "eventType": "AwsApiCall",
        "awsRegion": "us-east-1", "recipientAccountId": "111122223333", "sourceIPAddress": "203.0.113.9",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "userName": "alice"},
        "requestParameters": {"userName": "mallory"}
    })
}

fn root_login(id: &str) -> serde_json::Value {
    json!({
        "eventID": id, "eventTime": "2024-05-01T00:01:00Z", "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn", "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"}
    })
}

fn noise(id: &str) -> serde_json::Value {
    json!({"eventID": id, "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventType": "AwsApiCall",
           "userIdentity": {"type": "IAMUser"}})
}

fn ids(o: &std::process::Output) -> Vec<String> {
    matches(o)
        .iter()
        .map(|m| m["eventID"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn reads_every_input_shape_from_files_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let delivery = json!({"Records": [noise("n1"), create_user("delivery")]}).to_string();
    std::fs::write(d.join("a_delivery.json"), &delivery).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(
        json!({"Records": [create_user("gzipped"), noise("n2")]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/b_delivery.json.gz"), gz.finish().unwrap()).unwrap();
    let lines = format!(
        "{}\n{}\n{}\n",
        noise("n3"),
        root_login("jsonl-root"),
        create_user("jsonl")
    );
    std::fs::write(d.join("c_lines.jsonl"), lines).unwrap();
    std::fs::write(
        d.join("d_pretty.json"),
        serde_json::to_string_pretty(&create_user("pretty")).unwrap(),
    )
    .unwrap();
    let event = json!({"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
                       "account": "111122223333", "region": "us-east-1", "detail": create_user("event")});
    std::fs::write(d.join("e_event.json"), event.to_string()).unwrap();
    let lookup = json!({"Events": [{"EventId": "lookup", "CloudTrailEvent": create_user("lookup").to_string()}]});
    std::fs::write(d.join("f_lookup.json"), lookup.to_string()).unwrap();
    std::fs::write(d.join("notes.txt"), "not CloudTrail").unwrap();
    std::fs::write(
        d.join("x_CloudTrail-Digest_y.json"),
        create_user("digest").to_string(),
    )
    .unwrap();

    let out = run(&["scan", d.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        ids(&out),
        [
            "delivery",
            "jsonl-root",
            "jsonl",
            "pretty",
            "event",
            "lookup",
            "gzipped"
        ]
    );
    let m = matches(&out);
    assert_eq!(m[1]["rule"], "root-usage");
    assert_eq!(m[1]["principalArn"], "arn:aws:iam::111122223333:root");
    assert!(
        m[2]["location"]
            .as_str()
            .unwrap()
            .ends_with("c_lines.jsonl:3"),
        "{}",
        m[2]["location"]
    );
}

#[test]
fn reads_stdin_when_no_path_is_given() {
    let input = format!("{}\n{}\n", noise("a"), create_user("b"));
    let out = run(&["scan"], Some(input.as_bytes()));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(ids(&out), ["b"]);
    let out = run(&["scan", "-"], Some(input.as_bytes()));
    assert_eq!(ids(&out), ["b"]);
}

#[test]
fn malformed_records_are_reported_with_their_location_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.jsonl");
    // Line 2 is truncated; line 4 looks whole but is not JSON, and holds rule literals.
    let text = format!(
        "{}\n{{\"eventID\": \"x\", \"eventName\": \"Crea\n{}\n{{\"eventSource\":\"iam.amazonaws.com\" \"CreateUser\"}}\n",
        create_user("one"),
        create_user("two")
    );
    std::fs::write(&f, text).unwrap();
    let out = run(&["scan", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(ids(&out), ["one", "two"]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:2: malformed record (not a complete JSON object), skipped",
            f.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}:4: malformed record, skipped: expected",
            f.display()
        )),
        "{err}"
    );

    let g = dir.path().join("d.json");
    std::fs::write(
        &g,
        json!({"Records": [create_user("ok"), "CreateUser", create_user("ok2")]}).to_string(),
    )
    .unwrap();
    let out = run(&["scan", g.to_str().unwrap()], None);
    assert_eq!(ids(&out), ["ok", "ok2"]);
    assert!(
        stderr(&out).contains(":1[1]: record is not a JSON object"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreadable_input_exits_1_but_still_scans_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("good.json");
    std::fs::write(&f, create_user("good").to_string()).unwrap();
    let bad = dir.path().join("bad.json.gz");
    std::fs::write(&bad, [0x1f, 0x8b, 0, 1, 2, 3]).unwrap();
    let out = run(
        &[
            "scan",
            "/nonexistent/x.json",
            bad.to_str().unwrap(),
            f.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(ids(&out), ["good"]);
    let err = stderr(&out);
    assert!(err.contains("/nonexistent/x.json: No such file"), "{err}");
    assert!(err.contains("bad.json.gz: not a valid gzip file"), "{err}");
}

#[test]
fn bad_rules_exit_2_with_the_reason() {
    let out = run(&["scan", "--filter", "{ $.a IS NOT NULL }"], Some(b""));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("IS NOT is not supported"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &["scan", "--event-pattern", r#"{"detail":{"state":"x"}}"#],
        Some(b""),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("\"state\" must be an object or an array (at detail.state)"));
    let out = run(&["scan", "--rules", "nosuchpack"], Some(b""));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("built-in packs: default, cis"));
    let out = run(&["scan", "--bogus"], Some(b""));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn adhoc_patterns_replace_the_default_pack() {
    let input = format!(
        "{}\n{}\n{}\n",
        noise("s3"),
        create_user("iam"),
        root_login("root")
    );
    let out = run(
        &["scan", "--filter", "{ $.eventSource = s3.amazonaws.com }"],
        Some(input.as_bytes()),
    );
    assert_eq!(ids(&out), ["s3"]);
    assert_eq!(matches(&out)[0]["rule"], "filter-1");
    let out = run(
        &[
            "scan",
            "--event-pattern",
            r#"{"detail-type":["AWS Console Sign In via CloudTrail"]}"#,
        ],
        Some(input.as_bytes()),
    );
    assert_eq!(ids(&out), ["root"]);
    let out = run(
        &["scan", "--rules", "default", "--filter", "GetObject"],
        Some(input.as_bytes()),
    );
    assert_eq!(ids(&out), ["s3", "iam", "root"]);
}

#[test]
fn escaped_literals_still_match() {
    // `\u0052oot` is "Root": the prefilter must not skip it.
    let text = root_login("esc")
        .to_string()
        .replace("\"Root\"", "\"\\u0052oot\"");
    assert!(text.contains("\\u0052oot"));
    let out = run(&["scan"], Some(text.as_bytes()));
    assert_eq!(ids(&out), ["esc"]);
    let text = create_user("esc2")
        .to_string()
        .replace("CreateUser", "\\u0043reateUser");
    let out = run(&["scan"], Some(text.as_bytes()));
    assert_eq!(ids(&out), ["esc2"]);
}

#[test]
fn hostile_field_values_stay_inside_one_json_line() {
    let mut r = create_user("evil");
    r["userIdentity"]["arn"] = json!("arn\n{\"rule\":\"fake\"}\u{2028}<script>\"");
    r["sourceIPAddress"] = json!("\u{0}\u{1b}[31m");
    let out = run(&["scan"], Some(r.to_string().as_bytes()));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let m = matches(&out);
    assert_eq!(m[0]["principalArn"], r["userIdentity"]["arn"]);
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn pattern_test_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("msg.txt");
    std::fs::write(&msg, "ERROR upstream reset\n").unwrap();
    let t = |args: &[&str]| run(&[&["pattern", "test"], args].concat(), None);
    let o = t(&["--filter", "%reset$%", msg.to_str().unwrap()]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(0), "match\n"),
        "one trailing newline is dropped"
    );
    let o = t(&["--filter", "ERROR -reset", msg.to_str().unwrap()]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(1), "no match\n")
    );
    let o = t(&["--filter", "%(x)%", msg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("parentheses"));

    let ev = dir.path().join("ev.json");
    std::fs::write(
        &ev,
        json!({"source": "aws.iam", "detail": {"eventName": "CreateUser"}}).to_string(),
    )
    .unwrap();
    let o = t(&[
        "--event-pattern",
        r#"{"source":["aws.iam"],"detail":{"eventName":[{"prefix":"Create"}]}}"#,
        ev.to_str().unwrap(),
    ]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "match\n"));
    let o = t(&[
        "--event-pattern",
        r#"{"detail":{"eventName":["DeleteUser"]}}"#,
        ev.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = t(&[
        "--event-pattern",
        r#"{"eventName":["CreateUser"]}"#,
        ev.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the event is not wrapped in an envelope"
    );
    let o = t(&["--event-pattern", "{}", ev.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::write(&ev, "{not json").unwrap();
    let o = t(&["--event-pattern", r#"{"a":[1]}"#, ev.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a JSON event"));
    let o = t(&["--event-pattern", r#"{"a":[1]}"#, "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn rules_list_shows_packs_and_user_rules() {
    let o = run(&["rules", "list"], None);
    let text = stdout(&o);
    assert!(
        text.contains("root-usage") && text.contains("iam-user-lifecycle"),
        "{text}"
    );
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml.example");
    let o = run(&["rules", "list", "--json", "--rules", example], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        ["root-usage", "iam-user-lifecycle", "console-login-failures"]
    );
}

#[test]
fn user_rules_with_exclusions() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rules.toml");
    std::fs::write(
        &cfg,
        r#"
rule_packs = []
[[rules]]
name = "iam-writes"
severity = "high"
event_pattern = '{"source":["aws.iam"],"detail":{"eventName":[{"prefix":"Create"}]}}'
exclude = ['{ $.userIdentity.userName = "alice" }', '{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/8"}]}}']
"#,
    )
    .unwrap();
    let mut bob = create_user("bob");
    bob["userIdentity"]["userName"] = json!("bob");
    let mut internal = create_user("internal");
    internal["userIdentity"]["userName"] = json!("carol");
    internal["sourceIPAddress"] = json!("10.1.2.3");
    let input = format!("{}\n{}\n{}\n", create_user("alice"), bob, internal);
    let out = run(
        &["scan", "--rules", cfg.to_str().unwrap()],
        Some(input.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ids(&out), ["bob"]);
    assert_eq!(matches(&out)[0]["severity"], "high");
}

#[test]
fn the_demo_files_alert_on_root_login_and_iam_user_changes_only() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cloudtrail");
    let out = run(&["scan", demo], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got: Vec<(String, String)> = matches(&out)
        .iter()
        .map(|m| {
            (
                m["rule"].as_str().unwrap().into(),
                m["eventName"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("root-usage", "ConsoleLogin"),
        ("iam-user-lifecycle", "CreateUser"),
        ("iam-user-lifecycle", "DeleteUser"),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
}

#[test]
fn the_demo_needs_nothing_but_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let demo = || {
        crate::support::bin()
            .current_dir(dir.path())
            .args(["demo", "--once", "--dir"])
            .arg(dir.path().join("d"))
            .output()
            .unwrap()
    };
    let o = demo();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let ids: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("eventID: "))
        .collect();
    assert_eq!(ids.len(), 3, "{out}");
    assert!(
        out.contains("IAM user old-contractor deleted by ops-admin"),
        "{out}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("trailwatch demo: watching"));
    // Again on the same folder: it remembers what it alerted on.
    let o = demo();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("eventID: "),
        "{}",
        text(&o)
    );
}
