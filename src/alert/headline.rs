//! A headline that says what happened to whom (`IAM user {target} deleted by {principal}`),
//! from a rule's words for one kind of event (`[rules.events.DeleteUser]`). The values put in come from the record, so they are attacker-controlled: only the
//! characters AWS allows in names are kept, and at most 64 of them.

use serde_json::Value;

/// The members of a record a headline reads (`target` and `principal`, and the event's name
/// that chooses the words).
pub(crate) const READS: &[&str] = &["eventName", "requestParameters", "userIdentity"];

/// The longest value put into a headline.
const LONGEST: usize = 64;

/// `v` made safe for a headline: the characters of AWS names (`[A-Za-z0-9+=,.@_/:-]`), each
/// other one a `?`, at most `LONGEST` of them.
fn safe(v: &str) -> String {
    let mut out: String = v
        .chars()
        .take(LONGEST)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_/:-".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect();
    if v.chars().count() > LONGEST {
        out.push('…');
    }
    out
}

/// What the call acted on, by its request's parameters.
fn target(r: &Value) -> Option<String> {
    super::fields::target_of(r).map(|(_, v)| safe(v))
}

/// Who called: the user's name, the role session's, or root.
fn principal(r: &Value) -> Option<String> {
    let who = r.get("userIdentity")?;
    if who.get("type").and_then(Value::as_str) == Some("Root") {
        return Some("root".into());
    }
    if let Some(n) = who.get("userName").and_then(Value::as_str) {
        return Some(safe(n));
    }
    let arn = who.get("arn").and_then(Value::as_str)?;
    let resource = arn.rsplit(':').next().unwrap_or(arn);
    Some(safe(resource.rsplit('/').next().unwrap_or(resource)))
}

/// `template` with `{target}` and `{principal}` filled in from the record (`?` for what it
/// does not say).
pub fn fill(template: &str, record: &Value) -> String {
    template
        .replace("{target}", &target(record).unwrap_or_else(|| "?".into()))
        .replace(
            "{principal}",
            &principal(record).unwrap_or_else(|| "?".into()),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_headline_says_what_happened_to_whom_and_keeps_only_safe_characters() {
        let r = json!({"eventName": "DeleteUser", "requestParameters": {"userName": "old-contractor"},
            "userIdentity": {"type": "IAMUser", "userName": "ops-admin"}});
        assert_eq!(
            fill("IAM user {target} deleted by {principal}", &r),
            "IAM user old-contractor deleted by ops-admin"
        );
        let role = json!({"requestParameters": {"userName": "x"},
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/Admin/jane@example.com"}});
        assert_eq!(fill("{principal}", &role), "jane@example.com");
        assert_eq!(
            fill("{principal}", &json!({"userIdentity": {"type": "Root"}})),
            "root"
        );
        // Markup, new lines and a long name: neutralised and cut.
        let evil = json!({"requestParameters": {"userName": "<b>*x*</b>\n[link](http://e)"}});
        assert_eq!(fill("{target}", &evil), "?b??x??/b???link??http://e?");
        let long = json!({"requestParameters": {"userName": "a".repeat(100)}});
        assert_eq!(fill("{target}", &long).chars().count(), 65);
        assert_eq!(fill("{target} by {principal}", &json!({})), "? by ?");
    }

    #[test]
    fn a_headline_reads_only_the_members_it_says_it_reads() {
        // A record's parse may leave out what no rule reads (`record::Unread`): a member the
        // headline reads but does not list would be missing from `scan`'s titles.
        let r = json!({"eventName": "DeleteUser", "requestParameters": {"userName": "bob"},
            "userIdentity": {"type": "IAMUser", "userName": "ops"}, "userAgent": "x",
            "responseElements": {"userName": "r"}, "additionalEventData": {"userName": "a"},
            "resources": [{"ARN": "arn:x"}], "sourceIPAddress": "203.0.113.7"});
        let template = "{target} by {principal}";
        let whole = fill(template, &r);
        assert_eq!(whole, "bob by ops");
        for m in r.as_object().unwrap().keys() {
            let mut without = r.clone();
            without.as_object_mut().unwrap().remove(m);
            let changed = fill(template, &without) != whole;
            assert!(
                !changed || READS.contains(&m.as_str()),
                "the headline reads {m}"
            );
        }
    }
}
