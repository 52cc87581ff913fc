//! Conditions on a CloudTrail record's paths (`userIdentity.arn` = `arn:aws:iam::*:role/ci-*`),
//! all of which must hold: what a rule's exceptions and the silences added at run time say.
//! Pure: a record in, yes or no out; `*` in a value (or a rule name) matches anything.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// True when `pattern` matches all of `text`; `*` matches any run of characters (none too).
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text.ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The value at a dotted record path, as text: a string as it is, another value as JSON;
/// `None` when absent.
fn value_at<'v>(record: &'v Value, path: &str) -> Option<std::borrow::Cow<'v, str>> {
    let mut cur = record;
    for p in path.split('.') {
        cur = match cur {
            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => cur.get(p)?,
        };
    }
    Some(match cur {
        Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
        Value::Null => return None,
        other => std::borrow::Cow::Owned(other.to_string()),
    })
}

/// One condition: the value at `path` matches one of `any` (globs with `*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub path: String,
    pub any: Vec<String>,
}

/// Conditions that must all hold (none: every record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions(pub Vec<Condition>);

impl Conditions {
    /// `PATH=VALUE` pairs as written on the command line (`userIdentity.userName=ci-bot`).
    pub fn parse_pairs(pairs: &[String]) -> Result<Conditions, String> {
        pairs
            .iter()
            .map(|p| match p.split_once('=') {
                Some((path, value)) if valid_path(path.trim()) => Ok(Condition {
                    path: path.trim().to_string(),
                    any: vec![value.to_string()],
                }),
                _ => Err(format!(
                    "'{p}' is not PATH=VALUE (a record path such as userIdentity.userName, =, the value; * matches anything)"
                )),
            })
            .collect::<Result<_, _>>()
            .map(Conditions)
    }

    /// True when every condition holds for the record.
    pub fn hold(&self, record: &Value) -> bool {
        self.0
            .iter()
            .all(|c| value_at(record, &c.path).is_some_and(|v| c.any.iter().any(|g| glob(g, &v))))
    }

    /// `path=value, path=a|b`, for people.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "every record".into();
        }
        self.0
            .iter()
            .map(|c| format!("{}={}", c.path, c.any.join("|")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A path as `group_by` takes them: dotted names, no empty part.
pub(crate) fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('.')
            .all(|p| !p.is_empty() && !p.contains(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_match_whole_values() {
        assert!(glob("ci-bot", "ci-bot"));
        assert!(!glob("ci-bot", "ci-bot2"));
        assert!(glob("ci-*", "ci-bot"));
        assert!(glob("*", ""));
        assert!(glob(
            "arn:aws:iam::*:role/ci-*",
            "arn:aws:iam::1111:role/ci-deploy"
        ));
        assert!(!glob(
            "arn:aws:iam::*:role/ci-*",
            "arn:aws:iam::1111:user/ci-deploy"
        ));
        assert!(glob("a*b*c", "abc") && glob("a*b*c", "a-b-b-c") && !glob("a*b*c", "acb"));
        assert!(!glob("ab*ba", "aba"), "the ends may not overlap");
    }

    #[test]
    fn conditions_all_hold_on_the_record_paths() {
        let r = json!({"userIdentity": {"userName": "ci-bot", "sessionContext": {"mfa": true}},
                       "sourceIPAddress": "203.0.113.9", "resources": [{"ARN": "arn:x"}]});
        let c = Conditions::parse_pairs(&[
            "userIdentity.userName=ci-*".into(),
            "sourceIPAddress=203.0.113.9".into(),
        ])
        .unwrap();
        assert!(c.hold(&r));
        let other =
            json!({"userIdentity": {"userName": "ci-bot"}, "sourceIPAddress": "198.51.100.1"});
        assert!(!c.hold(&other), "every condition must hold");
        let c = Conditions::parse_pairs(&["resources.0.ARN=arn:x".into()]).unwrap();
        assert!(c.hold(&r));
        let c = Conditions::parse_pairs(&["userIdentity.sessionContext.mfa=true".into()]).unwrap();
        assert!(c.hold(&r), "a boolean compares as its JSON text");
        let c = Conditions::parse_pairs(&["nope=x".into()]).unwrap();
        assert!(!c.hold(&r), "an absent path holds nothing");
        assert!(Conditions::parse_pairs(&["userName".into()]).is_err());
        assert!(Conditions::parse_pairs(&["a..b=x".into()]).is_err());
    }
}
