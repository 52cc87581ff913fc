//! The worked examples of the reference, every operator, and the invalid patterns.

use serde_json::{json, Value};

use super::*;

fn m(p: &str, e: Value) -> bool {
    EventPattern::new(p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .is_match(&e)
}

fn d(detail: Value) -> Value {
    json!({ "source": "x", "detail": detail })
}

fn invalid(p: &str, reason: &str, path: &str) {
    match EventPattern::new(p) {
        Ok(_) => panic!("{p} should be invalid"),
        Err(e) => {
            assert!(e.reason.contains(reason), "{p}: {e}");
            assert_eq!(e.path, path, "{p}: {e}");
        }
    }
}

#[test]
fn reference_examples() {
    let p = r#"{"source":["acme.billing"],"detail":{"status":["PAID","REFUNDED"]}}"#;
    assert!(m(
        p,
        json!({"source":"acme.billing","detail":{"status":"REFUNDED"}})
    ));
    assert!(!m(
        p,
        json!({"source":"acme.billing","detail":{"status":"OPEN"}})
    ));
    assert!(!m(p, json!({"source":"other","detail":{"status":"PAID"}})));

    let p = r#"{"detail":{"tags":["prod"]}}"#;
    assert!(m(p, d(json!({"tags":["canary","prod"]}))));
    assert!(!m(p, d(json!({"tags":["production"]}))));

    let p = r#"{"detail":{"note":[null]}}"#;
    assert!(!m(p, d(json!({"note":""}))));
    assert!(m(p, d(json!({"note":null}))));
    assert!(!m(p, d(json!({}))));

    let p = r#"{"detail":{"note":[{"exists":false}]}}"#;
    assert!(!m(p, d(json!({"note":null}))));
    assert!(m(p, d(json!({"note":{"k":1}}))));
    assert!(m(p, d(json!({}))));

    let p = r#"{"detail":{"size":[{"numeric":[">=",10,"<",20]}]}}"#;
    assert!(!m(p, d(json!({"size":"12"}))));
    assert!(m(p, d(json!({"size":12.5}))));
    assert!(m(p, d(json!({"size":[3,15]}))));

    let p = r#"{"detail":{"env":[{"anything-but":["dev","test"]}]}}"#;
    assert!(m(p, d(json!({"env":"prod"}))));
    assert!(!m(p, d(json!({"env":"dev"}))));
    assert!(m(p, d(json!({"env":["dev","prod"]}))));
    assert!(!m(p, d(json!({}))));

    let p = r#"{"detail":{"bucket":[{"anything-but":{"prefix":"tmp-"}}]}}"#;
    assert!(!m(p, d(json!({"bucket":"tmp-42"}))));
    assert!(m(p, d(json!({"bucket":"logs"}))));

    let p = r#"{"detail":{"user":[{"prefix":{"equals-ignore-case":"svc-"}}]}}"#;
    assert!(m(p, d(json!({"user":"SVC-Deploy"}))));
    assert!(!m(p, d(json!({"user":"my-svc-1"}))));

    let p = r#"{"detail":{"file":[{"suffix":{"equals-ignore-case":".jpg"}}]}}"#;
    assert!(m(p, d(json!({"file":"IMG_1.JPG"}))));

    let p = r#"{"detail":{"path":[{"wildcard":"/var/*/app.log"}]}}"#;
    assert!(m(p, d(json!({"path":"/var/log/x/app.log"}))));
    assert!(!m(p, d(json!({"path":"/var/app.log"}))));

    let p = r#"{"detail":{"promo":[{"wildcard":"50\\*OFF"}]}}"#;
    assert!(m(p, d(json!({"promo":"50*OFF"}))));
    assert!(!m(p, d(json!({"promo":"50% OFF"}))));

    let p = r#"{"detail":{"ip":[{"cidr":"2001:db8::/32"}]}}"#;
    assert!(m(p, d(json!({"ip":"2001:db8:abcd::1"}))));
    assert!(!m(p, d(json!({"ip":"10.1.2.3"}))));

    let p = r#"{"source":["acme.auth"],"$or":[{"detail":{"mfa":[false]}},{"detail":{"country":[{"anything-but":["KR"]}]}}]}"#;
    assert!(m(
        p,
        json!({"source":"acme.auth","detail":{"mfa":true,"country":"US"}})
    ));
    assert!(!m(
        p,
        json!({"source":"acme.auth","detail":{"mfa":true,"country":"KR"}})
    ));
    assert!(m(
        p,
        json!({"source":"acme.auth","detail":{"mfa":false,"country":"KR"}})
    ));

    let p = r#"{"detail":{"a.b":["x"]}}"#;
    assert!(m(p, d(json!({"a":{"b":"x"}}))));
    assert!(m(p, d(json!({"a.b":"x"}))));
    assert!(m(r#"{"detail":{"a":{"b":["x"]}}}"#, d(json!({"a.b":"x"}))));

    let p = r#"{"detail":{"level":[{"equals-ignore-case":"warn"}]}}"#;
    assert!(m(p, d(json!({"level":"WARN"}))));
    assert!(!m(p, d(json!({"level":1}))));

    // Array consistency: both fields must come from the same element.
    let p = r#"{"detail":{"items":{"sku":["A"],"qty":[2]}}}"#;
    assert!(!m(
        p,
        d(json!({"items":[{"sku":"A","qty":1},{"sku":"B","qty":2}]}))
    ));
    assert!(m(
        p,
        d(json!({"items":[{"sku":"B","qty":1},{"sku":"A","qty":2}]}))
    ));
}

#[test]
fn exact_values_of_every_type() {
    assert!(m(r#"{"a":[5]}"#, json!({"a":5})));
    assert!(!m(r#"{"a":[5]}"#, json!({"a":"5"})));
    assert!(!m(r#"{"a":["5"]}"#, json!({"a":5})));
    assert!(
        m(r#"{"a":[300]}"#, json!({"a":300.0})),
        "numbers compare numerically (event-ruler)"
    );
    assert!(m(r#"{"a":[true]}"#, json!({"a":true})));
    assert!(!m(r#"{"a":[true]}"#, json!({"a":"true"})));
    assert!(m(r#"{"a":[false]}"#, json!({"a":false})));
    assert!(m(r#"{"a":[""]}"#, json!({"a":""})));
    assert!(!m(r#"{"a":[""]}"#, json!({"a":null})));
    assert!(!m(r#"{"a":["x"]}"#, json!({"a":{"x":1}})));
    assert!(!m(r#"{"a":["X"]}"#, json!({"a":"x"})), "case-sensitive");
    assert!(m(
        r#"{"a":["x"],"b":["y"]}"#,
        json!({"a":"x","b":"y","c":"ignored"})
    ));
    assert!(!m(r#"{"a":["x"],"b":["y"]}"#, json!({"a":"x"})));
}

#[test]
fn missing_null_empty_table() {
    let cases: &[(&str, [bool; 6])] = &[
        // [null], [""], exists:true, exists:false, anything-but "x", prefix ""
        ("missing", [false, false, false, true, false, false]),
        ("null", [true, false, true, false, true, false]),
        ("empty", [false, true, true, false, true, true]),
        ("emptyarray", [false, false, false, true, false, false]),
        ("object", [false, false, false, true, false, false]),
        ("array", [false, false, true, false, true, true]),
    ];
    let pats = [
        r#"{"f":[null]}"#,
        r#"{"f":[""]}"#,
        r#"{"f":[{"exists":true}]}"#,
        r#"{"f":[{"exists":false}]}"#,
        r#"{"f":[{"anything-but":"x"}]}"#,
        r#"{"f":[{"prefix":""}]}"#,
    ];
    for (name, want) in cases {
        let ev = match *name {
            "missing" => json!({}),
            "null" => json!({"f":null}),
            "empty" => json!({"f":""}),
            "emptyarray" => json!({"f":[]}),
            "object" => json!({"f":{"k":"x"}}),
            _ => json!({"f":["x","y"]}),
        };
        for (p, w) in pats.iter().zip(want) {
            assert_eq!(m(p, ev.clone()), *w, "{p} on {name}");
        }
    }
}

#[test]
fn operators_only_match_their_types() {
    for p in [
        r#"{"a":[{"prefix":"1"}]}"#,
        r#"{"a":[{"suffix":"1"}]}"#,
        r#"{"a":[{"equals-ignore-case":"1"}]}"#,
        r#"{"a":[{"wildcard":"1*"}]}"#,
        r#"{"a":[{"cidr":"10.0.0.0/8"}]}"#,
    ] {
        assert!(!m(p, json!({"a": 1})), "{p}");
        assert!(!m(p, json!({"a": null})), "{p}");
    }
    assert!(!m(r#"{"a":[{"numeric":[">",0]}]}"#, json!({"a":"1"})));
}

#[test]
fn anything_but_forms() {
    assert!(
        m(r#"{"a":[{"anything-but":[100]}]}"#, json!({"a":"100"})),
        "string passes a numeric exclusion"
    );
    assert!(m(r#"{"a":[{"anything-but":[100]}]}"#, json!({"a":100.5})));
    assert!(!m(r#"{"a":[{"anything-but":[100]}]}"#, json!({"a":100})));
    assert!(!m(r#"{"a":[{"anything-but":100}]}"#, json!({"a":100.0})));
    assert!(
        m(r#"{"a":[{"anything-but":"x"}]}"#, json!({"a":5})),
        "number passes a string exclusion"
    );
    assert!(m(
        r#"{"a":[{"anything-but":{"suffix":".tmp"}}]}"#,
        json!({"a":"x.log"})
    ));
    assert!(!m(
        r#"{"a":[{"anything-but":{"suffix":".tmp"}}]}"#,
        json!({"a":"x.tmp"})
    ));
    assert!(!m(
        r#"{"a":[{"anything-but":{"equals-ignore-case":["Dev","TEST"]}}]}"#,
        json!({"a":"dev"})
    ));
    assert!(m(
        r#"{"a":[{"anything-but":{"equals-ignore-case":["Dev","TEST"]}}]}"#,
        json!({"a":"prod"})
    ));
    assert!(!m(
        r#"{"a":[{"anything-but":{"wildcard":"*.tmp"}}]}"#,
        json!({"a":"x.tmp"})
    ));
    assert!(m(
        r#"{"a":[{"anything-but":{"wildcard":["*.tmp","*.bak"]}}]}"#,
        json!({"a":"x.log"})
    ));
    assert!(!m(
        r#"{"a":[{"anything-but":{"prefix":["a","b"]}}]}"#,
        json!({"a":"bx"})
    ));
    assert!(m(
        r#"{"a":[{"anything-but":{"prefix":"a"}}]}"#,
        json!({"a":7})
    ));
    assert!(
        m(r#"{"a":["x",{"exists":false}]}"#, json!({})),
        "exists may share a list"
    );
    assert!(m(r#"{"a":["x",{"exists":false}]}"#, json!({"a":"x"})));
    assert!(!m(r#"{"a":["x",{"exists":false}]}"#, json!({"a":"y"})));
}

#[test]
fn numeric_forms() {
    let p = |s: &str, v: Value| {
        m(
            &format!(r#"{{"a":[{{"numeric":{s}}}]}}"#),
            json!({ "a": v }),
        )
    };
    assert!(p(r#"["=",3.018e2]"#, json!(301.8)));
    assert!(p(r#"["<",0]"#, json!(-1)) && !p(r#"["<",0]"#, json!(0)));
    assert!(p(r#"["<=",0]"#, json!(0)));
    assert!(p(r#"[">",0]"#, json!(1)) && !p(r#"[">",0]"#, json!(0)));
    assert!(p(r#"[">=",0,"<=",5]"#, json!(5)));
    assert!(!p(r#"[">",0,"<",5]"#, json!(5)));
    assert!(p(r#"[">",-5e9]"#, json!(-4999999999i64)));
}

#[test]
fn or_forms() {
    let p = r#"{"detail":{"$or":[{"a":[1]},{"b":[2]}]}}"#;
    assert!(m(p, d(json!({"b":2}))));
    assert!(!m(p, d(json!({"a":2}))));
    let nested = r#"{"$or":[{"a":["x"]},{"$or":[{"b":["y"]},{"c":["z"]}]}]}"#;
    assert!(m(nested, json!({"c":"z"})));
    assert!(!m(nested, json!({"d":"z"})));
    let siblings = r#"{"detail":{"$or":[{"a":[1]},{"b":[1]}]},"$or":[{"x":[1]},{"y":[1]}]}"#;
    assert!(m(siblings, json!({"detail":{"a":1},"y":1})));
    assert!(!m(siblings, json!({"detail":{"a":1}})));
}

#[test]
fn duplicate_keys_last_wins() {
    assert!(m(r#"{"a":["x"],"a":["y"]}"#, json!({"a":"y"})));
    assert!(!m(r#"{"a":["x"],"a":["y"]}"#, json!({"a":"x"})));
}

#[test]
fn nested_arrays_flatten() {
    assert!(m(r#"{"a":[3]}"#, json!({"a":[[1,[3]]]})));
    assert!(m(r#"{"a":{"b":["x"]}}"#, json!({"a":[[{"b":"x"}]]})));
}

#[test]
fn invalid_patterns_say_what_and_where() {
    invalid("[1]", "Filter is not an object", "");
    invalid("{}", "Empty objects are not allowed", "");
    invalid(
        r#"{"detail":{}}"#,
        "Empty objects are not allowed",
        "detail",
    );
    invalid(
        r#"{"detail":{"state":"running"}}"#,
        "\"state\" must be an object or an array",
        "detail.state",
    );
    invalid(r#"{"a":[]}"#, "Empty arrays are not allowed", "a");
    invalid(
        r#"{"a":[[1]]}"#,
        "Match value must be String, number, true, false, or null",
        "a[0]",
    );
    invalid(
        r#"{"a":["x",{"prefix":"a","suffix":"b"}]}"#,
        "Only one key allowed",
        "a[1]",
    );
    invalid(
        r#"{"a":[{"regex":"a"}]}"#,
        "Unrecognized match type regex",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"prefix":1}]}"#,
        "prefix match pattern must be a string",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"suffix":{"x":"y"}}]}"#,
        "Unsupported suffix pattern: x",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"equals-ignore-case":["x"]}]}"#,
        "equals-ignore-case match pattern must be a string",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"wildcard":5}]}"#,
        "wildcard match pattern must be a string",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"exists":"yes"}]}"#,
        "exists match pattern must be either true or false.",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"numeric":5}]}"#,
        "Value of numeric must be an array.",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"numeric":[]}]}"#,
        "Invalid member in numeric match",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"numeric":["!=",5]}]}"#,
        "Unrecognized numeric range operator: !=",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"numeric":[">","5"]}]}"#,
        "Value of > must be numeric",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"numeric":[">",5,">",6]}]}"#,
        "Bad numeric range operator: >",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"numeric":["=",5,"<",6]}]}"#,
        "Too many elements",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"numeric":[">",5,"<",6,"<",7]}]}"#,
        "Too many elements",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"numeric":[">",6,"<",5]}]}"#,
        "Bottom must be less than top",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"anything-but":null}]}"#,
        "Value of anything-but must be an array",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"anything-but":{"regex":"x"}}]}"#,
        "Unsupported anything-but pattern: regex",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"anything-but":["x",1]}]}"#,
        "mixed type is not supported",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"anything-but":[]}]}"#,
        "mixed type is not supported",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"anything-but":[null]}]}"#,
        "start|null|boolean is not supported",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"anything-but":{"prefix":""}}]}"#,
        "Null prefix/suffix not allowed",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"wildcard":"a**b"}]}"#,
        "Consecutive wildcard characters at pos 2",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"wildcard":"a\\b"}]}"#,
        "Invalid escape character at pos 1",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"cidr":"10.0.0.0"}]}"#,
        "Malformed CIDR, one '/' required",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"cidr":"10.0.0.0/x"}]}"#,
        "mask bits must be an integer",
        "a[0]",
    );
    invalid(
        r#"{"a":[{"cidr":"10.0.0/8"}]}"#,
        "Nonstandard IP address: 10.0.0",
        "a[0]",
    );
    invalid(
        r#"{"$or":{"a":[1]}}"#,
        "It must be an Array followed with $or.",
        "$or",
    );
    invalid(r#"{"$or":[{"a":[1]}]}"#, "at least 2 Objects", "$or");
    invalid(
        r#"{"$or":[{"a":[1]},[1]]}"#,
        "Only JSON object is allowed",
        "$or[1]",
    );
    invalid(
        r#"{"$or":[{"a":[1]},{"prefix":["x"]}]}"#,
        "prefix is Ruler reserved fieldName",
        "$or[1]",
    );
    invalid(r#"{"a": ["x"], }"#, "not valid JSON", "");
    let eleven: Vec<String> = (0..11).map(|i| format!(r#"{{"f{i}":[1]}}"#)).collect();
    let alts = eleven.join(",");
    invalid(
        &format!(r#"{{"$or":[{alts}],"x":{{"$or":[{alts}]}},"y":{{"$or":[{alts}]}}}}"#),
        "too complex",
        "",
    );
}

#[test]
fn error_message_shape() {
    let e = EventPattern::new(r#"{"detail":{"state":"on"}}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Event pattern is not valid. Reason: \"state\" must be an object or an array (at detail.state)"
    );
    let e = EventPattern::new("{\n  \"a\": [1,]\n}").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn requirement_uses_detail_literals() {
    let p = EventPattern::new(
        r#"{"source":["aws.iam"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventSource":["iam.amazonaws.com"],"eventName":["CreateUser","DeleteUser"]}}"#,
    )
    .unwrap();
    let r = p.requirement();
    assert_eq!(r.clauses.len(), 2);
    let best: Vec<_> = r.best().unwrap().iter().map(|l| l.text.as_str()).collect();
    assert_eq!(best, ["CreateUser", "DeleteUser"]);
    let p = EventPattern::new(r#"{"detail":{"eventName":["A1x",{"numeric":[">",1]}]}}"#).unwrap();
    assert!(
        p.requirement().is_none(),
        "a list with a literal-free matcher requires nothing"
    );
}

#[test]
fn a_pattern_says_which_members_of_the_event_it_reads() {
    let reads = |p: &str| EventPattern::new(p).unwrap().reads();
    let r = reads(
        r#"{"source":["aws.iam"],"detail":{"eventName":["A"],"userIdentity":{"type":["Root"]},
            "$or":[{"errorCode":[{"exists":true}]},{"requestParameters.userName":["x"]}]}}"#,
    );
    let of = |top: &str| &r.iter().find(|(t, _)| t == top).unwrap().1;
    assert_eq!(*of("source"), crate::pattern::reads::Reads::Anything);
    assert_eq!(r.len(), 2);
    let below = of("detail");
    for m in [
        "eventName",
        "userIdentity",
        "errorCode",
        "requestParameters",
    ] {
        assert!(below.reads(m), "{m}");
    }
    assert!(!below.reads("tlsDetails") && !below.reads("userName"));
    // A test on `detail` itself reads all of it; a dotted top key reads the member it names.
    assert!(reads(r#"{"detail":[{"exists":true}]}"#)[0]
        .1
        .reads("anything"));
    let dotted = reads(r#"{"detail.tlsDetails.tlsVersion":["TLSv1.3"]}"#);
    assert_eq!(dotted[0].0, "detail");
    assert!(dotted[0].1.reads("tlsDetails") && !dotted[0].1.reads("userAgent"));
    let ors = reads(r#"{"$or":[{"detail":{"a":["1"]}},{"region":["x"]}]}"#);
    assert_eq!(ors.len(), 2);
}
