//! Pushdown: what the enabled rules let a source ask AWS for, so that API calls scale with
//! matches and not with traffic. `LookupEvents` takes one lookup attribute per call, so rules that
//! pin `eventName` (or the root user, or `eventSource`) to a few values become one lookup per
//! value, in the regions where such events can be recorded at all (IAM's only in us-east-1), and
//! the root user is looked up under every user name it can carry ("root", and the account's
//! aliases); `FilterLogEvents` takes a filter pattern, so the rules become one pattern that selects a
//! superset of their matches. Records are always re-checked locally: pushdown only narrows reads.

use std::fmt;

use super::{Rule, RulePattern, RuleSet};
use crate::pattern::filter::FilterPattern;

/// Above this many lookups per region, reading everything is assumed cheaper.
pub(crate) const DEFAULT_MAX_LOOKUPS: usize = 20;

/// Event sources of global services whose events CloudTrail records in us-east-1 only.
pub(crate) const US_EAST_1_ONLY: &[&str] = &["iam.amazonaws.com"];

/// Where a `lookup_events` plan runs, and what it knows about the account's root user.
#[derive(Debug, Clone)]
pub(crate) struct LookupScope<'a> {
    pub region: &'a str,
    /// The user names root's events can carry in this account: "root" and every alias.
    pub root_names: &'a [String],
    /// The aliases could not be learned: root's console sign-ins are also looked up by their
    /// event source, whatever their user name.
    pub aliases_unknown: bool,
}

impl LookupScope<'_> {
    /// A scope for us-east-1 of an account without an alias.
    #[cfg(test)]
    pub(crate) fn plain() -> LookupScope<'static> {
        static ROOT: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| vec!["root".to_string()]);
        LookupScope {
            region: "us-east-1",
            root_names: &ROOT,
            aliases_unknown: false,
        }
    }
}

/// A `LookupEvents` lookup attribute key (the ones a rule can pin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LookupKey {
    EventName,
    Username,
    EventSource,
}

impl LookupKey {
    /// The key as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LookupKey::EventName => "EventName",
            LookupKey::Username => "Username",
            LookupKey::EventSource => "EventSource",
        }
    }
}

/// One lookup: `AttributeKey=…, AttributeValue=…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lookup {
    pub key: LookupKey,
    pub value: String,
}

impl fmt::Display for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key.as_str(), self.value)
    }
}

/// How a `lookup_events` source reads a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LookupPlan {
    /// Every event of the window, and why no pushdown applies.
    ReadAll { reason: String },
    /// Only these lookups (their union is a superset of every rule's matches); none when no
    /// rule can match an event recorded in the region.
    Lookups(Vec<Lookup>),
}

/// How a `cloudwatch_logs` source reads a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogsPlan {
    /// The server-side `filterPattern`, if one can be sent.
    pub filter_pattern: Option<String>,
    /// Why there is none, or how it was built.
    pub reason: String,
}

/// A record member a rule pins to a finite set of strings (path in the CloudTrail record).
fn pinned(rule: &Rule, path: &[&str]) -> Option<Vec<String>> {
    match &rule.pattern {
        RulePattern::Filter(f) => f.pinned_strings(path),
        RulePattern::Event(e) => {
            let mut full = vec!["detail"];
            full.extend_from_slice(path);
            e.pinned_strings(&full)
        }
        RulePattern::Sigma(s, _) => s.pinned_strings(path),
    }
}

/// The lookups that cover one rule in a scope, or why none do.
fn rule_lookups(rule: &Rule, scope: &LookupScope<'_>) -> Result<Vec<Lookup>, String> {
    let with = |key, values: Vec<String>| {
        values
            .into_iter()
            .map(|value| Lookup { key, value })
            .collect::<Vec<_>>()
    };
    let sources = pinned(rule, &["eventSource"]);
    let global_only = sources
        .as_ref()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|x| US_EAST_1_ONLY.contains(&x.as_str())));
    if global_only && scope.region != "us-east-1" {
        return Ok(Vec::new());
    }
    if let Some(v) = pinned(rule, &["eventName"]) {
        return Ok(with(LookupKey::EventName, v));
    }
    // LookupEvents' `Username` of a root-user event is "root" (AWS's own lookup example), or
    // the account's alias when it has one (the record's userName holds the alias).
    if pinned(rule, &["userIdentity", "type"]).is_some_and(|v| v == ["Root"]) {
        let mut ls = with(LookupKey::Username, scope.root_names.to_vec());
        if scope.aliases_unknown {
            ls.push(Lookup {
                key: LookupKey::EventSource,
                value: "signin.amazonaws.com".into(),
            });
        }
        return Ok(ls);
    }
    if let Some(v) = sources {
        return Ok(with(LookupKey::EventSource, v));
    }
    Err(format!(
        "rule '{}' pins neither eventName, the root user nor eventSource",
        rule.name
    ))
}

/// The plan for `lookup_events` in a scope: lookups when every enabled rule allows them and
/// there are at most `max_lookups` of them.
pub(crate) fn lookup_plan(
    rules: &RuleSet,
    max_lookups: usize,
    scope: &LookupScope<'_>,
) -> LookupPlan {
    if rules.enabled().next().is_none() {
        return LookupPlan::ReadAll {
            reason: "no rule is enabled".into(),
        };
    }
    let mut all: Vec<Lookup> = Vec::new();
    for rule in rules.enabled() {
        match rule_lookups(rule, scope) {
            Ok(ls) => {
                for l in ls {
                    if !all.contains(&l) {
                        all.push(l);
                    }
                }
            }
            Err(reason) => return LookupPlan::ReadAll { reason },
        }
    }
    if all.len() > max_lookups {
        return LookupPlan::ReadAll {
            reason: format!(
                "the rules need {} lookups per region, more than pushdown_max_lookups = {max_lookups}",
                all.len()
            ),
        };
    }
    all.sort();
    LookupPlan::Lookups(all)
}

/// Record members an event pattern's pins are translated for, into filter-pattern conditions.
const TRANSLATED: &[&[&str]] = &[
    &["eventSource"],
    &["eventName"],
    &["eventType"],
    &["userIdentity", "type"],
    &["recipientAccountId"],
    &["awsRegion"],
];

/// `$.a.b = "v"`, or `None` when `v` needs escaping the filter language does not define.
fn condition(path: &[&str], v: &str) -> Option<String> {
    if v.contains(['"', '\\']) || v.chars().any(char::is_control) {
        return None;
    }
    Some(format!("$.{} = \"{v}\"", path.join(".")))
}

/// One rule as the inside of a JSON filter pattern, when it can be written as one.
fn rule_condition(rule: &Rule) -> Result<String, String> {
    match &rule.pattern {
        RulePattern::Filter(f) if f.is_json() => {
            let t = f.as_str().trim();
            Ok(format!("({})", t[1..t.len() - 1].trim()))
        }
        RulePattern::Filter(_) => Err(format!(
            "rule '{}' is not a JSON filter pattern and cannot be joined with the others",
            rule.name
        )),
        RulePattern::Event(_) | RulePattern::Sigma(..) => {
            let mut parts = Vec::new();
            for path in TRANSLATED {
                let Some(values) = pinned(rule, path) else {
                    continue;
                };
                let conds: Option<Vec<String>> =
                    values.iter().map(|v| condition(path, v)).collect();
                if let Some(c) = conds {
                    parts.push(format!("({})", c.join(" || ")));
                }
            }
            if parts.is_empty() {
                Err(format!(
                    "rule '{}' is an event pattern that pins none of eventSource, eventName, eventType, userIdentity.type, recipientAccountId or awsRegion",
                    rule.name
                ))
            } else {
                Ok(format!("({})", parts.join(" && ")))
            }
        }
    }
}

/// The plan for `cloudwatch_logs`: every enabled rule joined into one JSON filter pattern with
/// `||`; if that breaks a limit of the language (1024 characters, 2 regexes, 3 wildcards), the
/// rules' pinned event names; otherwise no server-side filter.
pub(crate) fn logs_plan(rules: &RuleSet) -> LogsPlan {
    let enabled: Vec<&Rule> = rules.enabled().collect();
    if enabled.is_empty() {
        return LogsPlan {
            filter_pattern: None,
            reason: "no rule is enabled".into(),
        };
    }
    let joined: Result<Vec<String>, String> = enabled.iter().map(|r| rule_condition(r)).collect();
    let why_not = match joined {
        Ok(conds) => {
            let p = format!("{{ {} }}", conds.join(" || "));
            match FilterPattern::new(&p) {
                Ok(_) => {
                    return LogsPlan {
                        filter_pattern: Some(p),
                        reason: format!("the {} rules joined with ||", enabled.len()),
                    }
                }
                Err(e) => format!("the rules joined are not a valid pattern ({e})"),
            }
        }
        Err(e) => e,
    };
    let names: Option<Vec<String>> =
        enabled
            .iter()
            .map(|r| pinned(r, &["eventName"]))
            .try_fold(Vec::new(), |mut acc, v| {
                for n in v? {
                    if !acc.contains(&n) {
                        acc.push(n);
                    }
                }
                Some(acc)
            });
    if let Some(names) = names {
        let conds: Option<Vec<String>> =
            names.iter().map(|n| condition(&["eventName"], n)).collect();
        if let Some(conds) = conds {
            let p = format!("{{ {} }}", conds.join(" || "));
            if FilterPattern::new(&p).is_ok() {
                return LogsPlan {
                    filter_pattern: Some(p),
                    reason: format!("the rules' event names ({why_not})"),
                };
            }
        }
    }
    LogsPlan {
        filter_pattern: None,
        reason: why_not,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(specs: &[&str], filters: &[&str], events: &[&str]) -> RuleSet {
        let mut s = RuleSet::default();
        for sp in specs {
            s.add_spec(sp).unwrap();
        }
        for (i, f) in filters.iter().enumerate() {
            s.add_adhoc(format!("f{i}"), RulePattern::filter(f).unwrap());
        }
        for (i, e) in events.iter().enumerate() {
            s.add_adhoc(format!("e{i}"), RulePattern::event(e).unwrap());
        }
        s
    }

    fn lk(key: LookupKey, v: &str) -> Lookup {
        Lookup {
            key,
            value: v.into(),
        }
    }

    #[test]
    fn default_pack_pushes_down_to_three_lookups() {
        let plan = lookup_plan(
            &set(&["default"], &[], &[]),
            DEFAULT_MAX_LOOKUPS,
            &LookupScope::plain(),
        );
        assert_eq!(
            plan,
            LookupPlan::Lookups(vec![
                lk(LookupKey::EventName, "CreateUser"),
                lk(LookupKey::EventName, "DeleteUser"),
                lk(LookupKey::Username, "root"),
            ])
        );
        let logs = logs_plan(&set(&["default"], &[], &[]));
        let p = logs.filter_pattern.unwrap();
        assert!(p.starts_with("{ ($.userIdentity.type = \"Root\""), "{p}");
        assert!(p.contains("($.eventName = \"CreateUser\" || $.eventName = \"DeleteUser\")"));
        assert!(FilterPattern::new(&p).is_ok());
    }

    #[test]
    fn iam_is_asked_in_us_east_1_only_and_root_under_every_name() {
        let names = vec!["root".to_string(), "acme-prod".to_string()];
        let scope = |region, unknown| LookupScope {
            region,
            root_names: &names,
            aliases_unknown: unknown,
        };
        let show = |p: LookupPlan| match p {
            LookupPlan::Lookups(ls) => ls.iter().map(ToString::to_string).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let rules = set(&["default"], &[], &[]);
        assert_eq!(
            show(lookup_plan(&rules, 20, &scope("us-east-1", false))),
            [
                "EventName=CreateUser",
                "EventName=DeleteUser",
                "Username=acme-prod",
                "Username=root"
            ]
        );
        assert_eq!(
            show(lookup_plan(&rules, 20, &scope("eu-west-1", false))),
            ["Username=acme-prod", "Username=root"]
        );
        assert_eq!(
            show(lookup_plan(&rules, 20, &scope("eu-west-1", true))),
            [
                "Username=acme-prod",
                "Username=root",
                "EventSource=signin.amazonaws.com"
            ]
        );
        // Only IAM rules: nothing to ask outside us-east-1.
        let iam = set(
            &[],
            &[],
            &[r#"{"detail": {"eventSource": ["iam.amazonaws.com"], "eventName": ["CreateUser"]}}"#],
        );
        assert!(show(lookup_plan(&iam, 20, &scope("ap-northeast-2", false))).is_empty());
        // A CreateUser of another service (no eventSource pinned) is asked everywhere.
        let any = set(&[], &["{ $.eventName = CreateUser }"], &[]);
        assert_eq!(
            show(lookup_plan(&any, 20, &scope("ap-northeast-2", false))),
            ["EventName=CreateUser"]
        );
    }

    #[test]
    fn an_unpinned_rule_reads_everything() {
        let plan = lookup_plan(
            &set(&["default"], &["{ $.errorCode = \"AccessDenied\" }"], &[]),
            20,
            &LookupScope::plain(),
        );
        assert!(matches!(plan, LookupPlan::ReadAll { reason } if reason.contains("rule 'f0'")));
        let plan = lookup_plan(&set(&["default"], &[], &[]), 2, &LookupScope::plain());
        assert!(matches!(plan, LookupPlan::ReadAll { reason } if reason.contains("3 lookups")));
    }

    #[test]
    fn or_unions_and_and_takes_the_sharpest() {
        let s = set(
            &[],
            &["{ ($.eventName = A && $.eventSource = s) || ($.eventName = B) }"],
            &[
                r#"{"detail": {"eventSource": ["x"], "$or": [{"eventName": ["C"]}, {"eventName": ["D"]}]}}"#,
            ],
        );
        let LookupPlan::Lookups(ls) = lookup_plan(&s, 20, &LookupScope::plain()) else {
            panic!()
        };
        let names: Vec<_> = ls.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            names,
            ["EventName=A", "EventName=B", "EventName=C", "EventName=D"]
        );
        // A prefix is not a finite set.
        let s = set(
            &[],
            &[],
            &[r#"{"detail": {"eventName": [{"prefix": "Create"}]}}"#],
        );
        assert!(matches!(
            lookup_plan(&s, 20, &LookupScope::plain()),
            LookupPlan::ReadAll { .. }
        ));
    }

    #[test]
    fn cis_pack_falls_back_when_the_join_breaks_a_limit() {
        let logs = logs_plan(&set(&["cis"], &[], &[]));
        // 14 patterns joined exceed 1024 characters; not all pin eventName either.
        assert_eq!(logs.filter_pattern, None, "{}", logs.reason);
        assert!(
            logs.reason.contains("1024") || logs.reason.contains("longer"),
            "{}",
            logs.reason
        );
    }
}
