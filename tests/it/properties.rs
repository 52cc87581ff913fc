//! Property tests, run briefly in CI: no input makes either parser panic, evaluation of any
//! compiled pattern on any event does not panic, and the prefilter never changes a verdict,
//! however a record's strings are escaped.

use proptest::prelude::*;
use serde_json::{json, Value};

use trailwatch::format::Input;
use trailwatch::pattern::event::EventPattern;
use trailwatch::pattern::filter::FilterPattern;
use trailwatch::rules::RuleSet;
use trailwatch::scan::Scanner;

/// Pieces of filter-pattern syntax, so that random strings reach deep into the parser.
fn filter_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("$.a".to_string()),
        Just("$.b[0]".to_string()),
        Just("$.c[*]".to_string()),
        Just("$.*".to_string()),
        Just("$.['x.y']".to_string()),
        Just("=".to_string()),
        Just("!=".to_string()),
        Just(">=".to_string()),
        Just("<".to_string()),
        Just("&&".to_string()),
        Just("||".to_string()),
        Just("IS".to_string()),
        Just("NULL".to_string()),
        Just("NOT".to_string()),
        Just("EXISTS".to_string()),
        Just("TRUE".to_string()),
        Just("\"".to_string()),
        Just("%".to_string()),
        Just("\\".to_string()),
        Just("*".to_string()),
        Just(",".to_string()),
        Just("...".to_string()),
        Just("-".to_string()),
        Just("?".to_string()),
        Just(" ".to_string()),
        Just("1e3".to_string()),
        Just("{2,}".to_string()),
        Just("\\x4".to_string()),
        "[a-z0-9]{1,4}",
        "\\PC{0,3}",
    ];
    prop::collection::vec(atom, 0..24).prop_map(|v| v.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        (-1e10f64..1e10).prop_map(|f| json!(f)),
        "[a-z.*/\\\\:0-9-]{0,6}".prop_map(Value::String),
        prop_oneof![
            Just("prefix"),
            Just("suffix"),
            Just("equals-ignore-case"),
            Just("wildcard"),
            Just("anything-but"),
            Just("numeric"),
            Just("exists"),
            Just("cidr"),
            Just("$or"),
            Just(">"),
            Just("<="),
            Just("="),
            Just("10.0.0.0/8"),
            Just("::1/64"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-c]{1,2}".prop_map(|s| s),
                    Just("a.b".to_string()),
                    Just("$or".to_string()),
                    Just("prefix".to_string()),
                    Just("numeric".to_string()),
                    Just("anything-but".to_string()),
                    Just("exists".to_string()),
                    Just("wildcard".to_string()),
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn filter_parser_never_panics(src in filter_text(), msg in "\\PC{0,40}") {
        if let Ok(p) = FilterPattern::new(&src) {
            let _ = p.is_match(&msg);
            let _ = p.is_match(r#"{"a":1,"b":[2],"c":[{"x":"y"}],"x.y":null}"#);
            let _ = p.requirement();
        }
    }

    #[test]
    fn filter_parser_never_panics_on_arbitrary_text(src in "\\PC{0,60}") {
        let _ = FilterPattern::new(&src);
    }

    #[test]
    fn event_parser_never_panics(p in json_value(), e in json_value()) {
        if let Ok(p) = EventPattern::new(&p.to_string()) {
            let _ = p.is_match(&e);
            let _ = p.requirement();
        }
    }

    #[test]
    fn event_parser_never_panics_on_arbitrary_text(src in "\\PC{0,60}") {
        let _ = EventPattern::new(&src);
    }
}

/// A CloudTrail-like record whose strings are drawn from rule literals and their near misses.
fn record() -> impl Strategy<Value = Value> {
    let word = prop_oneof![
        Just("Root"),
        Just("IAMUser"),
        Just("AwsServiceEvent"),
        Just("AwsApiCall"),
        Just("CreateUser"),
        Just("DeleteUser"),
        Just("iam.amazonaws.com"),
        Just("kms.amazonaws.com"),
        Just("DisableKey"),
        Just("AccessDenied"),
        Just("Client.UnauthorizedOperation"),
        Just("ConsoleLogin"),
        Just("Success"),
        Just("Failed authentication"),
        Just("StopLogging"),
        Just("CreateVpc"),
        Just("Yes"),
        Just("No"),
        Just("x"),
    ];
    (prop::collection::vec(word, 9), any::<bool>(), any::<bool>()).prop_map(|(w, invoked, mfa)| {
        let mut r = json!({
            "eventID": "id", "eventType": w[0], "eventSource": w[1], "eventName": w[2],
            "errorCode": w[3], "errorMessage": w[4],
            "userIdentity": {"type": w[5], "arn": "arn:aws:iam::1:user/u"},
            "responseElements": {"ConsoleLogin": w[6]},
            "recipientAccountId": "111122223333", "awsRegion": "us-east-1",
        });
        if invoked {
            r["userIdentity"]["invokedBy"] = json!(w[7]);
        }
        if mfa {
            r["additionalEventData"] = json!({"MFAUsed": w[8]});
        }
        r
    })
}

/// Escapes some characters of the JSON text's string contents as `\uXXXX`.
fn escape_some(text: &str, mask: &[bool]) -> String {
    let mut out = String::new();
    let mut in_str = false;
    let mut prev_backslash = false;
    for (i, c) in text.chars().enumerate() {
        if c == '"' && !prev_backslash {
            in_str = !in_str;
            out.push(c);
        } else if in_str && c.is_ascii_alphanumeric() && mask[i % mask.len()] {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
        prev_backslash = c == '\\' && !prev_backslash;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn prefilter_never_changes_a_verdict(
        recs in prop::collection::vec(record(), 1..20),
        mask in prop::collection::vec(prop::bool::weighted(0.05), 1..50),
        escape in any::<bool>(),
    ) {
        let mut text = String::new();
        for r in &recs {
            let line = r.to_string();
            text.push_str(&if escape { escape_some(&line, &mask) } else { line });
            text.push('\n');
        }
        let mut set = RuleSet::default();
        set.add_spec("default").unwrap();
        set.add_spec("cis").unwrap();
        let input = Input { name: "p".into(), data: trailwatch::format::Data::Owned(text.into_bytes()) };
        let mut fast = Scanner::new(&set);
        let with = fast.scan(&input).out.bytes();
        fast.use_prefilter = false;
        let without = fast.scan(&input).out.bytes();
        prop_assert_eq!(String::from_utf8(with).unwrap(), String::from_utf8(without).unwrap());
    }
}
