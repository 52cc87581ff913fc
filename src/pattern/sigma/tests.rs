//! The conformance suite: each case from the Sigma specification (rules 2.x, modifiers 2.1)
//! or a choice it leaves open, as a rule, a record and the verdict.

use serde_json::json;

use super::*;
use crate::pattern::literals::Encoding;
use search::base64_of;

/// A rule's YAML with this detection, on AWS CloudTrail.
fn yaml(detection: &str) -> String {
    format!(
        "title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{}",
        detection
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect::<String>()
    )
}

fn rule(detection: &str) -> SigmaRule {
    let y = yaml(detection);
    SigmaRule::parse(&y).unwrap_or_else(|e| panic!("{e}\n{y}"))
}

/// Why the rule with this detection is refused.
fn refused(detection: &str) -> String {
    SigmaRule::parse(&yaml(detection)).unwrap_err().0
}

#[test]
fn maps_are_and_lists_are_or_and_values_ignore_case() {
    let r = rule("selection:\n  eventSource: iam.amazonaws.com\n  eventName:\n    - CreateUser\n    - DeleteUser\ncondition: selection");
    assert!(r.is_match(&json!({"eventSource": "iam.amazonaws.com", "eventName": "DeleteUser"})));
    assert!(
        r.is_match(&json!({"eventSource": "IAM.amazonaws.com", "eventName": "createuser"})),
        "values are case-insensitive"
    );
    assert!(!r.is_match(&json!({"eventSource": "iam.amazonaws.com", "eventName": "CreateRole"})));
    assert!(
        !r.is_match(&json!({"eventName": "CreateUser"})),
        "a missing field holds no value"
    );
    // A list of maps: any of them.
    let r = rule("selection:\n  - eventName: StopLogging\n  - eventName: DeleteTrail\n    errorCode: null\ncondition: selection");
    assert!(r.is_match(&json!({"eventName": "StopLogging", "errorCode": "AccessDenied"})));
    assert!(r.is_match(&json!({"eventName": "DeleteTrail"})));
    assert!(!r.is_match(&json!({"eventName": "DeleteTrail", "errorCode": "AccessDenied"})));
}

#[test]
fn wildcards_and_escapes_follow_the_specification() {
    let r = rule("selection:\n  userAgent: 'aws-cli/2.*'\n  requestParameters.name: 'prog?.exe'\ncondition: selection");
    assert!(r.is_match(
        &json!({"userAgent": "aws-cli/2.15.0", "requestParameters": {"name": "progA.exe"}})
    ));
    assert!(!r.is_match(
        &json!({"userAgent": "aws-cli/2.15.0", "requestParameters": {"name": "prog.exe"}})
    ));
    let r = rule("selection:\n  a: 'star\\*'\n  b: 'back\\\\*'\ncondition: selection");
    assert!(r.is_match(&json!({"a": "star*", "b": "back\\slash"})));
    assert!(
        !r.is_match(&json!({"a": "starX", "b": "back\\slash"})),
        "an escaped * is a plain *"
    );
}

#[test]
fn null_empty_and_exists_are_distinct() {
    let r = rule("selection:\n  eventName: ConsoleLogin\nfilter:\n  additionalEventData.MFAUsed: null\ncondition: selection and not filter");
    assert!(
        r.is_match(&json!({"eventName": "ConsoleLogin", "additionalEventData": {"MFAUsed": "No"}}))
    );
    assert!(
        !r.is_match(&json!({"eventName": "ConsoleLogin"})),
        "missing is null"
    );
    assert!(
        !r.is_match(
            &json!({"eventName": "ConsoleLogin", "additionalEventData": {"MFAUsed": null}})
        ),
        "null is null"
    );
    let empty = rule("selection:\n  errorCode: ''\ncondition: selection");
    assert!(empty.is_match(&json!({"errorCode": ""})));
    assert!(
        !empty.is_match(&json!({})),
        "'' is an empty string, not a missing field"
    );
    let exists = rule("selection:\n  errorCode|exists: true\ncondition: selection");
    assert!(
        exists.is_match(&json!({"errorCode": null})),
        "exists looks at presence, not value"
    );
    assert!(!exists.is_match(&json!({})));
    let absent = rule("selection:\n  errorCode|exists: false\ncondition: selection");
    assert!(absent.is_match(&json!({})) && !absent.is_match(&json!({"errorCode": "x"})));
    assert!(
        refused("selection:\n  a:\n    - ''\n    - null\ncondition: selection")
            .contains("null cannot be one of several")
    );
}

#[test]
fn modifiers_transform_and_type_values() {
    let m = |d: &str, rec: serde_json::Value| {
        rule(&format!("selection:\n  {d}\ncondition: selection")).is_match(&rec)
    };
    assert!(m(
        "eventName|contains: Policy",
        json!({"eventName": "PutBucketPolicy"})
    ));
    assert!(m(
        "eventName|startswith: Put",
        json!({"eventName": "putbucketpolicy"})
    ));
    assert!(!m(
        "eventName|startswith: Bucket",
        json!({"eventName": "PutBucketPolicy"})
    ));
    assert!(m(
        "eventName|endswith: Policy",
        json!({"eventName": "PutBucketPolicy"})
    ));
    assert!(m(
        "eventName|contains|all: [Put, Policy]",
        json!({"eventName": "PutBucketPolicy"})
    ));
    assert!(!m(
        "eventName|contains|all: [Put, Acl]",
        json!({"eventName": "PutBucketPolicy"})
    ));
    assert!(m(
        "eventName|re: '^Put.*Policy$'",
        json!({"eventName": "PutBucketPolicy"})
    ));
    assert!(
        !m(
            "eventName|re: '^put'",
            json!({"eventName": "PutBucketPolicy"})
        ),
        "re is case-sensitive"
    );
    assert!(m(
        "eventName|re|i: '^put'",
        json!({"eventName": "PutBucketPolicy"})
    ));
    assert!(m(
        "sourceIPAddress|cidr: 10.0.0.0/8",
        json!({"sourceIPAddress": "10.1.2.3"})
    ));
    assert!(!m(
        "sourceIPAddress|cidr: 10.0.0.0/8",
        json!({"sourceIPAddress": "11.1.2.3"})
    ));
    assert!(!m(
        "eventName|cased: createuser",
        json!({"eventName": "CreateUser"})
    ));
    assert!(m(
        "eventName|neq: CreateUser",
        json!({"eventName": "DeleteUser"})
    ));
    assert!(
        m("eventName|neq: CreateUser", json!({})),
        "neq holds on a missing field"
    );
    assert!(!m(
        "eventName|neq: [CreateUser, DeleteUser]",
        json!({"eventName": "deleteuser"})
    ));
    assert!(m(
        "requestParameters.durationSeconds|gt: 3600",
        json!({"requestParameters": {"durationSeconds": 43200}})
    ));
    assert!(!m(
        "requestParameters.durationSeconds|lte: 3600",
        json!({"requestParameters": {"durationSeconds": "43200"}})
    ));
    assert!(m(
        "userIdentity.userName|fieldref: requestParameters.userName",
        json!({"userIdentity": {"userName": "Bob"}, "requestParameters": {"userName": "bob"}})
    ));
    assert!(m(
        "requestParameters.script|base64: whoami",
        json!({"requestParameters": {"script": "d2hvYW1p"}})
    ));
    // base64offset: the text at any offset inside a longer encoded string.
    for i in 0..3 {
        let text = format!("{}whoami and more", " ".repeat(i));
        let enc = base64_of(text.as_bytes());
        assert!(
            m(
                "requestParameters.userData|base64offset|contains: whoami",
                json!({"requestParameters": {"userData": enc}})
            ),
            "offset {i}"
        );
    }
    assert!(
        m("errorCode: 403", json!({"errorCode": "403"}))
            && m("errorCode: 403", json!({"errorCode": 403.0})),
        "numbers compare as numbers or text"
    );
    assert!(m("readOnly: false", json!({"readOnly": false})));
}

#[test]
fn paths_through_lists_test_each_element() {
    let r = rule("selection:\n  resources.ARN|endswith: ':role/admin'\ncondition: selection");
    assert!(r.is_match(&json!({"resources": [{"ARN": "arn:aws:iam::1:user/x"}, {"ARN": "arn:aws:iam::1:role/admin"}]})));
    let r = rule("selection:\n  requestParameters.ipPermissions.items.ipRanges.items.cidrIp: 0.0.0.0/0\ncondition: selection");
    let rec = json!({"requestParameters": {"ipPermissions": {"items": [{"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}, {"cidrIp": "0.0.0.0/0"}]}}]}}});
    assert!(r.is_match(&rec));
}

#[test]
fn keywords_are_searched_in_every_string() {
    let r = rule("keywords:\n  - 'mimikatz'\n  - 'event::clear'\ncondition: keywords");
    assert!(r.is_match(&json!({"requestParameters": {"commands": ["run Mimikatz.exe"]}})));
    assert!(!r.is_match(&json!({"eventName": "RunInstances"})));
    let r =
        rule("keywords:\n  '|all':\n    - 'curl'\n    - '169.254.169.254'\ncondition: keywords");
    assert!(r.is_match(&json!({"a": "curl http://169.254.169.254/latest/meta-data"})));
    assert!(!r.is_match(&json!({"a": "curl http://example.com"})));
}

#[test]
fn conditions_combine_searches() {
    let det = "selection_a:\n  eventName: A\nselection_b:\n  eventName: B\nfilter:\n  userIdentity.type: AWSService\n_internal:\n  eventName: C\n";
    let c = |cond: &str| rule(&format!("{det}condition: {cond}"));
    let a = json!({"eventName": "A"});
    let b_by_service = json!({"eventName": "B", "userIdentity": {"type": "AWSService"}});
    let internal = json!({"eventName": "C"});
    assert!(c("1 of selection_* and not filter").is_match(&a));
    assert!(!c("1 of selection_* and not filter").is_match(&b_by_service));
    assert!(c("selection_a or (selection_b and filter)").is_match(&b_by_service));
    assert!(!c("all of selection_*").is_match(&a));
    assert!(
        !c("1 of them").is_match(&internal),
        "them leaves out identifiers starting with _"
    );
    assert!(c("1 of them").is_match(&a));
    assert!(c("not not selection_a").is_match(&a));
    let list = rule(&format!(
        "{det}condition:\n  - selection_a\n  - selection_b"
    ));
    assert!(
        list.is_match(&a) && list.is_match(&b_by_service),
        "a list of conditions is an or"
    );
}

#[test]
fn what_cannot_be_honoured_is_refused() {
    for (d, why) in [
        (
            "selection:\n  a|expand: '%Admins%'\ncondition: selection",
            "modifier `expand`",
        ),
        (
            "selection:\n  a|windash: '-x'\ncondition: selection",
            "modifier `windash`",
        ),
        (
            "selection:\n  a|utf16le: x\ncondition: selection",
            "modifier `utf16le`",
        ),
        (
            "selection:\n  a: x\ncondition: selection | count() > 5",
            "aggregations",
        ),
        ("selection:\n  a: x\ncondition: selectoin", "`selectoin`"),
        (
            "selection:\n  a|all: x\ncondition: selection",
            "all needs several values",
        ),
        ("selection:\n  a|re: '('\ncondition: selection", "regex"),
    ] {
        let e = refused(d);
        assert!(e.to_lowercase().contains(&why.to_lowercase()), "{d}: {e}");
    }
    // A level the specification does not name.
    let odd = "title: t\nlevel: superduper\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  s:\n    a: b\n  condition: s\n";
    let e = SigmaRule::parse(odd).unwrap_err().0;
    assert!(
        e.contains("level `superduper`: say informational, low, medium, high, critical"),
        "{e}"
    );
    // Nested too deep, in the condition or in the YAML: refused, the stack intact.
    let deep = format!(
        "selection:\n  a: b\ncondition: {}selection{}",
        "(".repeat(20_000),
        ")".repeat(20_000)
    );
    assert!(refused(&deep).contains("nest deeper than"));
    let deep_yaml = format!(
        "selection:\n  a: {}b{}\ncondition: selection",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let e = refused(&deep_yaml);
    assert!(e.len() < 500, "{}", e.len());
    let windows = "title: t\nlogsource:\n  product: windows\n  service: security\ndetection:\n  s:\n    a: b\n  condition: s\n";
    assert!(SigmaRule::parse(windows)
        .unwrap_err()
        .0
        .contains("trailwatch reads AWS CloudTrail"));
}

#[test]
fn literals_and_pinned_names_serve_the_prefilter_and_pushdown() {
    let r = rule("selection:\n  eventSource: iam.amazonaws.com\n  eventName:\n    - CreateUser\n    - DeleteUser\nfilter:\n  userIdentity.type: AWSService\ncondition: selection and not filter");
    let req = r.requirement();
    let texts: Vec<&str> = req
        .clauses
        .iter()
        .flatten()
        .map(|l| l.text.as_str())
        .collect();
    assert!(
        texts.contains(&"createuser") && texts.contains(&"deleteuser"),
        "{texts:?}"
    );
    assert!(req
        .clauses
        .iter()
        .flatten()
        .all(|l| l.encoding == Encoding::JsonStringFolded));
    assert_eq!(
        r.pinned_strings(&["eventName"]),
        Some(vec!["CreateUser".to_string(), "DeleteUser".to_string()]),
        "as written: LookupEvents takes names in AWS's case"
    );
    assert_eq!(
        r.pinned_strings(&["userIdentity", "type"]),
        None,
        "under a not"
    );
    let r = rule("selection:\n  eventName|startswith: Create\ncondition: selection");
    assert_eq!(
        r.pinned_strings(&["eventName"]),
        None,
        "a wildcard is no finite set"
    );
}

#[test]
fn metadata_is_read() {
    let r = SigmaRule::parse("title: AWS Root Credentials\nid: 8ad1600d-e9dc-4251-b0ee-a65268f29add\nstatus: test\ndescription: Detects AWS root account usage\nlevel: medium\ntags:\n  - attack.privilege-escalation\n  - attack.t1078.004\nfalsepositives:\n  - AWS Tasks That Require Root User Credentials\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection_usertype:\n    userIdentity.type: Root\n  selection_eventtype:\n    eventType: AwsServiceEvent\n  condition: selection_usertype and not selection_eventtype\n").unwrap();
    assert_eq!(r.techniques(), ["T1078.004"]);
    assert_eq!(r.level.as_deref(), Some("medium"));
    assert_eq!(r.falsepositives.len(), 1);
    assert!(r.is_match(&json!({"userIdentity": {"type": "Root"}, "eventType": "AwsApiCall"})));
    assert!(!r.is_match(&json!({"userIdentity": {"type": "Root"}, "eventType": "AwsServiceEvent"})));
}

#[test]
fn a_value_across_an_objects_punctuation_gives_the_prefilter_no_literal() {
    // An object's value is tested as its compact JSON, which the record's text need not hold.
    let record: serde_json::Value =
        serde_json::from_str(r#"{"responseElements":{"x":[true, false]}}"#).unwrap();
    for detection in [
        "selection:\n  responseElements|contains: 'true,false'\ncondition: selection",
        "selection:\n  responseElements|re: 'true,fals[e]'\ncondition: selection",
    ] {
        let r = rule(detection);
        assert!(r.is_match(&record), "{detection}");
        assert!(r.requirement().is_none(), "{detection}");
    }
}

#[test]
fn a_rule_says_which_members_of_the_record_it_reads() {
    let r = rule("sel:\n  eventName: A\n  userIdentity.type: Root\nother:\n  - requestParameters.x|contains: b\n  - tlsDetails: c\ncondition: sel and not other");
    let reads = r.reads();
    for m in [
        "eventName",
        "userIdentity",
        "requestParameters",
        "tlsDetails",
    ] {
        assert!(reads.reads(m), "{m}");
    }
    assert!(!reads.reads("userAgent") && !reads.reads("type"));
    let fieldref = rule("sel:\n  userIdentity.userName|fieldref: responseElements.accessKey.userName\ncondition: sel");
    assert!(
        fieldref.reads().reads("responseElements"),
        "a fieldref reads the field it names"
    );
    let keywords = rule("words:\n  - pacu\ncondition: words");
    assert!(
        keywords.reads().reads("userAgent"),
        "keywords read every value"
    );
}
