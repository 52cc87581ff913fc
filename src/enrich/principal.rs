//! Who acted, as one stable name across sessions: the role behind an assumed-role session
//! (`arn:aws:iam::111122223333:role/app-server` for every session of it, an EC2 instance's
//! included), the user behind a user's calls, root, the account behind a cross-account call,
//! the service behind a service's. A first-seen rule keyed on a session's own ARN or key would
//! see every new session as new; keyed on this, it sees what the role or user has done before.

use serde_json::Value;

/// The stable name of the principal of `record` (`None`: the record names none).
pub(crate) fn of(record: &Value) -> Option<String> {
    let who = record.get("userIdentity")?;
    let s = |k: &str| who.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    let issuer = who
        .pointer("/sessionContext/sessionIssuer/arn")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty());
    match s("type").unwrap_or("") {
        "AssumedRole" | "FederatedUser" => {
            issuer.map(str::to_string).or_else(|| s("arn").map(role_of))
        }
        "AWSAccount" => s("accountId").map(|a| format!("account:{a}")),
        "AWSService" => s("invokedBy").map(|v| format!("service:{v}")),
        _ => s("arn").or(s("principalId")).map(str::to_string),
    }
}

/// The role of an assumed-role session's ARN (`arn:aws:sts::A:assumed-role/R/S` →
/// `arn:aws:iam::A:role/R`); any other ARN as it is.
fn role_of(arn: &str) -> String {
    let Some((head, rest)) = arn.split_once(":assumed-role/") else {
        return arn.to_string();
    };
    let role = rest.rsplit_once('/').map_or(rest, |(r, _)| r);
    format!("{}:role/{role}", head.replacen(":sts:", ":iam:", 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_session_of_a_role_is_the_role() {
        let instance = json!({"userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/app-server/i-0123456789abcdef0"}});
        assert_eq!(
            of(&instance).as_deref(),
            Some("arn:aws:iam::111122223333:role/app-server")
        );
        let issued = json!({"userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/Admin/bob",
            "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::1:role/Admin"}}}});
        assert_eq!(of(&issued).as_deref(), Some("arn:aws:iam::1:role/Admin"));
        let user = json!({"userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/alice"}});
        assert_eq!(of(&user).as_deref(), Some("arn:aws:iam::1:user/alice"));
        let account = json!({"userIdentity": {"type": "AWSAccount", "accountId": "444455556666", "principalId": "AIDA"}});
        assert_eq!(of(&account).as_deref(), Some("account:444455556666"));
        assert_eq!(of(&json!({"eventName": "x"})), None);
    }
}
