//! What the members of a CloudTrail record are, for a condition a person writes on one (a
//! silence's `--match`): a path that names no member of a record is a typo, and a member the
//! caller writes (its user agent, its request) is no proof of who called.

/// The members of a CloudTrail record (AWS's "CloudTrail record contents"), and `enrich`,
/// which trailwatch adds.
const TOP: &[&str] = &[
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "eventType",
    "apiVersion",
    "managementEvent",
    "readOnly",
    "resources",
    "recipientAccountId",
    "serviceEventDetails",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "eventCategory",
    "addendum",
    "sessionCredentialFromConsole",
    "edgeDeviceDetails",
    "tlsDetails",
    "insightDetails",
    "enrich",
];

/// The members of `userIdentity`.
const USER_IDENTITY: &[&str] = &[
    "type",
    "principalId",
    "arn",
    "accountId",
    "accessKeyId",
    "userName",
    "sessionContext",
    "invokedBy",
    "identityProvider",
    "credentialId",
    "onBehalfOf",
    "inScopeOf",
];

/// Members whose values the caller writes: anyone can send them.
const CALLER_WRITES: &[&str] = &["userAgent", "requestParameters", "additionalEventData"];

/// Why `path` names no member of a CloudTrail record, if it names none (its first part, or
/// `userIdentity`'s member, unknown; deeper parts vary by API and are not checked).
pub(crate) fn unknown(path: &str) -> Option<String> {
    let mut parts = path.split('.');
    let top = parts.next().unwrap_or("");
    if !TOP.contains(&top) {
        return Some(format!(
            "a CloudTrail record has no member '{top}' (it has {})",
            TOP.join(", ")
        ));
    }
    match (top, parts.next()) {
        ("userIdentity", Some(m)) if !USER_IDENTITY.contains(&m) => Some(format!(
            "userIdentity has no member '{m}' (it has {})",
            USER_IDENTITY.join(", ")
        )),
        _ => None,
    }
}

/// True when the caller writes the value at `path` (the user agent, the request's
/// parameters): a condition on it alone can be met by anyone.
pub(crate) fn caller_writes(path: &str) -> bool {
    let top = path.split('.').next().unwrap_or("");
    CALLER_WRITES.contains(&top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_found_and_caller_written_members_known() {
        assert!(unknown("userIdentity.userName").is_none());
        assert!(unknown("requestParameters.bucketName").is_none());
        assert!(unknown("enrich.network").is_none());
        assert!(unknown("userIdentity.typo")
            .unwrap()
            .contains("no member 'typo'"));
        assert!(unknown("eventname")
            .unwrap()
            .contains("no member 'eventname'"));
        assert!(caller_writes("userAgent") && caller_writes("requestParameters.userName"));
        assert!(!caller_writes("userIdentity.arn") && !caller_writes("sourceIPAddress"));
    }
}
