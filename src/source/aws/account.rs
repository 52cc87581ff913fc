//! What a source learns about the account it reads, so that its plan cannot be blind: the
//! account's ID (`sts:GetCallerIdentity`, never denied), its aliases (`iam:ListAccountAliases`:
//! root's events carry the alias as their user name), and the regions enabled for it
//! (`account:ListRegions`, else `ec2:DescribeRegions`: root can act in any of them).

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_account::types::RegionOptStatus;

use super::caller::{ApiStats, Caller};
use super::clock::Clock;
use super::error::ApiError;
use super::{access, query};
use crate::backoff::Backoff;

/// The regions AWS enables in every account by default (the others are opt-in). Used when the
/// enabled regions cannot be asked for.
pub(crate) const DEFAULT_ENABLED_REGIONS: &[&str] = &[
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// Discovery calls: few, at start and every few hours; retried briefly.
fn caller() -> Caller {
    let backoff = Backoff {
        initial: Duration::from_millis(300),
        max_delay: Duration::from_secs(1),
        attempts: 1,
    };
    Caller::new(5.0, backoff, Arc::new(ApiStats::default()))
}

/// The account the credentials belong to.
pub(crate) async fn account_id(
    conf: &SdkConfig,
    clock: &Arc<Clock>,
    sts_endpoint: Option<&str>,
) -> Result<String, ApiError> {
    let client = access::sts(conf, clock, sts_endpoint);
    let out = caller()
        .call("sts:GetCallerIdentity", || {
            client.get_caller_identity().send()
        })
        .await?;
    Ok(out.account().unwrap_or_default().to_string())
}

/// The account's aliases (an account has at most one today; the API returns a list).
pub(crate) async fn aliases(
    conf: &SdkConfig,
    clock: &Clock,
    endpoint_url: Option<&str>,
    home: &str,
) -> Result<Vec<String>, ApiError> {
    // IAM is global: `home` only says which partition's IAM.
    let xml = query::call(
        conf,
        clock,
        query::IAM,
        home,
        endpoint_url,
        "ListAccountAliases",
        &[],
    )
    .await?;
    Ok(query::tag_values(&xml, "member"))
}

/// The regions enabled for the account, and the API that said so; or why none could tell.
pub(crate) async fn enabled_regions(
    conf: &SdkConfig,
    clock: &Arc<Clock>,
    (account_endpoint, endpoint_url): (Option<&str>, Option<&str>),
    home: &str,
) -> Result<(Vec<String>, &'static str), Vec<ApiError>> {
    let mut errors = Vec::new();
    match list_regions(conf, clock, account_endpoint).await {
        Ok(rs) if !rs.is_empty() => return Ok((rs, "account:ListRegions")),
        Ok(_) => {}
        Err(e) => errors.push(e),
    }
    match describe_regions(conf, clock, endpoint_url, home).await {
        Ok(rs) if !rs.is_empty() => return Ok((rs, "ec2:DescribeRegions")),
        Ok(_) => {}
        Err(e) => errors.push(e),
    }
    Err(errors)
}

async fn list_regions(
    conf: &SdkConfig,
    clock: &Arc<Clock>,
    endpoint: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    let client = access::account(conf, clock, endpoint);
    let c = caller();
    let mut token: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let page = c
            .call("account:ListRegions", || {
                client
                    .list_regions()
                    .region_opt_status_contains(RegionOptStatus::Enabled)
                    .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
                    .max_results(50)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        out.extend(
            page.regions()
                .iter()
                .filter_map(|r| r.region_name().map(str::to_string)),
        );
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

async fn describe_regions(
    conf: &SdkConfig,
    clock: &Clock,
    endpoint_url: Option<&str>,
    home: &str,
) -> Result<Vec<String>, ApiError> {
    // Without AllRegions, DescribeRegions lists the regions enabled for the account.
    let xml = query::call(
        conf,
        clock,
        query::EC2,
        home,
        endpoint_url,
        "DescribeRegions",
        &[],
    )
    .await?;
    let mut out = query::tag_values(&xml, "regionName");
    out.sort();
    out.dedup();
    Ok(out)
}
