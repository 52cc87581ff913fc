//! One call of AWS's JSON protocol (SQS, Organizations, DynamoDB): a POST of a JSON body with the action
//! in `X-Amz-Target`, signed by `signed`, and its JSON answer. Errors carry their code in
//! `__type` (`com.amazonaws.sqs#QueueDoesNotExist`) and a `message`.

use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::Value;

use super::clock::Clock;
use super::error::{ApiError, ApiErrorKind};
use super::signed;
use crate::defaults;
use crate::partition;

/// A JSON-protocol service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Service {
    /// The signing name, and the endpoint's first label.
    pub name: &'static str,
    /// Prefix of the `X-Amz-Target` header (`AmazonSQS`).
    pub target: &'static str,
    /// `1.0` or `1.1`.
    pub version: &'static str,
    /// Global services are signed for us-east-1 at one endpoint.
    pub global: bool,
}

pub(crate) const SQS: Service = Service {
    name: "sqs",
    target: "AmazonSQS",
    version: "1.0",
    global: false,
};

pub(crate) const ORGANIZATIONS: Service = Service {
    name: "organizations",
    target: "AWSOrganizationsV20161128",
    version: "1.1",
    global: true,
};

pub(crate) const DYNAMODB: Service = Service {
    name: "dynamodb",
    target: "DynamoDB_20120810",
    version: "1.0",
    global: false,
};

/// Where to send it, and the region it is signed for (see `partition::endpoint`).
fn endpoint(service: Service, region: &str, endpoint_url: Option<&str>) -> (String, String) {
    partition::endpoint(service.name, service.global, region, endpoint_url)
}

/// One call: where, what, and how long the answer may take.
pub(crate) struct Call<'a> {
    pub service: Service,
    pub region: &'a str,
    pub endpoint_url: Option<&'a str>,
    pub action: &'a str,
    pub body: Value,
    pub timeout: Duration,
}

impl Call<'_> {
    /// What is asked, as an operator reads it: `sqs:ReceiveMessage`.
    pub(crate) fn what(&self) -> String {
        format!("{}:{}", self.service.name, self.action)
    }
}

/// Sends `call` once; throttling, 5xx and network failures come back as such (the caller
/// retries them).
pub(crate) async fn send(
    conf: &SdkConfig,
    clock: &Clock,
    call: &Call<'_>,
) -> Result<Value, ApiError> {
    let client = signed::client().map_err(|(kind, m)| ApiError::new(&call.what(), m, kind))?;
    send_via(client, conf, clock, call).await
}

/// `send` through `client` (see `signed::send_via`).
pub(crate) async fn send_via(
    client: &reqwest::Client,
    conf: &SdkConfig,
    clock: &Clock,
    call: &Call<'_>,
) -> Result<Value, ApiError> {
    let s = call.service;
    let (url, signed_for) = endpoint(s, call.region, call.endpoint_url);
    let req = signed::Request {
        service: s.name,
        region: &signed_for,
        url: &url,
        content_type: if s.version == "1.0" {
            "application/x-amz-json-1.0"
        } else {
            "application/x-amz-json-1.1"
        },
        headers: vec![("x-amz-target", format!("{}.{}", s.target, call.action))],
        body: call.body.to_string().into_bytes(),
        timeout: call.timeout.max(defaults::AWS_CALL_TIMEOUT),
    };
    let (status, text) = signed::send_via(client, conf, clock, req)
        .await
        .map_err(|(kind, m)| ApiError::new(&call.what(), m, kind))?;
    let v: Value = if text.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(&text).map_err(|e| {
            let kind = if status >= 500 {
                ApiErrorKind::Transient
            } else {
                ApiErrorKind::Other
            };
            let start: String = text.chars().take(200).collect();
            ApiError::new(
                &call.what(),
                format!("HTTP {status}, not a JSON answer ({e}): {start}"),
                kind,
            )
        })?
    };
    if status == 200 {
        return Ok(v);
    }
    let (code, message) = error_of(&v);
    let kind = ApiErrorKind::of_message(&code, status, &message);
    let mut e = ApiError::new(
        &call.what(),
        format!("{code}: {message} (HTTP {status})"),
        kind,
    )
    .coded(&code);
    e.reasons = reasons_of(&v);
    Err(e)
}

/// The reasons of a cancelled transaction (DynamoDB's `CancellationReasons`), one per item.
fn reasons_of(v: &Value) -> Box<[String]> {
    v["CancellationReasons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["Code"].as_str().unwrap_or("None").to_string())
        .collect()
}

/// The code and message of a JSON error answer.
fn error_of(v: &Value) -> (String, String) {
    let t = v["__type"].as_str().unwrap_or("");
    let code = t.rsplit('#').next().unwrap_or(t).to_string();
    let message = v["message"]
        .as_str()
        .or(v["Message"].as_str())
        .unwrap_or("")
        .to_string();
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_endpoints() {
        let v: Value = serde_json::from_str(
            r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no such queue"}"#,
        )
        .unwrap();
        assert_eq!(
            error_of(&v),
            ("QueueDoesNotExist".into(), "no such queue".into())
        );
        let v: Value =
            serde_json::from_str(r#"{"__type":"AccessDeniedException","Message":"no"}"#).unwrap();
        assert_eq!(error_of(&v), ("AccessDeniedException".into(), "no".into()));
        let v: Value = serde_json::from_str(r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{"Code":"None"},{"Code":"ConditionalCheckFailed","Message":"m"}],"Message":"Transaction cancelled"}"#).unwrap();
        assert_eq!(&*reasons_of(&v), ["None", "ConditionalCheckFailed"]);
        let e = ApiError::new(
            "dynamodb:TransactWriteItems",
            "m".into(),
            ApiErrorKind::Other,
        )
        .coded(&error_of(&v).0);
        assert!(
            !e.is_condition_failed(),
            "no reasons: not known to be a condition"
        );
        let e = ApiError {
            reasons: reasons_of(&v),
            ..e
        };
        assert!(e.is_condition_failed());
        assert_eq!(
            endpoint(ORGANIZATIONS, "eu-west-1", None).0,
            "https://organizations.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            endpoint(SQS, "eu-west-1", None).0,
            "https://sqs.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            endpoint(SQS, "eu-west-1", Some("http://127.0.0.1:5000")).0,
            "http://127.0.0.1:5000/"
        );
    }
}
