//! Acceptance on real CloudTrail data: the default pack finds exactly the corpus's 8 IAM user
//! creations and deletions and no root usage; every CIS rule finds exactly the records a
//! straightforward, independent evaluation of its pattern finds.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::*;
use serde_json::Value;

#[test]
fn default_pack_finds_the_eight_iam_user_events_and_no_root_usage() {
    let out = run(&["scan", corpus().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = matches(&out);
    assert_eq!(m.len(), 8);
    assert!(m.iter().all(|x| x["rule"] == "iam-user-lifecycle"));
    let names: BTreeMap<String, usize> = m.iter().fold(BTreeMap::new(), |mut acc, x| {
        *acc.entry(x["eventName"].as_str().unwrap().to_string())
            .or_default() += 1;
        acc
    });
    assert_eq!(
        names,
        BTreeMap::from([("CreateUser".into(), 4), ("DeleteUser".into(), 4)])
    );
    for x in &m {
        for k in [
            "eventID",
            "eventTime",
            "eventSource",
            "awsRegion",
            "recipientAccountId",
            "principalArn",
        ] {
            assert!(x[k].is_string(), "{k} missing in {x}");
        }
    }
}

fn s<'a>(r: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(r, |v, k| v.get(k))?.as_str()
}

fn name_in(r: &Value, names: &[&str]) -> bool {
    s(r, &["eventName"]).is_some_and(|n| names.contains(&n))
}

fn source_is(r: &Value, src: &str) -> bool {
    s(r, &["eventSource"]) == Some(src)
}

/// The CIS patterns, each written out by hand over serde_json values.
fn cis_truth(rule: &str, r: &Value) -> bool {
    match rule {
        "root-usage" => {
            s(r, &["userIdentity", "type"]) == Some("Root")
                && r["userIdentity"].get("invokedBy").is_none()
                && s(r, &["eventType"]).is_some_and(|t| t != "AwsServiceEvent")
        }
        "unauthorized-api-calls" => s(r, &["errorCode"])
            .is_some_and(|c| c.ends_with("UnauthorizedOperation") || c.starts_with("AccessDenied")),
        "console-signin-without-mfa" => {
            s(r, &["eventName"]) == Some("ConsoleLogin")
                && s(r, &["additionalEventData", "MFAUsed"]).is_some_and(|m| m != "Yes")
                && s(r, &["userIdentity", "type"]) == Some("IAMUser")
                && s(r, &["responseElements", "ConsoleLogin"]) == Some("Success")
        }
        "iam-policy-changes" => name_in(
            r,
            &[
                "DeleteGroupPolicy",
                "DeleteRolePolicy",
                "DeleteUserPolicy",
                "PutGroupPolicy",
                "PutRolePolicy",
                "PutUserPolicy",
                "CreatePolicy",
                "DeletePolicy",
                "CreatePolicyVersion",
                "DeletePolicyVersion",
                "AttachRolePolicy",
                "DetachRolePolicy",
                "AttachUserPolicy",
                "DetachUserPolicy",
                "AttachGroupPolicy",
                "DetachGroupPolicy",
            ],
        ),
        "cloudtrail-config-changes" => name_in(
            r,
            &[
                "CreateTrail",
                "UpdateTrail",
                "DeleteTrail",
                "StartLogging",
                "StopLogging",
            ],
        ),
        "console-auth-failures" => {
            s(r, &["eventName"]) == Some("ConsoleLogin")
                && s(r, &["errorMessage"]) == Some("Failed authentication")
        }
        "cmk-disable-or-deletion" => {
            source_is(r, "kms.amazonaws.com") && name_in(r, &["DisableKey", "ScheduleKeyDeletion"])
        }
        "s3-bucket-policy-changes" => {
            source_is(r, "s3.amazonaws.com")
                && name_in(
                    r,
                    &[
                        "PutBucketAcl",
                        "PutBucketPolicy",
                        "PutBucketCors",
                        "PutBucketLifecycle",
                        "PutBucketReplication",
                        "DeleteBucketPolicy",
                        "DeleteBucketCors",
                        "DeleteBucketLifecycle",
                        "DeleteBucketReplication",
                    ],
                )
        }
        "config-changes" => {
            source_is(r, "config.amazonaws.com")
                && name_in(
                    r,
                    &[
                        "StopConfigurationRecorder",
                        "DeleteDeliveryChannel",
                        "PutDeliveryChannel",
                        "PutConfigurationRecorder",
                    ],
                )
        }
        "security-group-changes" => name_in(
            r,
            &[
                "AuthorizeSecurityGroupIngress",
                "AuthorizeSecurityGroupEgress",
                "RevokeSecurityGroupIngress",
                "RevokeSecurityGroupEgress",
                "CreateSecurityGroup",
                "DeleteSecurityGroup",
            ],
        ),
        "nacl-changes" => name_in(
            r,
            &[
                "CreateNetworkAcl",
                "CreateNetworkAclEntry",
                "DeleteNetworkAcl",
                "DeleteNetworkAclEntry",
                "ReplaceNetworkAclEntry",
                "ReplaceNetworkAclAssociation",
            ],
        ),
        "network-gateway-changes" => name_in(
            r,
            &[
                "CreateCustomerGateway",
                "DeleteCustomerGateway",
                "AttachInternetGateway",
                "CreateInternetGateway",
                "DeleteInternetGateway",
                "DetachInternetGateway",
            ],
        ),
        "route-table-changes" => name_in(
            r,
            &[
                "CreateRoute",
                "CreateRouteTable",
                "ReplaceRoute",
                "ReplaceRouteTableAssociation",
                "DeleteRouteTable",
                "DeleteRoute",
                "DisassociateRouteTable",
            ],
        ),
        "vpc-changes" => name_in(
            r,
            &[
                "CreateVpc",
                "DeleteVpc",
                "ModifyVpcAttribute",
                "AcceptVpcPeeringConnection",
                "CreateVpcPeeringConnection",
                "DeleteVpcPeeringConnection",
                "RejectVpcPeeringConnection",
                "AttachClassicLinkVpc",
                "DetachClassicLinkVpc",
                "DisableVpcClassicLink",
                "EnableVpcClassicLink",
            ],
        ),
        other => panic!("no independent evaluation for {other}"),
    }
}

#[test]
fn cis_pack_agrees_with_an_independent_evaluation_rule_by_rule() {
    let tsv = std::fs::read_to_string(corpus().join("../../reference/cis-cloudwatch-filters.tsv"))
        .unwrap();
    let names: Vec<&str> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(names.len(), 14);
    let out = run(
        &["scan", "--rules", "cis", corpus().to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in matches(&out) {
        got.entry(m["rule"].as_str().unwrap().into())
            .or_default()
            .insert(m["eventID"].as_str().unwrap().into());
    }
    let records = corpus_records();
    assert_eq!(records.len(), 2900);
    let mut total = 0;
    for name in names {
        let want: BTreeSet<String> = records
            .iter()
            .filter(|r| cis_truth(name, r))
            .map(|r| r["eventID"].as_str().unwrap().to_string())
            .collect();
        total += want.len();
        assert_eq!(got.remove(name).unwrap_or_default(), want, "rule {name}");
    }
    assert!(
        got.is_empty(),
        "matches for rules outside the pack: {got:?}"
    );
    assert!(
        total > 100,
        "the corpus exercises the pack ({total} matches)"
    );
}

#[test]
fn cis_patterns_are_the_reference_patterns_verbatim() {
    let tsv = std::fs::read_to_string(corpus().join("../../reference/cis-cloudwatch-filters.tsv"))
        .unwrap();
    let out = run(&["rules", "list", "--json", "--rules", "cis"], None);
    let listed: BTreeMap<String, String> = stdout(&out)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["name"].as_str().unwrap().to_string(),
                v["pattern"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            listed.get(cols[1]).map(String::as_str),
            Some(cols[3]),
            "{}",
            cols[1]
        );
    }
}

#[test]
fn prefilter_never_changes_a_verdict_on_the_corpus() {
    // The invictus records, and the panther samples' records (one per line: many APIs, made to
    // trip detections) under every pack and the Sigma rules (regular expressions included).
    let dir = tempfile::tempdir().unwrap();
    let samples = corpus().join("../panther-cloudtrail-samples/samples.jsonl");
    let records: String = std::fs::read_to_string(samples)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].to_string() + "\n")
        .collect();
    std::fs::write(dir.path().join("panther.jsonl"), records).unwrap();
    // The user agents `tests/sigma/suspicious_tooling.yml`'s regular expression finds, in any
    // case (a Kelvin sign is a `k` to it), and one it does not.
    let agents = ["Kali Linux", "aws-cli/2 PaRRot", "\u{212A}ALI", "kal-i"];
    let tooling: String = agents
        .iter()
        .map(|a| {
            let mut r = corpus_records()[0].clone();
            r["userAgent"] = Value::from(*a);
            r.to_string() + "\n"
        })
        .collect();
    std::fs::write(dir.path().join("tooling.jsonl"), tooling).unwrap();
    let sigma = format!("{}/tests/sigma", env!("CARGO_MANIFEST_DIR"));
    let all = format!("default,cis,threats,{sigma}");
    for input in [corpus(), dir.path().to_path_buf()] {
        for pack in ["default", "cis", all.as_str()] {
            let input = input.to_str().unwrap();
            let a = run(&["scan", "--rules", pack, input], None);
            let b = run(&["scan", "--no-prefilter", "--rules", pack, input], None);
            assert!(
                !stdout(&a).is_empty() || pack != all,
                "{input}: no match at all"
            );
            if pack == all && input.ends_with(dir.path().to_str().unwrap()) {
                let out = stdout(&a);
                let tooling = out.lines().filter(|l| {
                    l.contains(r#""rule":"suspicious_tooling""#) && l.contains("tooling.jsonl:")
                });
                assert_eq!(tooling.count(), 3, "{out}");
            }
            assert_eq!(stdout(&a), stdout(&b), "pack {pack} on {input}");
        }
    }
}

#[test]
fn a_line_no_rule_can_match_is_passed_by_whatever_lines_come_before_it() {
    // `scan` stops asking the finder where the next hit is once many lines in a row held one.
    // A line with bad bytes and no rule's literal is still passed by unread there (no note, exit
    // status 0), as it is after lines without hits; one with a literal is read, and said.
    let dir = tempfile::tempdir().unwrap();
    // `BAD` in a line's text becomes a byte that is not UTF-8.
    let bad = |line: &str| {
        let (a, b) = line.split_once("BAD").unwrap();
        [a.as_bytes(), b"\xff", b.as_bytes()].concat()
    };
    let root = |id: &str, agent: &str| {
        let mut r: Value = serde_json::from_str(r#"{"eventVersion":"1.08","eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","eventType":"AwsConsoleSignIn","eventTime":"2026-01-01T00:00:00Z","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root"}}"#).unwrap();
        r["eventID"] = Value::from(id);
        r["userAgent"] = Value::from(agent);
        r.to_string()
    };
    let plain = bad(r#"{"eventName":"DescribeInstances","userAgent":"xBAD"}"#);
    let many: Vec<Vec<u8>> = (0..12)
        .map(|i| root(&format!("r{i}"), "ok").into())
        .collect();
    let file = |name: &str, lines: Vec<Vec<u8>>| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join(&b'\n')).unwrap();
        path.to_str().unwrap().to_string()
    };
    for (name, before) in [("after-hits.jsonl", many.clone()), ("first.jsonl", vec![])] {
        let lines = [before, vec![plain.clone(), root("last", "ok").into()]].concat();
        let path = file(name, lines);
        let o = run(&["scan", "--rules", "default", &path], None);
        assert!(o.status.success(), "{name}: {}", text(&o));
        assert!(!text(&o).contains("UTF-8"), "{name}: {}", text(&o));
        assert!(stdout(&o).contains("\"eventID\":\"last\""), "{name}");
    }
    // A root sign-in with a bad byte, after the hits: read (with U+FFFD), matched and said.
    let lines = [many, vec![bad(&root("bad-root", "BAD"))]].concat();
    let path = file("bad-root.jsonl", lines);
    let o = run(&["scan", "--rules", "default", &path], None);
    assert!(
        text(&o).contains("bad-root.jsonl:13: invalid UTF-8"),
        "{}",
        text(&o)
    );
    assert!(
        stdout(&o).contains("\"eventID\":\"bad-root\""),
        "{}",
        text(&o)
    );
}

#[test]
fn leaving_out_the_members_no_rule_reads_never_changes_a_verdict() {
    // A record's parse leaves out its large members (request, response, TLS, user agent…) when
    // no enabled rule reads them. Here each of them is read by one rule, each in its own way —
    // a pattern, a filter, a Sigma field, an exclusion, a threshold's group, a first-seen
    // field, a headline's target — and each verdict turns on that member. Each rule alone, then
    // all together: the scan must say what `--no-prefilter` (every record parsed whole) says,
    // and what is written here. A record's parse leaves out what none of the rules it may match
    // (the prefilter's candidates) reads: together, a rule that is a candidate for every
    // record (and matches none) comes first, and must not make the others' members be left out.
    let dir = tempfile::tempdir().unwrap();
    let rules = [
        (
            "bucket",
            r#"event_pattern = '''{"detail":{"requestParameters":{"bucketName":["secret-bucket"]}}}'''"#,
        ),
        (
            "answer",
            r#"filter = '''{ $.responseElements.ConsoleLogin = "Success" }'''"#,
        ),
        (
            "tls-excluded",
            r#"event_pattern = '''{"detail":{"eventName":["GetObject"]}}'''
exclude = ['''{"detail":{"tlsDetails":{"tlsVersion":["TLSv1.3"]}}}''']"#,
        ),
        (
            "per-agent",
            r#"event_pattern = '''{"detail":{"eventName":["ListBuckets"]}}'''
threshold = 2
period = "10m"
group_by = ["userAgent"]"#,
        ),
        (
            "new-secret",
            r#"event_pattern = '''{"detail":{"eventName":["GetSecretValue"]}}'''
first_seen = { fields = ["requestParameters.secretId"], window = "30d", learn = "1m" }"#,
        ),
        (
            "named",
            r#"event_pattern = '''{"detail":{"eventName":["DeleteUser"]}}'''
[rules.events.DeleteUser]
title = "user {target} deleted""#,
        ),
    ];
    let mut sets = Vec::new();
    let mut all = String::new();
    for (name, body) in rules {
        all += &format!("[[rules]]\nname = \"{name}\"\n{body}\n");
        let file = dir.path().join(format!("{name}.toml"));
        let text = format!("rule_packs = []\n[[rules]]\nname = \"{name}\"\n{body}\n");
        std::fs::write(&file, text).unwrap();
        sets.push(file.display().to_string());
    }
    let sigma = dir.path().join("sigma");
    std::fs::create_dir(&sigma).unwrap();
    std::fs::write(
        sigma.join("no_mfa.yml"),
        "title: No MFA\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n    \
         selection:\n        additionalEventData.MFAUsed: 'No'\n    condition: selection\n",
    )
    .unwrap();
    sets.push(sigma.display().to_string());
    let wide = r#"[[rules]]
name = "wide"
event_pattern = '''{"detail":{"eventType":["AwsApiCall"],"eventName":[{"anything-but":["PutObject","ConsoleLogin","GetObject","ListBuckets","GetSecretValue","DeleteUser"]}]}}'''
"#;
    let wide_file = dir.path().join("wide.toml");
    std::fs::write(&wide_file, format!("rule_packs = []\n{wide}")).unwrap();
    all = format!("{wide}{all}");
    let together = std::iter::once(wide_file.display().to_string()).chain(sets.iter().cloned());
    sets.push(together.collect::<Vec<_>>().join(","));
    let records = [
        (
            "PutObject",
            r#""requestParameters":{"bucketName":"secret-bucket"}"#,
            0,
        ),
        (
            "PutObject",
            r#""requestParameters":{"bucketName":"other"}"#,
            0,
        ),
        (
            "ConsoleLogin",
            r#""responseElements":{"ConsoleLogin":"Success"}"#,
            0,
        ),
        (
            "ConsoleLogin",
            r#""responseElements":{"ConsoleLogin":"Failure"}"#,
            0,
        ),
        (
            "ConsoleLogin",
            r#""additionalEventData":{"MFAUsed":"No"}"#,
            0,
        ),
        ("GetObject", r#""tlsDetails":{"tlsVersion":"TLSv1.3"}"#, 0),
        ("GetObject", r#""tlsDetails":{"tlsVersion":"TLSv1.2"}"#, 0),
        ("ListBuckets", r#""userAgent":"a""#, 0),
        ("ListBuckets", r#""userAgent":"b""#, 1),
        ("ListBuckets", r#""userAgent":"a""#, 2),
        (
            "GetSecretValue",
            r#""requestParameters":{"secretId":"s1"}"#,
            0,
        ),
        (
            "GetSecretValue",
            r#""requestParameters":{"secretId":"s1"}"#,
            120,
        ),
        (
            "GetSecretValue",
            r#""requestParameters":{"secretId":"s2"}"#,
            180,
        ),
        ("DeleteUser", r#""requestParameters":{"userName":"bob"}"#, 0),
    ];
    let lines: String = (records.iter().enumerate())
        .map(|(i, (name, member, minute))| {
            format!(
                r#"{{"eventVersion":"1.08","eventID":"e{i}","eventName":"{name}","eventSource":"x.amazonaws.com","eventTime":"2026-01-01T{:02}:{:02}:00Z","awsRegion":"us-east-1","recipientAccountId":"111122223333","eventType":"AwsApiCall","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u"}},{member}}}"#,
                10 + minute / 60,
                minute % 60
            ) + "\n"
        })
        .collect();
    let input = dir.path().join("records.jsonl");
    std::fs::write(&input, lines).unwrap();
    // What each set finds: each rule alone its own, all of them together everything.
    let want = [
        ("bucket", "e0"),
        ("answer", "e2"),
        ("tls-excluded", "e6"),
        ("per-agent", "e9"),
        ("new-secret", "e12"),
        ("named", "e13"),
        ("no_mfa", "e4"),
    ];
    for (i, set) in sets.iter().enumerate() {
        let scan = |whole: bool| {
            let mut a = vec!["scan", "--rules", set, input.to_str().unwrap()];
            a.extend(whole.then_some("--no-prefilter"));
            run(&a, None)
        };
        let (left_out, whole) = (scan(false), scan(true));
        assert_eq!(left_out.status.code(), Some(0), "{}", stderr(&left_out));
        assert_eq!(stdout(&left_out), stdout(&whole), "rules {set}");
        let expected = (want.iter()).filter(|_| i == want.len()).chain(want.get(i));
        assert_eq!(
            found(&left_out),
            sorted(expected.copied()),
            "rules {set}: {}",
            stdout(&left_out)
        );
        if let Some(named) = matches(&left_out).iter().find(|m| m["rule"] == "named") {
            assert_eq!(named["title"], "user bob deleted");
        }
    }
    // The daemon's reading (a files source, read again by `backfill`) judges the same.
    let trail = dir.path().join("trail");
    std::fs::create_dir(&trail).unwrap();
    std::fs::copy(&input, trail.join("records.jsonl")).unwrap();
    let cfg = dir.path().join("config.toml");
    let sigma_rule = sigma.join("no_mfa.yml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{d}/state\"\nrule_packs = []\n[[sources]]\nname = \"files\"\ntype = \"files\"\n\
             path = \"{t}\"\n[[sinks]]\nname = \"out\"\ntype = \"console\"\n{all}\
             [[rules]]\nname = \"no_mfa\"\nsigma = \"{s}\"\n",
            d = dir.path().display(),
            t = trail.display(),
            s = sigma_rule.display(),
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let window = [
        "--since",
        "2025-12-01T00:00:00Z",
        "--until",
        "2026-02-01T00:00:00Z",
    ];
    let mut args = vec!["backfill", "--config", cfg, "--output", "json"];
    args.extend(window);
    let back = run(&args, None);
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    let all = sorted(want.iter().copied());
    assert_eq!(found(&back), all, "backfill: {}", stdout(&back));
    let named = matches(&back).into_iter().find(|m| m["rule"] == "named");
    assert_eq!(named.unwrap()["title"], "user bob deleted");
}

/// The (rule, eventID) pairs of a command's JSON lines, sorted.
fn found(o: &std::process::Output) -> Vec<(String, String)> {
    sorted(matches(o).iter().map(|m| {
        let s = |k: &str| m[k].as_str().unwrap();
        (s("rule"), s("eventID"))
    }))
}

fn sorted<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs.map(|(r, e)| (r.into(), e.into())).collect();
    v.sort();
    v
}
