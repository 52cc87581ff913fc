//! One HTTP request to AWS signed here with SigV4 (aws-sigv4), with the source's credentials
//! and AWS-corrected time, for the few calls whose SDKs are not worth their size (IAM, EC2,
//! Organizations, SQS). The protocols on top: `query` (form-encoded, XML answers) and `json`
//! (AWS JSON 1.0/1.1). Every answer's `Date` corrects the source's clock.

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_async::time::TimeSource;
use aws_smithy_runtime_api::client::identity::Identity;

use super::clock::Clock;
use super::error::ApiErrorKind;
use crate::defaults;

/// A request to sign and send.
pub(crate) struct Request<'a> {
    /// The signing name (`iam`, `sqs`, `organizations`…) and region.
    pub service: &'a str,
    pub region: &'a str,
    pub url: &'a str,
    pub content_type: &'a str,
    /// More headers to sign and send (`x-amz-target`).
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// How long the answer may take (SQS long polls wait 20 s).
    pub timeout: Duration,
}

/// A failure: its kind (whether a retry may help) and what happened.
pub(crate) type Failure = (ApiErrorKind, String);

/// The process's HTTP client for AWS calls.
pub(crate) fn client() -> Result<&'static reqwest::Client, Failure> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = reqwest::Client::builder()
        .connect_timeout(defaults::AWS_CALL_TIMEOUT)
        .build()
        .map_err(|e| (ApiErrorKind::Other, format!("HTTP client: {e}")))?;
    Ok(CLIENT.get_or_init(|| c))
}

/// Signs and sends `req`; returns the status and the body.
pub(crate) async fn send(
    conf: &SdkConfig,
    clock: &Clock,
    req: Request<'_>,
) -> Result<(u16, String), Failure> {
    send_via(client()?, conf, clock, req).await
}

/// `send` through `client` (a runtime of its own needs a client of its own: a pooled
/// connection lives on the runtime that opened it).
pub(crate) async fn send_via(
    client: &reqwest::Client,
    conf: &SdkConfig,
    clock: &Clock,
    req: Request<'_>,
) -> Result<(u16, String), Failure> {
    let other = |m: String| (ApiErrorKind::Other, m);
    let provider = conf
        .credentials_provider()
        .ok_or_else(|| other("no AWS credentials are configured".into()))?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| other(format!("cannot get AWS credentials: {e}")))?;
    let identity: Identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(req.region)
        .name(req.service)
        .time(TimeSource::now(clock))
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| other(format!("cannot sign the request: {e}")))?
        .into();
    let mut headers: Vec<(&str, &str)> = vec![("content-type", req.content_type)];
    headers.extend(req.headers.iter().map(|(k, v)| (*k, v.as_str())));
    let signable = SignableRequest::new(
        "POST",
        req.url,
        headers.iter().copied(),
        SignableBody::Bytes(&req.body),
    )
    .map_err(|e| other(format!("cannot sign the request: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| other(format!("cannot sign the request: {e}")))?
        .into_parts();
    let mut r = client.post(req.url).timeout(req.timeout);
    for (k, v) in &headers {
        r = r.header(*k, *v);
    }
    for (k, v) in instructions.headers() {
        r = r.header(k, v);
    }
    let resp = r
        .body(req.body)
        .send()
        .await
        .map_err(|e| (ApiErrorKind::Transient, format!("request failed: {e}")))?;
    if let Some(d) = resp.headers().get("date").and_then(|d| d.to_str().ok()) {
        clock.observe_date(d);
    }
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .await
        .map_err(|e| (ApiErrorKind::Transient, format!("reading the answer: {e}")))?;
    Ok((status, text))
}
