//! Opening an AWS source: learning what it covers, then making its streams. A source reads its
//! credentials' own account, or fans out over accounts (`accounts = "organization"` or a list,
//! each read through `role_name`): every account becomes its own set of streams
//! (`<account>/<region>`, `<account>/<log group>`), and an account whose role cannot be assumed
//! is named, never skipped in silence. An `s3` source opens its bucket (and queue); its
//! streams are found by listing the bucket (`poll::bucket`).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;

use super::aws::{self, organization, ApiError, ApiStats, Caller, Clock};
use super::config::{Accounts, Fanout, SourceKind, SourceSpec};
use super::coverage::{Aliases, Coverage};
use super::s3::{Bucket, Keys, Queue, Trail};
use super::stream::{Reader, Stream};
use super::{cloudwatch_logs, lookup_events};
use crate::backoff::Backoff;
use crate::defaults;

/// A source that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "source '{0}': no region configured (set `region`, AWS_REGION or the profile's region)"
    )]
    NoRegion(String),
    #[error("source '{source_name}': cannot list the organization's accounts: {error}")]
    Accounts {
        source_name: String,
        error: ApiError,
    },
}

/// An account of a fan-out that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    pub account: String,
    pub why: String,
}

/// A source opened.
#[derive(Default)]
pub struct Opened {
    pub streams: Vec<Stream>,
    /// What each account read covers (`lookup_events`).
    pub coverage: Vec<Arc<Coverage>>,
    /// The accounts a fan-out reads, and those it cannot.
    pub accounts: Vec<String>,
    pub unreachable: Vec<Unreachable>,
    /// An `s3` source's bucket and queue.
    pub trail: Option<Arc<Trail>>,
}

/// What every stream of a source shares.
struct Shared<'a> {
    spec: &'a Arc<SourceSpec>,
    stats: Arc<ApiStats>,
    clock: Arc<Clock>,
}

impl Shared<'_> {
    fn caller(&self) -> Caller {
        let spec = self.spec;
        let backoff = Backoff {
            initial: spec.retry_initial,
            attempts: spec.retry_attempts,
            ..Backoff::default()
        };
        Caller::new(spec.rate, backoff, self.stats.clone())
    }

    fn stream(&self, name: String, reader: Reader, coverage: Option<Arc<Coverage>>) -> Stream {
        Stream {
            source: self.spec.clone(),
            name,
            reader,
            stats: self.stats.clone(),
            clock: self.clock.clone(),
            coverage,
        }
    }
}

/// Opens the streams of an AWS source (none for `files`), learning its account(s) first.
/// `aliases` is the `[account_aliases]` table.
pub async fn open_source(
    spec: &Arc<SourceSpec>,
    aliases: &BTreeMap<String, String>,
) -> Result<Opened, SourceError> {
    open_source_on(spec, aliases, Arc::new(Clock::new(&spec.name))).await
}

/// `open_source` on a given clock (tests drive its host time).
pub async fn open_source_on(
    spec: &Arc<SourceSpec>,
    aliases: &BTreeMap<String, String>,
    clock: Arc<Clock>,
) -> Result<Opened, SourceError> {
    let sh = Shared {
        spec,
        stats: Arc::new(ApiStats::default()),
        clock,
    };
    match (&spec.kind, &spec.fanout) {
        (SourceKind::Files { .. }, _) => Ok(Opened::default()),
        (SourceKind::S3 { .. }, _) => open_s3(&sh).await,
        (_, None) => {
            let (streams, coverage) = open_account(&sh, &spec.access, None, aliases).await?;
            Ok(Opened {
                streams,
                coverage: coverage.into_iter().collect(),
                ..Opened::default()
            })
        }
        (_, Some(f)) => open_fanout(&sh, f, aliases).await,
    }
}

/// The region the source's own calls go to: its first configured one, else the chain's.
async fn home_region(spec: &SourceSpec) -> String {
    let configured = match &spec.kind {
        SourceKind::LookupEvents { regions } => regions.as_ref().and_then(|r| r.first()).cloned(),
        SourceKind::CloudwatchLogs { region, .. } => region.clone(),
        SourceKind::S3 { region, .. } => region.clone(),
        SourceKind::Files { .. } => None,
    };
    match configured {
        Some(r) => r,
        None => aws::default_region(&spec.access)
            .await
            .unwrap_or_else(|| "us-east-1".into()),
    }
}

/// The streams of one account (`account`: its ID in a fan-out, whose streams it prefixes).
async fn open_account(
    sh: &Shared<'_>,
    access: &aws::AwsAccess,
    account: Option<&str>,
    aliases: &BTreeMap<String, String>,
) -> Result<(Vec<Stream>, Option<Arc<Coverage>>), SourceError> {
    let spec = sh.spec;
    let named = |s: &str| match account {
        Some(a) => format!("{a}/{s}"),
        None => s.to_string(),
    };
    let home = home_region(spec).await;
    let creds = aws::access::credentials(access, &home, &sh.clock).await;
    match &spec.kind {
        SourceKind::LookupEvents { .. } => {
            let conf = aws::access::sdk_config_with(access, &home, &sh.clock, &creds).await;
            let mut c = learn(spec, &conf, &sh.clock, aliases, &home).await;
            if let Some(a) = account {
                c.source = format!("{}/{a}", spec.name);
                c.account.get_or_insert_with(|| a.to_string());
                // The fan-out knows the account: its alias in [account_aliases] counts.
                if let (Aliases::Unknown { .. }, Some(alias)) = (&c.aliases, aliases.get(a)) {
                    c.aliases = Aliases::Known {
                        aliases: vec![alias.clone()],
                        from: "[account_aliases]".into(),
                    };
                }
            }
            let coverage = Arc::new(c);
            let mut streams = Vec::new();
            for region in &coverage.regions {
                let conf = aws::access::sdk_config_with(access, region, &sh.clock, &creds).await;
                let reader = Reader::Lookup(lookup_events::Region {
                    client: aws::access::cloudtrail(
                        &conf,
                        &sh.clock,
                        access.endpoint("cloudtrail"),
                    ),
                    caller: sh.caller(),
                    region: region.clone(),
                });
                streams.push(sh.stream(named(region), reader, Some(coverage.clone())));
            }
            Ok((streams, Some(coverage)))
        }
        SourceKind::CloudwatchLogs {
            region,
            log_group,
            log_stream_prefix,
        } => {
            let region = match region {
                Some(r) => r.clone(),
                None => aws::default_region(&spec.access)
                    .await
                    .ok_or_else(|| SourceError::NoRegion(spec.name.clone()))?,
            };
            let conf = aws::access::sdk_config_with(access, &region, &sh.clock, &creds).await;
            let reader = Reader::Logs(cloudwatch_logs::Group {
                client: aws::access::cloudwatch_logs(&conf, &sh.clock, access.endpoint("logs")),
                caller: sh.caller(),
                region,
                log_group: log_group.clone(),
                stream_prefix: log_stream_prefix.clone(),
            });
            Ok((vec![sh.stream(named(log_group), reader, None)], None))
        }
        SourceKind::Files { .. } | SourceKind::S3 { .. } => Ok((Vec::new(), None)),
    }
}

/// Learns what a `lookup_events` source covers in the account `conf` reads.
async fn learn(
    spec: &SourceSpec,
    conf: &SdkConfig,
    clock: &Arc<Clock>,
    aliases: &BTreeMap<String, String>,
    home: &str,
) -> Coverage {
    let learn = Coverage::discover(spec, conf, clock, aliases, home);
    match tokio::time::timeout(defaults::DISCOVERY_TIMEOUT, learn).await {
        Ok(c) => c,
        Err(_) => Coverage::unreachable(
            spec,
            format!(
                "AWS did not answer within {}s",
                defaults::DISCOVERY_TIMEOUT.as_secs()
            ),
        ),
    }
}

/// What a `lookup_events` source covers, learned for one account of a fan-out (`None`: the source's own account).
pub(crate) async fn discover_account(
    spec: &SourceSpec,
    account: Option<&str>,
    aliases: &BTreeMap<String, String>,
    clock: &Arc<Clock>,
) -> Coverage {
    let access = match (account, &spec.fanout) {
        (Some(a), Some(f)) => spec.access.for_account(a, &f.role_name),
        _ => spec.access.clone(),
    };
    let home = home_region(spec).await;
    let conf = aws::sdk_config(&access, &home, clock).await;
    let mut c = learn(spec, &conf, clock, aliases, &home).await;
    if let (Some(a), Some(_)) = (account, &spec.fanout) {
        c.source = format!("{}/{a}", spec.name);
    }
    c
}

/// The accounts a fan-out reads: the organization's active ones, or the listed ones.
pub(crate) async fn fanout_accounts(
    spec: &SourceSpec,
    f: &Fanout,
    clock: &Arc<Clock>,
) -> Result<Vec<String>, SourceError> {
    match &f.accounts {
        Accounts::Listed(v) => Ok(v.clone()),
        Accounts::Own => Ok(Vec::new()),
        Accounts::Organization => {
            let conf = aws::sdk_config(&spec.access, "us-east-1", clock).await;
            let members =
                organization::accounts(&conf, clock, spec.access.endpoint("organizations"))
                    .await
                    .map_err(|error| SourceError::Accounts {
                        source_name: spec.name.clone(),
                        error,
                    })?;
            Ok(members
                .into_iter()
                .filter(|m| m.status == "ACTIVE")
                .map(|m| m.id)
                .collect())
        }
    }
}

/// Proves the role in `account` can be assumed: the account answers `sts:GetCallerIdentity`
/// as itself.
async fn reachable(sh: &Shared<'_>, access: &aws::AwsAccess, account: &str) -> Result<(), String> {
    let home = home_region(sh.spec).await;
    let conf = aws::sdk_config(access, &home, &sh.clock).await;
    let role = access.member_role.as_deref().unwrap_or("");
    match aws::account::account_id(&conf, &sh.clock, access.sts_endpoint()).await {
        Ok(id) if id == account => Ok(()),
        Ok(id) => Err(format!(
            "assuming {role} gave credentials of account {id}, not {account}"
        )),
        Err(e) => Err(format!("cannot assume {role}: {e}")),
    }
}

/// Opens every account of a fan-out; those whose role cannot be assumed are named.
async fn open_fanout(
    sh: &Shared<'_>,
    f: &Fanout,
    aliases: &BTreeMap<String, String>,
) -> Result<Opened, SourceError> {
    let accounts = fanout_accounts(sh.spec, f, &sh.clock).await?;
    let mut opened = Opened {
        accounts: accounts.clone(),
        ..Opened::default()
    };
    for account in &accounts {
        let access = sh.spec.access.for_account(account, &f.role_name);
        if let Err(why) = reachable(sh, &access, account).await {
            tracing::error!(source = %sh.spec.name, account = %account, "account {account} cannot be read: {why}");
            opened.unreachable.push(Unreachable {
                account: account.clone(),
                why,
            });
            continue;
        }
        let (streams, coverage) = open_account(sh, &access, Some(account), aliases).await?;
        opened.streams.extend(streams);
        opened.coverage.extend(coverage);
    }
    Ok(opened)
}

/// Opens an `s3` source's bucket, and its queue.
async fn open_s3(sh: &Shared<'_>) -> Result<Opened, SourceError> {
    let spec = sh.spec;
    let SourceKind::S3 {
        bucket,
        prefix,
        accounts,
        regions,
        queue_url,
        verify_digests,
        ..
    } = &spec.kind
    else {
        return Ok(Opened::default());
    };
    let region = home_region(spec).await;
    let conf = aws::sdk_config(&spec.access, &region, &sh.clock).await;
    let b = Bucket::new(
        &conf,
        &sh.clock,
        sh.caller(),
        bucket,
        prefix.clone(),
        spec.access.endpoint("s3"),
    );
    let queue = queue_url.as_ref().map(|q| {
        Queue::new(
            conf.clone(),
            sh.clock.clone(),
            sh.caller(),
            q,
            &region,
            spec.access.endpoint("sqs").map(str::to_string),
        )
    });
    Ok(Opened {
        trail: Some(Arc::new(Trail {
            bucket: Arc::new(b),
            queue,
            keys: verify_digests
                .then(|| Keys::new(spec.access.clone(), sh.clock.clone(), sh.caller())),
            accounts: accounts.clone(),
            regions: regions.clone(),
            clock: sh.clock.clone(),
            stats: sh.stats.clone(),
        })),
        ..Opened::default()
    })
}

/// Opens the streams of an AWS source without an `[account_aliases]` table.
pub async fn open_streams(spec: &Arc<SourceSpec>) -> Result<Vec<Stream>, SourceError> {
    Ok(open_source(spec, &BTreeMap::new()).await?.streams)
}
