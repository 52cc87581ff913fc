//! One call of AWS's query protocol (IAM, EC2): a form-encoded POST signed by `signed`, and its
//! XML answer. Used for the two single calls trailwatch needs from those services
//! (`iam:ListAccountAliases`, `ec2:DescribeRegions`), which do not justify their SDKs' size.

use std::time::Duration;

use aws_config::SdkConfig;

use super::clock::Clock;
use super::error::{ApiError, ApiErrorKind};
use super::signed;
use crate::defaults;
use crate::partition;

/// A query-protocol service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Service {
    /// The signing name (`iam`, `ec2`).
    pub name: &'static str,
    pub version: &'static str,
    /// Global services are signed for us-east-1 at one endpoint.
    pub global: bool,
}

pub(crate) const IAM: Service = Service {
    name: "iam",
    version: "2010-05-08",
    global: true,
};

pub(crate) const EC2: Service = Service {
    name: "ec2",
    version: "2016-11-15",
    global: false,
};

/// Where to send it, and the region it is signed for (see `partition::endpoint`).
fn endpoint(service: Service, region: &str, endpoint_url: Option<&str>) -> (String, String) {
    partition::endpoint(service.name, service.global, region, endpoint_url)
}

/// Percent-encodes a form value (RFC 3986 unreserved characters stay).
fn form(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of every `<tag>…</tag>` in an XML answer, unescaped (AWS's answers are flat
/// enough for this).
pub(crate) fn tag_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(
            after[..j]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[j + close.len()..];
    }
    out
}

/// Calls `action` with `params`; returns the XML answer. Throttling, 5xx and network errors are
/// tried twice.
pub(crate) async fn call(
    conf: &SdkConfig,
    clock: &Clock,
    service: Service,
    region: &str,
    endpoint_url: Option<&str>,
    action: &str,
    params: &[(&str, &str)],
) -> Result<String, ApiError> {
    let what = format!("{}:{action}", service.name);
    let mut last = None;
    for attempt in 0..2u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        match once(conf, clock, service, region, endpoint_url, action, params).await {
            Ok(xml) => return Ok(xml),
            Err((kind, message)) => {
                let e = ApiError::new(&what, message, kind);
                if kind != ApiErrorKind::Transient {
                    return Err(e);
                }
                last = Some(e);
            }
        }
    }
    Err(last.expect("two attempts were made"))
}

async fn once(
    conf: &SdkConfig,
    clock: &Clock,
    service: Service,
    region: &str,
    endpoint_url: Option<&str>,
    action: &str,
    params: &[(&str, &str)],
) -> Result<String, signed::Failure> {
    let (url, signed_for) = endpoint(service, region, endpoint_url);
    let mut body = format!("Action={}&Version={}", form(action), service.version);
    for (k, v) in params {
        body.push_str(&format!("&{}={}", form(k), form(v)));
    }
    let req = signed::Request {
        service: service.name,
        region: &signed_for,
        url: &url,
        content_type: "application/x-www-form-urlencoded; charset=utf-8",
        headers: Vec::new(),
        body: body.into_bytes(),
        timeout: defaults::AWS_CALL_TIMEOUT,
    };
    let (status, text) = signed::send(conf, clock, req).await?;
    if status == 200 {
        return Ok(text);
    }
    let code = tag_values(&text, "Code")
        .into_iter()
        .next()
        .unwrap_or_default();
    let message = tag_values(&text, "Message")
        .into_iter()
        .next()
        .unwrap_or_default();
    let kind = ApiErrorKind::of(&code, status);
    Err((kind, format!("{code}: {message} (HTTP {status})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_values_and_endpoints() {
        let x = "<R><AccountAliases><member>acme-prod</member><member>a&amp;b</member></AccountAliases></R>";
        assert_eq!(tag_values(x, "member"), ["acme-prod", "a&b"]);
        assert!(tag_values(x, "nope").is_empty());
        assert_eq!(
            endpoint(IAM, "eu-west-1", None).0,
            "https://iam.amazonaws.com/"
        );
        assert_eq!(
            endpoint(EC2, "eu-west-1", None).0,
            "https://ec2.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            endpoint(EC2, "eu-west-1", Some("http://127.0.0.1:9/")).0,
            "http://127.0.0.1:9/"
        );
        assert_eq!(form("a b/c"), "a%20b%2Fc");
        assert_eq!(
            endpoint(IAM, "cn-north-1", None),
            (
                "https://iam.cn-north-1.amazonaws.com.cn/".to_string(),
                "cn-north-1".to_string()
            ),
            "China's IAM, signed for its region"
        );
        assert_eq!(
            endpoint(EC2, "us-gov-west-1", Some("http://127.0.0.1:9")).1,
            "us-gov-west-1"
        );
    }
}
