//! How a source reaches AWS: the SDK configuration for one region, from the standard
//! credential chain, a profile, an assumed role and an endpoint override. The SDK's own
//! retries are turned off: `Caller` retries, behind the rate limiter.

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::Deserialize;

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
    /// An endpoint override (tests, VPC endpoints).
    pub endpoint_url: Option<String>,
}

/// The SDK configuration for one region, signing with `clock`'s time (AWS's, once known).
pub async fn sdk_config(access: &AwsAccess, region: &str, clock: &Arc<Clock>) -> SdkConfig {
    let loader = || {
        let mut l = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .time_source(SharedClock(clock.clone()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(defaults::AWS_CALL_TIMEOUT)
                    .build(),
            );
        if let Some(p) = &access.profile {
            l = l.profile_name(p);
        }
        if let Some(u) = &access.endpoint_url {
            l = l.endpoint_url(u);
        }
        l
    };
    let base = loader().load().await;
    let Some(role) = &access.role_arn else {
        return base;
    };
    let mut b = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name(access.session_name.as_deref().unwrap_or("trailwatch"))
        .region(Region::new(region.to_string()))
        .configure(&base);
    if let Some(x) = &access.external_id {
        b = b.external_id(x);
    }
    loader().credentials_provider(b.build().await).load().await
}

/// The region the standard chain resolves (AWS_REGION, the profile…), if any.
pub async fn default_region(access: &AwsAccess) -> Option<String> {
    let mut chain = aws_config::default_provider::region::DefaultRegionChain::builder();
    if let Some(p) = &access.profile {
        chain = chain.profile_name(p);
    }
    chain.build().region().await.map(|r| r.to_string())
}

/// A CloudTrail client that reads every answer's `Date` into `clock`.
pub fn cloudtrail(conf: &SdkConfig, clock: &Arc<Clock>) -> aws_sdk_cloudtrail::Client {
    let c = aws_sdk_cloudtrail::config::Builder::from(conf)
        .interceptor(DateHeader(clock.clone()))
        .build();
    aws_sdk_cloudtrail::Client::from_conf(c)
}

/// A CloudWatch Logs client that reads every answer's `Date` into `clock`.
pub fn cloudwatch_logs(conf: &SdkConfig, clock: &Arc<Clock>) -> aws_sdk_cloudwatchlogs::Client {
    let c = aws_sdk_cloudwatchlogs::config::Builder::from(conf)
        .interceptor(DateHeader(clock.clone()))
        .build();
    aws_sdk_cloudwatchlogs::Client::from_conf(c)
}

/// An STS client that reads every answer's `Date` into `clock`.
pub fn sts(conf: &SdkConfig, clock: &Arc<Clock>) -> aws_sdk_sts::Client {
    let c = aws_sdk_sts::config::Builder::from(conf)
        .interceptor(DateHeader(clock.clone()))
        .build();
    aws_sdk_sts::Client::from_conf(c)
}

/// An Account client (global, signed for us-east-1).
pub fn account(conf: &SdkConfig, clock: &Arc<Clock>) -> aws_sdk_account::Client {
    let c = aws_sdk_account::config::Builder::from(conf)
        .region(Region::new("us-east-1"))
        .interceptor(DateHeader(clock.clone()))
        .build();
    aws_sdk_account::Client::from_conf(c)
}
