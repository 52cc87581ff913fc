//! Rules' own tests (`[[rules.tests]]`): each gives a record and whether its rule matches it.
//! They run through the same evaluator as live records (prefilter, envelope, exclusions), so a
//! test proves what the daemon will do. A threshold is not counted here: a test says whether
//! one record counts.

use super::evaluate::{Evaluator, Verdict};
use super::{Rule, RuleSet, RuleTest};

/// The outcome of one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub rule: String,
    pub test: String,
    pub passed: bool,
    /// What went wrong (empty when it passed).
    pub why: String,
}

/// Runs the tests of every enabled rule, in definition order.
pub(crate) fn run_all(rules: &RuleSet) -> Vec<Outcome> {
    let eval = Evaluator::new(rules.clone());
    let mut out = Vec::new();
    for r in rules.enabled() {
        for t in &r.tests {
            if t.vars.is_empty() {
                out.push(run_one(&eval, r, t));
                continue;
            }
            // A test with variables of its own: the rules compiled with them.
            match rules.with_vars_for(&r.name, &t.vars) {
                Ok(set) => {
                    let eval = Evaluator::new(set.clone());
                    let rule = set.get(&r.name).unwrap_or(r);
                    out.push(run_one(&eval, rule, t));
                }
                Err(e) => out.push(Outcome {
                    rule: r.name.clone(),
                    test: t.name.clone(),
                    passed: false,
                    why: format!("its variables do not compile: {e}"),
                }),
            }
        }
    }
    out
}

/// One test of rule `r` through `eval`.
fn run_one(eval: &Evaluator, r: &Rule, t: &RuleTest) -> Outcome {
    let outcome = |passed: bool, why: String| Outcome {
        rule: r.name.clone(),
        test: t.name.clone(),
        passed,
        why,
    };
    let text = match &t.record {
        Ok(text) => text,
        Err(e) => return outcome(false, e.clone()),
    };
    // Checked first: the prefilter would skip a broken record without a word.
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        return outcome(false, format!("the record cannot be read: {e}"));
    }
    let matched = match eval.evaluate_text(text, &mut Vec::new()) {
        Verdict::Pass => false,
        Verdict::Match(m) => m.rules.iter().any(|(_, x)| x.name == r.name),
        Verdict::Malformed(m, _) => {
            return outcome(false, format!("the record cannot be read: {m}"))
        }
    };
    let why = match (t.matches, matched) {
        (true, false) => match &r.inert {
            Some(i) => format!("expected a match, but the rule cannot match: {i}"),
            None => "expected a match, got none".to_string(),
        },
        (false, true) => "expected no match, but it matched".to_string(),
        _ => String::new(),
    };
    outcome(why.is_empty(), why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, SourceText};

    fn set(text: &str) -> RuleSet {
        let src = SourceText {
            name: "t.toml".into(),
            text: text.into(),
        };
        let mut s = RuleSet::default();
        s.add_config(&Config::parse(&src).unwrap(), &src).unwrap();
        s
    }

    #[test]
    fn tests_pass_fail_and_say_why() {
        let s = set(r#"rule_packs = []
[vars]
own = ["111122223333"]
none = []

[[rules]]
name = "r"
event_pattern = '{"detail": {"eventName": ["StopLogging"]}}'
exclude = ['{"detail": {"recipientAccountId": ["${own}"]}}']
[[rules.tests]]
name = "stops"
record = '{"eventName": "StopLogging", "recipientAccountId": "999999999999", "eventID": "1"}'
matches = true
[[rules.tests]]
name = "own account excluded"
record = { eventName = "StopLogging", recipientAccountId = "111122223333", eventID = "2" }
matches = true
[[rules.tests]]
name = "broken"
record = '{"eventName": '
matches = false

[[rules]]
name = "inert"
filter = '{ $.recipientAccountId = "${none}" }'
[[rules.tests]]
name = "cannot"
record = '{"recipientAccountId": "1"}'
matches = true
"#);
        let got: Vec<(String, bool, String)> = run_all(&s)
            .into_iter()
            .map(|o| (o.test, o.passed, o.why))
            .collect();
        assert_eq!(got[0], ("stops".into(), true, String::new()));
        assert_eq!(
            got[1],
            (
                "own account excluded".into(),
                false,
                "expected a match, got none".into()
            )
        );
        assert!(
            !got[2].1 && got[2].2.contains("cannot be read"),
            "{:?}",
            got[2]
        );
        assert!(
            got[3].2.contains("the list variable `${none}` is empty"),
            "{:?}",
            got[3]
        );
    }

    #[test]
    fn variables_that_break_a_pattern_name_the_rule_under_test() {
        let many: Vec<String> = (0..60)
            .map(|i| format!("\"value-number-{i:03}\""))
            .collect();
        let text = format!(
            "rule_packs = []\n[vars]\nv = [\"x\"]\n[[rules]]\nname = \"first\"\nfilter = '{{ $.a = \"${{v}}\" }}'\n[[rules]]\nname = \"second\"\nfilter = '{{ $.b = \"${{v}}\" }}'\n[[rules.tests]]\nname = \"long\"\nmatches = true\nrecord = '{{\"b\":\"x\"}}'\nvars = {{ v = [{}] }}\n",
            many.join(", ")
        );
        let src = SourceText {
            name: "r.toml".into(),
            text,
        };
        let mut set = RuleSet::default();
        set.add_config(&Config::parse(&src).unwrap(), &src).unwrap();
        let out = run_all(&set);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rule, "second");
        assert!(!out[0].passed);
        assert!(out[0].why.contains("rule 'second'"), "{}", out[0].why);
        assert!(!out[0].why.contains("rule 'first'"), "{}", out[0].why);
    }
}
