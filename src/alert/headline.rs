//! A headline that says what happened to whom (`IAM user {target} deleted by {principal}`),
//! from a rule's words for one kind of event (`[rules.events.DeleteUser]`). The values put in come from the record, so they are attacker-controlled: only the
//! characters AWS allows in names are kept, and at most 64 of them.

use serde_json::Value;

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
}
