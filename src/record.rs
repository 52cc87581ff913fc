//! A CloudTrail record as the rules see it: its JSON text (what a filter pattern reads, as
//! CloudWatch reads a log message), its parsed value, and its EventBridge view (the envelope
//! EventBridge wraps around it, derived on demand without copying the record).

use std::borrow::Cow;

use serde_json::Value;

/// One CloudTrail record.
#[derive(Debug)]
pub struct Record<'a> {
    /// The record's JSON text.
    pub text: Cow<'a, str>,
    /// The record, parsed.
    pub value: Value,
    /// The EventBridge event the record arrived in, when the input held events.
    pub event: Option<Value>,
}

/// EventBridge `source` values that do not follow the `aws.` + service-prefix rule.
const SOURCE_OVERRIDES: &[(&str, &str)] = &[];

/// EventBridge's `source` for a CloudTrail `eventSource`: `iam.amazonaws.com` → `aws.iam`.
pub fn eventbridge_source(event_source: &str) -> String {
    if let Some((_, s)) = SOURCE_OVERRIDES.iter().find(|(k, _)| *k == event_source) {
        return s.to_string();
    }
    let service = event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source);
    format!("aws.{service}")
}

/// EventBridge's `detail-type` for a CloudTrail `eventType`, when AWS documents one.
pub fn eventbridge_detail_type(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "AwsApiCall" => "AWS API Call via CloudTrail",
        "AwsConsoleSignIn" => "AWS Console Sign In via CloudTrail",
        "AwsServiceEvent" => "AWS Service Event via CloudTrail",
        "AwsConsoleAction" => "AWS Console Action via CloudTrail",
        "AwsCloudTrailInsight" => "AWS Insight via CloudTrail",
        _ => return None,
    })
}

impl<'a> Record<'a> {
    /// Parses a record from its JSON text.
    pub fn parse(text: Cow<'a, str>) -> Result<Record<'a>, serde_json::Error> {
        let value = serde_json::from_str(&text)?;
        Ok(Record {
            text,
            value,
            event: None,
        })
    }

    /// A string member of the record, by path (`["userIdentity", "arn"]`).
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        path.iter().try_fold(&self.value, |v, k| v.get(k))?.as_str()
    }

    /// A top-level member of the record as a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.value.get(key)?.as_str()
    }

    /// The principal's ARN, or the service that acted for it.
    pub fn principal_arn(&self) -> Option<&str> {
        self.str_at(&["userIdentity", "arn"])
            .or_else(|| self.str_at(&["userIdentity", "invokedBy"]))
    }

    /// A member of the EventBridge event for this record: the real one when the record came in
    /// an event, else the envelope EventBridge would build (`detail` is the record itself).
    pub fn envelope_member(&self, key: &str) -> Option<Cow<'_, Value>> {
        if let Some(ev) = &self.event {
            return ev.get(key).map(Cow::Borrowed);
        }
        let s = |v: Option<&str>| v.map(|v| Cow::Owned(Value::String(v.to_string())));
        match key {
            "detail" => Some(Cow::Borrowed(&self.value)),
            "version" => Some(Cow::Owned(Value::String("0".into()))),
            "id" => s(self.get_str("eventID")),
            "detail-type" => s(self.get_str("eventType").and_then(eventbridge_detail_type)),
            "source" => self
                .get_str("eventSource")
                .map(|e| Cow::Owned(Value::String(eventbridge_source(e)))),
            "account" => s(self.get_str("recipientAccountId")),
            "time" => s(self.get_str("eventTime")),
            "region" => s(self.get_str("awsRegion")),
            "resources" => Some(Cow::Owned(Value::Array(Vec::new()))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_derived() {
        let r = Record::parse(Cow::Borrowed(
            r#"{"eventSource":"iam.amazonaws.com","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333","awsRegion":"us-east-1","eventTime":"2024-01-01T00:00:00Z","eventID":"e1"}"#,
        ))
        .unwrap();
        assert_eq!(
            r.envelope_member("source").unwrap().as_str(),
            Some("aws.iam")
        );
        assert_eq!(
            r.envelope_member("detail-type").unwrap().as_str(),
            Some("AWS Console Sign In via CloudTrail")
        );
        assert_eq!(
            r.envelope_member("account").unwrap().as_str(),
            Some("111122223333")
        );
        assert_eq!(
            r.envelope_member("region").unwrap().as_str(),
            Some("us-east-1")
        );
        assert_eq!(r.envelope_member("version").unwrap().as_str(), Some("0"));
        assert_eq!(
            r.envelope_member("detail").unwrap().get("eventID").unwrap(),
            "e1"
        );
        assert!(r.envelope_member("nope").is_none());
        assert_eq!(
            eventbridge_source("cloudtrail-data.amazonaws.com"),
            "aws.cloudtrail-data"
        );
    }
}
