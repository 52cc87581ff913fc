//! The worked examples of the reference, every operator, and the invalid patterns.

use super::*;

fn m(p: &str, msg: &str) -> bool {
    FilterPattern::new(p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .is_match(msg)
}

fn invalid(p: &str, needle: &str) {
    match FilterPattern::new(p) {
        Ok(_) => panic!("{p} should be invalid"),
        Err(e) => assert!(e.message.contains(needle), "{p}: {e}"),
    }
}

#[test]
fn empty_patterns_match_everything() {
    for p in ["", "   ", "\"\"", "\" \""] {
        assert!(m(p, "anything"));
        assert!(m(p, ""));
    }
}

#[test]
fn terms_reference_examples() {
    assert!(m("Timeout", "readTimeout=30s exceeded"));
    assert!(!m("timeout", "readTimeout=30s exceeded"));
    assert!(m("\"disk full\"", "error: disk full on /dev/sda"));
    assert!(!m("\"disk full\"", "disk  full"));
    assert!(!m("ERROR -retrying", "ERROR upstream reset, retrying"));
    assert!(m("ERROR -retrying", "ERROR upstream reset"));
    assert!(m("?FATAL ?PANIC", "PANIC at boot"));
    assert!(!m("?FATAL ?PANIC", "panic: nil map"));
    assert!(m("?FATAL ?PANIC shutdown", "clean shutdown"));
    assert!(m("?ERROR ?ARGUMENTS REQUEST", "REQUEST only"));
}

#[test]
fn terms_details() {
    assert!(m("ERROR", "ERRORCODE 1"));
    assert!(m("Exception", "IllegalArgumentException"));
    assert!(m("Failed to process", "process Failed to"));
    assert!(!m("Failed to process", "Failed"));
    assert!(m("\"ERROR\" - \"Exiting\"", "ERROR now"));
    assert!(!m("\"ERROR\" - \"Exiting\"", "ERROR Exiting"));
    assert!(m("-WARN -INFO", "ERROR"));
    assert!(!m("-WARN -INFO", "INFO x"));
    assert!(m("\"say \\\"hi\\\"\"", "they say \"hi\""));
    assert!(m("10.0.0.1", "from 10.0.0.1"));
    invalid("ERROR %x%", "whole pattern");
    invalid("\"open", "unterminated");
    invalid("ERROR -", "followed by a term");
    assert!(
        m("a&&b ||", "x a&&b ||"),
        "&& and || are plain text in terms"
    );
}

#[test]
fn standalone_regex() {
    assert!(m("%AUTHORIZED%", "UNAUTHORIZED REQUEST"));
    assert!(m(r"%user=[a-z]+\d{2,}%", "login user=bob42 ok"));
    assert!(!m(r"%user=[a-z]+\d{2,}%", "login user=Bob42"));
    assert!(m(r"%^\[WARN\]%", "[WARN] low memory"));
    assert!(!m(r"%^\[WARN\]%", "boot [WARN] x"));
    invalid("%(err|fail)%", "parentheses");
    invalid("%done!%", "not allowed");
    assert!(m(r"%err|fail%", "failed"));
    assert!(m(r"%done\x21%", "done!"));
}

#[test]
fn json_reference_examples() {
    let p = r#"{ $.status >= 500 && $.path = "/api/*" }"#;
    assert!(m(p, r#"{"status":503,"path":"/api/users"}"#));
    assert!(!m(p, r#"{"status":503,"path":"/health"}"#));
    assert!(!m(r#"{ $.tags = "prod" }"#, r#"{"tags":["prod"]}"#));
    assert!(m(r#"{ $.tags[0] = "prod" }"#, r#"{"tags":["prod"]}"#));
    assert!(m(r#"{ $.tags[*] = %^pr% }"#, r#"{"tags":["prod"]}"#));
    assert!(m("{ $.err IS NULL }", r#"{"err":null}"#));
    assert!(!m("{ $.err IS NULL }", "{}"));
    assert!(m("{ $.err NOT EXISTS }", "{}"));
    assert!(!m("{ $.err NOT EXISTS }", r#"{"err":null}"#));
    assert!(m(
        "{ $.a = 1 || $.b = 2 && $.c = 3 }",
        r#"{"a":1,"b":0,"c":0}"#
    ));
    assert!(!m(
        "{ ($.a = 1 || $.b = 2) && $.c = 3 }",
        r#"{"a":1,"b":0,"c":0}"#
    ));
    assert!(m("{ $.latency < 1.5e3 }", r#"{"latency":1200}"#));
    assert!(!m("{ $.latency < 1.5e3 }", r#"{"latency":{"p99":1200}}"#));
    assert!(m(
        r#"{ $.['k8s.pod'] = "web-1" }"#,
        r#"{"k8s.pod":"web-1"}"#
    ));
    assert!(!m(r#"{ $.k8s.pod = "web-1" }"#, r#"{"k8s.pod":"web-1"}"#));
    assert!(m("{ $.user = Admin* }", r#"{"user":"AdminBot"}"#));
    assert!(!m("{ $.user = Ad*min }", r#"{"user":"Adxmin"}"#));
    assert!(m("{ $.src != 10.0.* }", r#"{"src":"192.168.1.9"}"#));
    assert!(!m("{ $.src != 10.0.* }", r#"{"src":["10.0.0.1"]}"#));
}

#[test]
fn json_value_nodes_only() {
    assert!(!m("{ $.users = 1 }", r#"{"users":[1]}"#));
    assert!(!m("{ $.users != 1 }", r#"{"users":[1]}"#));
    assert!(!m("{ $.u != x }", r#"{"u":{"a":"x"}}"#));
    assert!(!m("{ $.u != x }", "{}"), "!= on a missing path is false");
    assert!(!m("{ $.u != x }", r#"{"u":null}"#));
    assert!(m("{ $.u != x }", r#"{"u":"y"}"#));
}

#[test]
fn json_every_comparison_operator() {
    let msg = r#"{"n":10,"s":"abc","f":1.5,"neg":-3}"#;
    assert!(m("{ $.n = 10 }", msg));
    assert!(m("{ $.n = 1e1 }", msg));
    assert!(m("{ $.n != 11 }", msg));
    assert!(!m("{ $.n != 10 }", msg));
    assert!(m("{ $.n < 11 }", msg) && !m("{ $.n < 10 }", msg));
    assert!(m("{ $.n <= 10 }", msg) && !m("{ $.n <= 9.99 }", msg));
    assert!(m("{ $.n > 9 }", msg) && !m("{ $.n > 10 }", msg));
    assert!(m("{ $.n >= 10 }", msg) && !m("{ $.n >= 10.01 }", msg));
    assert!(m("{ $.f > 10e-3 }", msg));
    assert!(m("{ $.neg < -2 }", msg));
    assert!(!m("{ $.neg = +-3 }", msg), "+-3 is not a number");
    assert!(m("{$.s=abc}", msg));
    assert!(m(r#"{$.s="abc"}"#, msg));
    assert!(m(r#"{ $.s = "*bc" }"#, msg));
    assert!(m(r#"{ $.s = "a*" }"#, msg));
    assert!(m(r#"{ $.s = "*b*" }"#, msg));
    assert!(m("{ $.s = * }", msg));
    assert!(m("{ $.n = * }", msg));
    assert!(!m("{ $.missing = * }", msg));
    assert!(!m(r#"{ $.s = "ABC" }"#, msg), "case-sensitive");
    assert!(m("{ $.s = %^a.c$% }", msg));
    assert!(m("{ $.s != %^x% }", msg));
    assert!(!m("{ $.s != %^a% }", msg));
}

#[test]
fn json_cross_type_comparisons_are_false() {
    // Decision: strings compare with strings, numbers with numbers.
    assert!(!m("{ $.code = 400 }", r#"{"code":"400"}"#));
    assert!(!m(r#"{ $.code = "400" }"#, r#"{"code":400}"#));
    assert!(!m("{ $.code > 1 }", r#"{"code":"400"}"#));
    assert!(!m("{ $.ok = true }", r#"{"ok":true}"#));
    assert!(
        m("{ $.n = %^40% }", r#"{"n":400}"#),
        "a regex reads a number's text"
    );
}

#[test]
fn json_booleans_and_null() {
    assert!(m("{ $.ok IS TRUE }", r#"{"ok":true}"#));
    assert!(!m("{ $.ok IS TRUE }", r#"{"ok":"true"}"#));
    assert!(m("{ $.ok IS FALSE }", r#"{"ok":false}"#));
    assert!(!m("{ $.ok IS FALSE }", "{}"));
    assert!(
        m("{ $.x is null }", r#"{"x":null}"#),
        "keywords in any case"
    );
    assert!(!m("{ $.x IS NULL }", r#"{"x":"null"}"#));
}

#[test]
fn json_selectors() {
    let msg =
        r#"{"grid":[[1,2],[3,4]],"o":{"a":{"v":"x"},"b":{"v":"y"}},"arr":[{"k":"p"},{"k":"q"}]}"#;
    assert!(m("{ $.grid[1][0] = 3 }", msg));
    assert!(!m("{ $.grid[2][0] = 3 }", msg));
    assert!(!m("{ $.o[0] = 3 }", msg), "indexing a non-array is false");
    assert!(m("{ $.o[0] NOT EXISTS }", msg));
    assert!(m("{ $.o.*.v = y }", msg));
    assert!(m("{ $.arr[*].k = q }", msg));
    assert!(!m("{ $.arr[*].k = r }", msg));
    assert!(
        m("{ $.arr[*].k != p }", msg),
        "existential: some element differs"
    );
    assert!(m("{ $.arr[1].k = q }", msg));
    assert!(m("{ $.['o'].a.v = x }", msg));
}

#[test]
fn json_pattern_needs_json_object_message() {
    assert!(!m("{ $.a = 1 }", "a = 1"));
    assert!(!m("{ $.a = 1 }", "[1]"));
    assert!(!m("{ $.a NOT EXISTS }", "plain text"));
}

#[test]
fn cis_patterns_parse_unspaced() {
    let root = r#"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}"#;
    assert!(m(
        root,
        r#"{"userIdentity":{"type":"Root"},"eventType":"AwsApiCall"}"#
    ));
    assert!(!m(
        root,
        r#"{"userIdentity":{"type":"Root","invokedBy":"s3.amazonaws.com"},"eventType":"AwsApiCall"}"#
    ));
    assert!(!m(
        root,
        r#"{"userIdentity":{"type":"Root"},"eventType":"AwsServiceEvent"}"#
    ));
    let unauth = r#"{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}"#;
    assert!(m(unauth, r#"{"errorCode":"Client.UnauthorizedOperation"}"#));
    assert!(m(unauth, r#"{"errorCode":"AccessDeniedException"}"#));
    assert!(!m(unauth, r#"{"errorCode":"ThrottlingException"}"#));
    let kms = "{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}";
    assert!(m(
        kms,
        r#"{"eventSource":"kms.amazonaws.com","eventName":"DisableKey"}"#
    ));
    assert!(!m(
        kms,
        r#"{"eventSource":"kms.amazonaws.com","eventName":"EnableKey"}"#
    ));
}

#[test]
fn invalid_json_patterns() {
    invalid("{ $.a IS NOT NULL }", "IS NOT");
    invalid("{ $.a EXISTS }", "EXISTS is not supported");
    invalid("{ $.a = }", "expected a value");
    invalid("{ $.a = 1", "missing closing }");
    invalid("{ $.a = 1 } x", "after the closing }");
    invalid("{ }", "empty JSON pattern");
    invalid("{ a = 1 }", "selector");
    invalid("{ $ = 1 }", "path after $");
    invalid("{ $.a > abc }", "needs a number");
    invalid("{ $.a < %x% }", "regex");
    invalid("{ ($.a = 1 }", "missing closing )");
    invalid("{ $.a[*].b[*] = 1 }", "only one wildcard");
    invalid(
        "{ $.a[*] = 1 && $.b[*] = 1 && $.c[*] = 1 && $.d[*] = 1 }",
        "three wildcard",
    );
    invalid(
        "{ $.a = %x% && $.b = %y% && $.c = %z% }",
        "at most 2 regular",
    );
    invalid("{ $.a[x] = 1 }", "array index");
    invalid("{ $.a IS MAYBE }", "NULL, TRUE or FALSE");
    invalid("{ $.a NOT THERE }", "EXISTS after NOT");
    invalid("{ $.a ~ 1 }", "expected an operator");
    invalid("{ $.a.$b = 1 }", "property name");
    invalid(
        &format!("{{ $.a = \"{}\" }}", "x".repeat(1100)),
        "longer than 1024",
    );
}

#[test]
fn error_columns_point_at_the_problem() {
    let e = FilterPattern::new("{ $.a = 1 && $.b IS NOT NULL }").unwrap_err();
    assert_eq!(e.column, 18);
}

#[test]
fn delimited_reference_examples() {
    let p = "[ts, level=ERROR || level=FATAL, msg]";
    assert!(m(p, "12:00:01 FATAL oom"));
    assert!(!m(p, "12:00:01 FATAL oom killer"));
    let p = "[..., status=5*, bytes > 1000]";
    assert!(m(
        p,
        r#"10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 503 2048"#
    ));
    assert!(!m(
        p,
        r#"10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 404 2048"#
    ));
    assert!(m(r"[ip=%^10\.%, ...]", "10.2.3.4 GET /"));
    assert!(!m(r"[ip=%^10\.%, ...]", "110.2.3.4 GET /"));
    assert!(m("[w1=ERROR, w2]", "ERROR message"));
    assert!(!m("[w1=ERROR, w2]", "ERROR WARN message"));
}

#[test]
fn delimited_details() {
    assert_eq!(
        delimited::fields(
            r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 200 1534"#
        ),
        vec![
            "127.0.0.1",
            "-",
            "frank",
            "10/Oct/2000:13:25:15 -0700",
            "GET /index.html HTTP/1.0",
            "200",
            "1534"
        ]
    );
    assert!(m("[a, ..., z]", "a z"), "... may be empty");
    assert!(m("[a, ..., z]", "a b c z"));
    assert!(m("[..., code = 404 || code = 410, ...]", "x 410 y"));
    assert!(!m("[..., code = 404 || code = 410, ...]", "x 411 y"));
    assert!(m("[a, b != x, c]", "1 y 3"));
    assert!(!m("[a, b != x, c]", "1 x 3"));
    assert!(m("[a, b >= 10 && b < 20, c]", "1 15 3"));
    assert!(
        !m("[a, b >= 10 && b < 20, c]", "1 abc 3"),
        "non-numeric field fails numeric test"
    );
    assert!(m("[a, b = 200, c]", "1 200 3"));
    assert!(m("[a, b = \"*html*\", c]", "1 /x.html?y 3"));
    assert!(m("[a, b, c,]", "1 2 3"), "trailing comma");
    assert!(m("[a, b]", "1    2"), "runs of spaces");
    invalid("[a, b", "missing closing ]");
    invalid("[a, = 1]", "field name");
    invalid("[]", "empty");
    invalid("[a b]", "expected , or ]");
}

#[test]
fn brackets_nested_past_the_limit_are_refused_and_the_deepest_allowed_fits_half_a_worker_stack() {
    let nested = |depth: usize| format!("{{ {}$.a = 1{} }}", "(".repeat(depth), ")".repeat(depth));
    // 1024 characters hold about 500 brackets: refused, not recursed into.
    invalid(&nested(500), "nest deeper than 100");
    invalid(&nested(error::MAX_DEPTH + 1), "nest deeper than 100");
    // The deepest allowed parses and matches on a thread of 1 MiB, half of what tokio gives its threads (a debug build's frames are large).
    let p = nested(error::MAX_DEPTH);
    let ok = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || m(&p, r#"{"a": 1}"#) && !m(&p, r#"{"a": 2}"#))
        .unwrap()
        .join()
        .unwrap();
    assert!(ok);
}

#[test]
fn a_pattern_says_which_members_of_the_message_it_reads() {
    let reads = |p: &str| FilterPattern::new(p).unwrap().reads();
    let r =
        reads(r#"{ $.eventName = "A" && ($.requestParameters.x = 1 || $.tlsDetails NOT EXISTS) }"#);
    for m in ["eventName", "requestParameters", "tlsDetails"] {
        assert!(r.reads(m), "{m}");
    }
    assert!(!r.reads("userAgent") && !r.reads("x"));
    assert!(
        reads(r#"{ $.* = "A" }"#).reads("userAgent"),
        "a wildcard reads every member"
    );
    // The other kinds read the message's text, not its members.
    for p in ["ConsoleLogin", "%Cons[a-z]+%", "[a, b]", ""] {
        assert_eq!(reads(p), crate::pattern::reads::Reads::nothing(), "{p}");
    }
}
