//! How a source reaches AWS: the SDK configuration for one region, from the standard
//! credential chain, a profile, an assumed role and an endpoint override. The SDK's own
//! retries are turned off: `Caller` retries, behind the rate limiter.

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use serde::Deserialize;

use super::cached;
use super::clock::{Clock, DateHeader, SharedClock};
use crate::defaults;

/// How a source reaches AWS (all optional: the standard chain is the default).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct AwsAccess {
    /// A named profile from ~/.aws/config.
    pub profile: Option<String>,
    /// A role to assume (another account's reader role).
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub session_name: Option<String>,
    /// An endpoint override for every service (tests, a proxy).
    pub endpoint_url: Option<String>,
    /// Per-service endpoints (`sqs`, `sts`, `logs`, `cloudtrail`, `s3`, `iam`, `ec2`,
    /// `account`, `organizations`): a VPC interface endpoint serves one service.
    #[serde(default)]
    pub endpoint_urls: std::collections::BTreeMap<String, String>,
    /// Where STS is asked for roles (default: `endpoint_url`, else AWS's): a private
    /// CloudTrail or CloudWatch Logs endpoint does not serve STS.
    pub sts_endpoint_url: Option<String>,
    /// The role assumed in the account a stream reads (a fan-out over accounts), after
    /// `role_arn` if any.
    pub member_role: Option<String>,
}

impl AwsAccess {
    /// Where STS calls go.
    pub fn sts_endpoint(&self) -> Option<&str> {
        self.sts_endpoint_url
            .as_deref()
            .or_else(|| self.endpoint("sts"))
    }

    /// Where `service`'s calls go: its own endpoint, else the one for every service, else
    /// AWS's (`None`).
    pub fn endpoint(&self, service: &str) -> Option<&str> {
        self.endpoint_urls
            .get(service)
            .map(String::as_str)
            .or(self.endpoint_url.as_deref())
    }

    /// This access, reading `account` through the fan-out's role.
    pub fn for_account(&self, account: &str, role_name: &str) -> AwsAccess {
        AwsAccess {
            member_role: Some(format!("arn:aws:iam::{account}:role/{role_name}")),
            ..self.clone()
        }
    }
}

/// The SDK loader for one region and endpoint, signing with `clock`'s time.
fn loader(
    access: &AwsAccess,
    region: &str,
    clock: &Arc<Clock>,
    endpoint: Option<&str>,
) -> aws_config::ConfigLoader {
    let mut l = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .time_source(SharedClock(clock.clone()))
        .retry_config(RetryConfig::disabled())
        // The SDK's own clock-skew correction would add its skew to the one `clock` already
        // corrects (requests signed 30 minutes off when the host is 15 minutes off).
        .disable_clock_skew_correction(true)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(defaults::AWS_CALL_TIMEOUT)
                .build(),
        );
    if let Some(p) = &access.profile {
        l = l.profile_name(p);
    }
    if let Some(f) = credentials_file() {
        l = l.profile_files(
            EnvConfigFiles::builder()
                .include_default_config_file(true)
                .with_file(EnvConfigFileKind::Credentials, f)
                .build(),
        );
    }
    if let Some(u) = endpoint {
        l = l.endpoint_url(u);
    }
    l
}

/// The systemd credential that holds a shared credentials file (`[default]`,
/// `aws_access_key_id`…) for hosts without an instance role.
pub(crate) const CREDENTIALS_FILE: &str = "aws-credentials";

/// The `aws-credentials` credential when it holds more than comments and
/// `AWS_SHARED_CREDENTIALS_FILE` does not say otherwise (the unit's default for an absent file
/// is a comment, so that a host with an instance role needs no file).
fn credentials_file() -> Option<std::path::PathBuf> {
    if std::env::var_os("AWS_SHARED_CREDENTIALS_FILE").is_some() {
        return None;
    }
    let p = crate::secret::credential_path(CREDENTIALS_FILE).ok()?;
    let text = std::fs::read_to_string(&p).ok()?;
    let said = text
        .lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'));
    said.then_some(p)
}

/// How AWS credentials can be given to trailwatch, for an error that found none.
pub(crate) const HOW_TO_GIVE_CREDENTIALS: &str =
    "give them one of these ways: an EC2 instance role \
(the usual on a bastion); a shared credentials file as the systemd credential aws-credentials \
(/etc/trailwatch/credentials/aws-credentials, mode 0600, read as [default]); `profile = \"NAME\"` \
in the source with AWS_CONFIG_FILE; or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the \
environment";

/// Why `access`'s own credentials (before any role is assumed) cannot be had, when the
/// standard chain (or the profile) gives none: it found none, or one of its providers failed
/// (an instance metadata service that answers 403, a credentials file it cannot read), said
/// in one line. `None` when it gives some, or cannot tell in time (a slow instance metadata
/// service is left to the first call).
pub(crate) async fn no_credentials(access: &AwsAccess, region: &str) -> Option<String> {
    use aws_credential_types::provider::error::CredentialsError;
    let clock = Arc::new(Clock::new("check"));
    let conf = loader(access, region, &clock, None).load().await;
    let provider = conf.credentials_provider()?;
    let asked = tokio::time::timeout(defaults::DISCOVERY_TIMEOUT, provider.provide_credentials());
    match asked.await {
        Ok(Err(CredentialsError::CredentialsNotLoaded(_))) => Some(match &access.profile {
            Some(p) => format!("no AWS credentials: profile {p} has none"),
            None => "no AWS credentials were found".to_string(),
        }),
        Ok(Err(e)) => {
            let why = super::error::chain_text(&e);
            Some(format!(
                "no AWS credentials could be had: {}",
                crate::text::truncate(&why.split_whitespace().collect::<Vec<_>>().join(" "), 300)
            ))
        }
        Ok(Ok(_)) | Err(_) => None,
    }
}

/// The credentials of `access`, shared by every client of the process that reaches AWS the
/// same way (see `cached`): the standard chain (or profile), or the roles assumed in turn
/// (`role_arn`, then the member account's role), asked of STS at its own endpoint.
pub(crate) async fn credentials(
    access: &AwsAccess,
    region: &str,
    clock: &Arc<Clock>,
) -> SharedCredentialsProvider {
    let key = format!(
        "profile={:?} role={:?} member={:?} external_id={:?} session={:?} sts={:?}",
        access.profile,
        access.role_arn,
        access.member_role,
        access.external_id,
        access.session_name,
        access.sts_endpoint()
    );
    cached::shared(key, || fetch_from(access, region, clock)).await
}

/// The provider that fetches `access`'s credentials (uncached).
async fn fetch_from(
    access: &AwsAccess,
    region: &str,
    clock: &Arc<Clock>,
) -> SharedCredentialsProvider {
    let hops: Vec<(&String, Option<&String>)> = match (&access.role_arn, &access.member_role) {
        (None, None) => Vec::new(),
        (Some(r), None) => vec![(r, access.external_id.as_ref())],
        (None, Some(m)) => vec![(m, access.external_id.as_ref())],
        // The external ID is the member role's (a reader role in every account).
        (Some(r), Some(m)) => vec![(r, None), (m, access.external_id.as_ref())],
    };
    let sts = loader(access, region, clock, access.sts_endpoint())
        .load()
        .await;
    let mut creds = sts
        .credentials_provider()
        .expect("the standard chain is always configured");
    for (role, external_id) in hops {
        let via = sts.to_builder().credentials_provider(creds.clone()).build();
        let mut b = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name(access.session_name.as_deref().unwrap_or("trailwatch"))
            .region(Region::new(region.to_string()))
            .configure(&via);
        if let Some(x) = external_id {
            b = b.external_id(x);
        }
        creds = SharedCredentialsProvider::new(b.build().await);
    }
    creds
}

/// The SDK configuration for one region with given credentials.
pub(crate) async fn sdk_config_with(
    access: &AwsAccess,
    region: &str,
    clock: &Arc<Clock>,
    creds: &SharedCredentialsProvider,
) -> SdkConfig {
    let l = loader(access, region, clock, access.endpoint_url.as_deref());
    l.credentials_provider(creds.clone()).load().await
}

/// The SDK configuration for one region, signing with `clock`'s time (AWS's, once known),
/// with the process's shared credentials for `access`.
pub(crate) async fn sdk_config(access: &AwsAccess, region: &str, clock: &Arc<Clock>) -> SdkConfig {
    let creds = credentials(access, region, clock).await;
    sdk_config_with(access, region, clock, &creds).await
}

/// The region the standard chain resolves (AWS_REGION, the profile…), if any.
pub(crate) async fn default_region(access: &AwsAccess) -> Option<String> {
    let mut chain = aws_config::default_provider::region::DefaultRegionChain::builder();
    if let Some(p) = &access.profile {
        chain = chain.profile_name(p);
    }
    chain.build().region().await.map(|r| r.to_string())
}

/// A client of SDK crate `$sdk` from config builder `$b`, reading every answer's `Date` into
/// `$clock`, at `$endpoint` when given (the crates share no trait for this).
macro_rules! dated_client {
    ($sdk:ident, $b:expr, $clock:expr, $endpoint:expr) => {{
        let mut b = $b.interceptor(DateHeader($clock.clone()));
        if let Some(u) = $endpoint {
            b = b.endpoint_url(u);
        }
        $sdk::Client::from_conf(b.build())
    }};
}

/// A CloudTrail client that reads every answer's `Date` into `clock`.
pub(crate) fn cloudtrail(
    conf: &SdkConfig,
    clock: &Arc<Clock>,
    endpoint: Option<&str>,
) -> aws_sdk_cloudtrail::Client {
    let b = aws_sdk_cloudtrail::config::Builder::from(conf);
    dated_client!(aws_sdk_cloudtrail, b, clock, endpoint)
}

/// A CloudWatch Logs client that reads every answer's `Date` into `clock`.
pub(crate) fn cloudwatch_logs(
    conf: &SdkConfig,
    clock: &Arc<Clock>,
    endpoint: Option<&str>,
) -> aws_sdk_cloudwatchlogs::Client {
    let b = aws_sdk_cloudwatchlogs::config::Builder::from(conf);
    dated_client!(aws_sdk_cloudwatchlogs, b, clock, endpoint)
}

/// An STS client that reads every answer's `Date` into `clock`, at `endpoint` when given.
pub(crate) fn sts(
    conf: &SdkConfig,
    clock: &Arc<Clock>,
    endpoint: Option<&str>,
) -> aws_sdk_sts::Client {
    dated_client!(
        aws_sdk_sts,
        aws_sdk_sts::config::Builder::from(conf),
        clock,
        endpoint
    )
}

/// An Account client (global: signed for its partition's home region).
pub(crate) fn account(
    conf: &SdkConfig,
    clock: &Arc<Clock>,
    endpoint: Option<&str>,
) -> aws_sdk_account::Client {
    let home = crate::partition::of(conf.region().map_or("us-east-1", |r| r.as_ref())).iam_region;
    let b = aws_sdk_account::config::Builder::from(conf).region(Region::new(home));
    dated_client!(aws_sdk_account, b, clock, endpoint)
}
