//! A `[[sources]]` entry: as written (keys of other kinds rejected, with file, line and column)
//! and validated with its defaults (`SourceSpec`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::aws::AwsAccess;
use crate::config::location::{parse_entry, Entry};
use crate::config::{ConfigError, SourceText};
use crate::defaults;
use crate::format::stream::Limits;
use crate::rules::pushdown;

/// The kinds of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SourceType {
    LookupEvents,
    CloudwatchLogs,
    Files,
    S3,
}

impl SourceType {
    /// The name as written in `type = "…"`.
    fn name(self) -> &'static str {
        match self {
            SourceType::LookupEvents => "lookup_events",
            SourceType::CloudwatchLogs => "cloudwatch_logs",
            SourceType::Files => "files",
            SourceType::S3 => "s3",
        }
    }
}

/// `accounts` as written: `"organization"`, or a list of account IDs.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum AccountsConfig {
    Named(String),
    List(Vec<String>),
}

/// Which accounts an AWS source reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Accounts {
    /// The credentials' own account.
    #[default]
    Own,
    /// Every active account of the organization (`organizations:ListAccounts`).
    Organization,
    /// These accounts.
    Listed(Vec<String>),
}

/// How a source reads other accounts: the role assumed in each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fanout {
    pub accounts: Accounts,
    /// The role's name in every account (`arn:aws:iam::<account>:role/<role_name>`).
    pub role_name: String,
}

/// A `[[sources]]` entry as written. Keys that do not apply to its type are rejected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceConfig {
    name: String,
    #[serde(rename = "type")]
    kind: SourceType,
    /// lookup_events: regions to poll (default: every region enabled for the account); s3:
    /// only these regions' files (default: every region found).
    regions: Option<Vec<String>>,
    /// cloudwatch_logs: the log group's region; s3: the bucket's (default: the configured
    /// region).
    region: Option<String>,
    /// lookup_events, cloudwatch_logs: `"organization"` or account IDs, read through
    /// `role_name`; s3: only these accounts' files.
    accounts: Option<AccountsConfig>,
    role_name: Option<String>,
    /// s3: the bucket, the key prefix before `AWSLogs/`, the notification queue, and how often
    /// the bucket is listed.
    bucket: Option<String>,
    prefix: Option<String>,
    queue_url: Option<String>,
    list_interval: Option<String>,
    /// s3: the first wait before an object that could not be read is tried again.
    unreadable_retry: Option<String>,
    /// s3: check the trail's signed digests as they arrive (default: true).
    verify_digests: Option<bool>,
    log_group: Option<String>,
    log_stream_prefix: Option<String>,
    /// files: the folder.
    path: Option<PathBuf>,
    /// files: bytes read from one file at most (after decompression), and the record length
    /// past which a record is reduced.
    max_file_bytes: Option<u64>,
    max_record_bytes: Option<usize>,
    poll_interval: Option<String>,
    overlap: Option<String>,
    /// Longest window read in one go (catch-up after downtime is split into such windows).
    max_window: Option<String>,
    /// How far back the background sweep re-reads ("0s": off), and how often.
    late_sweep: Option<String>,
    late_sweep_interval: Option<String>,
    max_calls_per_second: Option<f64>,
    /// Ask AWS only for what the rules can match (default true).
    pushdown: Option<bool>,
    pushdown_max_lookups: Option<usize>,
    retry_initial: Option<String>,
    retry_attempts: Option<u32>,
    profile: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
    session_name: Option<String>,
    endpoint_url: Option<String>,
    /// Where STS is asked for roles (default: `endpoint_url` when given, else AWS's).
    sts_endpoint_url: Option<String>,
    /// One endpoint per service (a VPC interface endpoint serves one): `{ sqs = "…" }`.
    endpoint_urls: Option<std::collections::BTreeMap<String, String>>,
}

/// The services `endpoint_urls` may name.
const ENDPOINT_SERVICES: &[&str] = &[
    "cloudtrail",
    "logs",
    "s3",
    "sqs",
    "sts",
    "iam",
    "ec2",
    "account",
    "organizations",
];

/// What a source reads.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    LookupEvents {
        /// `None`: every region enabled for the account, learned when the source starts.
        regions: Option<Vec<String>>,
    },
    CloudwatchLogs {
        region: Option<String>,
        log_group: String,
        log_stream_prefix: Option<String>,
    },
    Files {
        path: PathBuf,
    },
    S3 {
        bucket: String,
        /// The key prefix before `AWSLogs/` (`layout::base`: empty, or ending in `/`).
        prefix: String,
        /// The bucket's region (`None`: the configured region).
        region: Option<String>,
        /// Only these accounts' and regions' files (empty: all).
        accounts: Vec<String>,
        regions: Vec<String>,
        queue_url: Option<String>,
        /// How often the bucket is listed (with a queue, listing only catches what
        /// notifications missed).
        list_interval: Duration,
        /// The first wait before an object that could not be read is tried again (it doubles,
        /// up to 6 hours).
        unreadable_retry: Duration,
        /// Whether the trail's digests are verified (when the bucket holds any).
        verify_digests: bool,
    },
}

/// A validated source with its defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    pub name: String,
    pub kind: SourceKind,
    pub poll_interval: Duration,
    pub overlap: Duration,
    pub max_window: Duration,
    /// The sweep re-reads `[now - late_sweep, now - overlap]` every `late_sweep_interval`;
    /// zero: no sweep.
    pub late_sweep: Duration,
    pub late_sweep_interval: Duration,
    pub rate: f64,
    pub pushdown: bool,
    pub pushdown_max_lookups: usize,
    pub retry_initial: Duration,
    pub retry_attempts: u32,
    pub access: AwsAccess,
    /// Other accounts read through a role (`lookup_events`, `cloudwatch_logs`).
    pub fanout: Option<Fanout>,
    /// How much of a file (`files`, `s3`) is read, and when a record is reduced.
    pub limits: Limits,
}

impl SourceConfig {
    fn entry(&self) -> Entry<'_> {
        Entry {
            what: "source",
            name: &self.name,
            kind: self.kind.name().to_string(),
        }
    }

    fn lookup_events(&self) -> Result<SourceKind, String> {
        self.not_s3()?;
        self.entry().not_for(&[
            (self.max_file_bytes.is_some(), "max_file_bytes"),
            (self.max_record_bytes.is_some(), "max_record_bytes"),
            (
                self.region.is_some(),
                "region (lookup_events takes `regions`)",
            ),
            (self.log_group.is_some(), "log_group"),
            (self.log_stream_prefix.is_some(), "log_stream_prefix"),
            (self.path.is_some(), "path"),
        ])?;
        if let Some(rs) = &self.regions {
            if rs.is_empty() {
                return Err(format!("source '{}': `regions` is empty", self.name));
            }
            for r in rs {
                check_region(r).map_err(|e| format!("source '{}': {e}", self.name))?;
            }
        }
        Ok(SourceKind::LookupEvents {
            regions: self.regions.clone(),
        })
    }

    fn cloudwatch_logs(&self) -> Result<SourceKind, String> {
        self.not_s3()?;
        self.entry().not_for(&[
            (self.max_file_bytes.is_some(), "max_file_bytes"),
            (self.max_record_bytes.is_some(), "max_record_bytes"),
            (
                self.regions.is_some(),
                "regions (cloudwatch_logs takes one `region`)",
            ),
            (self.path.is_some(), "path"),
        ])?;
        if let Some(r) = &self.region {
            check_region(r).map_err(|e| format!("source '{}': {e}", self.name))?;
        }
        Ok(SourceKind::CloudwatchLogs {
            region: self.region.clone(),
            log_group: self
                .log_group
                .clone()
                .ok_or_else(|| format!("source '{}': `log_group` is required", self.name))?,
            log_stream_prefix: self.log_stream_prefix.clone(),
        })
    }

    fn files(&self) -> Result<SourceKind, String> {
        self.not_s3()?;
        self.entry().not_for(&[
            (self.accounts.is_some(), "accounts"),
            (self.role_name.is_some(), "role_name"),
            (self.sts_endpoint_url.is_some(), "sts_endpoint_url"),
            (self.regions.is_some(), "regions"),
            (self.region.is_some(), "region"),
            (self.log_group.is_some(), "log_group"),
            (self.log_stream_prefix.is_some(), "log_stream_prefix"),
            (self.overlap.is_some(), "overlap"),
            (self.late_sweep.is_some(), "late_sweep"),
            (self.late_sweep_interval.is_some(), "late_sweep_interval"),
            (self.max_calls_per_second.is_some(), "max_calls_per_second"),
            (self.role_arn.is_some(), "role_arn"),
            (self.profile.is_some(), "profile"),
            (self.endpoint_url.is_some(), "endpoint_url"),
            (self.endpoint_urls.is_some(), "endpoint_urls"),
        ])?;
        Ok(SourceKind::Files {
            path: self
                .path
                .clone()
                .ok_or_else(|| format!("source '{}': `path` is required", self.name))?,
        })
    }

    /// Rejects the keys only an `s3` source takes.
    fn not_s3(&self) -> Result<(), String> {
        self.entry().not_for(&[
            (self.bucket.is_some(), "bucket"),
            (self.prefix.is_some(), "prefix"),
            (self.queue_url.is_some(), "queue_url"),
            (self.list_interval.is_some(), "list_interval"),
            (self.unreadable_retry.is_some(), "unreadable_retry"),
            (self.verify_digests.is_some(), "verify_digests"),
        ])
    }

    fn s3(&self) -> Result<SourceKind, String> {
        let name = &self.name;
        self.entry().not_for(&[
            (self.log_group.is_some(), "log_group"),
            (self.log_stream_prefix.is_some(), "log_stream_prefix"),
            (self.path.is_some(), "path"),
            (self.late_sweep.is_some(), "late_sweep"),
            (self.late_sweep_interval.is_some(), "late_sweep_interval"),
            (self.pushdown.is_some(), "pushdown"),
            (self.pushdown_max_lookups.is_some(), "pushdown_max_lookups"),
            (
                self.role_name.is_some(),
                "role_name (an s3 source reads every account's files from the bucket with its own credentials)",
            ),
        ])?;
        let bucket = self
            .bucket
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| format!("source '{name}': `bucket` is required"))?;
        let accounts = match &self.accounts {
            None => Vec::new(),
            Some(AccountsConfig::List(v)) => check_accounts(v).map_err(|e| format!("source '{name}': {e}"))?,
            Some(AccountsConfig::Named(n)) => {
                return Err(format!(
                    "source '{name}': accounts = \"{n}\": an s3 source reads every account found in the bucket; `accounts` may only list account IDs to keep"
                ))
            }
        };
        for r in self.regions.iter().flatten().chain(&self.region) {
            check_region(r).map_err(|e| format!("source '{name}': {e}"))?;
        }
        let queue_url = self.queue_url.clone().filter(|q| !q.is_empty());
        if let Some(q) = &queue_url {
            if !q.starts_with("https://") && !q.starts_with("http://") {
                return Err(format!(
                    "source '{name}': queue_url '{q}' is not a URL (https://sqs.<region>.amazonaws.com/<account>/<queue>)"
                ));
            }
        }
        // With a queue, listing only catches what notifications missed.
        let default_list = if queue_url.is_some() {
            defaults::S3_LIST_INTERVAL_WITH_QUEUE
        } else {
            self.duration(
                &self.poll_interval,
                "poll_interval",
                defaults::POLL_INTERVAL,
            )?
        };
        Ok(SourceKind::S3 {
            bucket,
            prefix: crate::source::s3::layout::base(self.prefix.as_deref().unwrap_or("")),
            region: self.region.clone(),
            accounts,
            regions: self.regions.clone().unwrap_or_default(),
            queue_url,
            list_interval: self.duration(&self.list_interval, "list_interval", default_list)?,
            unreadable_retry: self.duration(
                &self.unreadable_retry,
                "unreadable_retry",
                defaults::UNREADABLE_RETRY,
            )?,
            verify_digests: self.verify_digests.unwrap_or(true),
        })
    }

    /// `accounts` and `role_name` of a `lookup_events` or `cloudwatch_logs` source.
    fn fanout(&self) -> Result<Option<Fanout>, String> {
        let name = &self.name;
        if matches!(self.kind, SourceType::S3 | SourceType::Files) {
            return Ok(None);
        }
        let accounts = match &self.accounts {
            None => None,
            Some(AccountsConfig::Named(n)) if n == "organization" => Some(Accounts::Organization),
            Some(AccountsConfig::Named(n)) => {
                return Err(format!(
                    "source '{name}': accounts = \"{n}\": write \"organization\" or a list of account IDs"
                ))
            }
            Some(AccountsConfig::List(v)) => Some(Accounts::Listed(
                check_accounts(v).map_err(|e| format!("source '{name}': {e}"))?,
            )),
        };
        match (accounts, &self.role_name) {
            (None, None) => Ok(None),
            (Some(accounts), Some(role)) if !role.is_empty() && !role.contains(['/', ':']) => {
                Ok(Some(Fanout {
                    accounts,
                    role_name: role.clone(),
                }))
            }
            (Some(_), Some(role)) => Err(format!(
                "source '{name}': role_name '{role}' must be a role's name (such as audit-reader), not an ARN or path"
            )),
            (Some(_), None) => Err(format!(
                "source '{name}': `accounts` needs `role_name`, the role trailwatch assumes in each account"
            )),
            (None, Some(_)) => Err(format!(
                "source '{name}': `role_name` needs `accounts` (\"organization\" or a list of account IDs)"
            )),
        }
    }

    fn rate(&self) -> Result<f64, String> {
        let default = match self.kind {
            SourceType::CloudwatchLogs => defaults::FILTER_LOG_EVENTS_RATE,
            SourceType::S3 => defaults::S3_RATE,
            _ => defaults::LOOKUP_EVENTS_RATE,
        };
        let rate = self.max_calls_per_second.unwrap_or(default);
        if rate > 0.0 && rate.is_finite() {
            Ok(rate)
        } else {
            Err(format!(
                "source '{}': max_calls_per_second must be positive",
                self.name
            ))
        }
    }

    fn duration(&self, v: &Option<String>, key: &str, d: Duration) -> Result<Duration, String> {
        self.entry().duration(v, key, d)
    }

    fn spec(self, kind: SourceKind) -> Result<SourceSpec, String> {
        let default_poll = match self.kind {
            SourceType::Files => defaults::FILES_POLL_INTERVAL,
            _ => defaults::POLL_INTERVAL,
        };
        if self.external_id.is_some() && self.role_arn.is_none() && self.role_name.is_none() {
            return Err(format!(
                "source '{}': external_id needs role_arn or role_name",
                self.name
            ));
        }
        let fanout = self.fanout()?;
        let spec = SourceSpec {
            poll_interval: self.duration(&self.poll_interval, "poll_interval", default_poll)?,
            overlap: self.duration(&self.overlap, "overlap", defaults::OVERLAP)?,
            max_window: self.duration(&self.max_window, "max_window", defaults::MAX_WINDOW)?,
            late_sweep: match self.kind {
                SourceType::Files | SourceType::S3 => Duration::ZERO,
                _ => self.duration(&self.late_sweep, "late_sweep", defaults::LATE_SWEEP)?,
            },
            late_sweep_interval: self.duration(
                &self.late_sweep_interval,
                "late_sweep_interval",
                defaults::LATE_SWEEP_INTERVAL,
            )?,
            retry_initial: self.duration(
                &self.retry_initial,
                "retry_initial",
                defaults::RETRY_INITIAL,
            )?,
            retry_attempts: self.retry_attempts.unwrap_or(defaults::RETRY_ATTEMPTS),
            rate: self.rate()?,
            pushdown: self.pushdown.unwrap_or(true),
            pushdown_max_lookups: self
                .pushdown_max_lookups
                .unwrap_or(pushdown::DEFAULT_MAX_LOOKUPS),
            limits: Limits {
                max_input: self.max_file_bytes.unwrap_or(defaults::MAX_FILE_BYTES),
                max_record: self.max_record_bytes.unwrap_or(defaults::MAX_RECORD_BYTES),
                ..Limits::default()
            },
            access: AwsAccess {
                profile: self.profile,
                role_arn: self.role_arn,
                external_id: self.external_id,
                session_name: self.session_name,
                endpoint_url: self.endpoint_url,
                sts_endpoint_url: self.sts_endpoint_url,
                endpoint_urls: self.endpoint_urls.unwrap_or_default(),
                member_role: None,
            },
            fanout,
            kind,
            name: self.name,
        };
        spec.check()?;
        Ok(spec)
    }
}

impl SourceSpec {
    /// Checks what the keys' types cannot: bounds, and the sweep against `overlap`.
    fn check(&self) -> Result<(), String> {
        let spec = self;
        for (service, url) in &spec.access.endpoint_urls {
            if !ENDPOINT_SERVICES.contains(&service.as_str()) {
                return Err(format!(
                    "source '{}', endpoint_urls: `{service}` is not a service trailwatch calls ({})",
                    spec.name,
                    ENDPOINT_SERVICES.join(", ")
                ));
            }
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!(
                    "source '{}', endpoint_urls.{service}: '{url}' is not a URL",
                    spec.name
                ));
            }
        }
        if spec.poll_interval.is_zero() || spec.max_window < Duration::from_secs(60) {
            return Err(format!(
                "source '{}': poll_interval must be positive and max_window at least 1m",
                spec.name
            ));
        }
        if spec.limits.max_input == 0 || spec.limits.max_record < 4096 {
            return Err(format!(
                "source '{}': max_file_bytes must be positive and max_record_bytes at least 4096",
                spec.name
            ));
        }
        if !spec.late_sweep.is_zero() {
            if spec.late_sweep <= spec.overlap {
                return Err(format!(
                    "source '{}': late_sweep ({}) must be longer than overlap ({}), or \"0s\" to turn the sweep off",
                    spec.name,
                    humantime::format_duration(spec.late_sweep),
                    humantime::format_duration(spec.overlap)
                ));
            }
            if spec.late_sweep_interval.is_zero() {
                return Err(format!(
                    "source '{}': late_sweep_interval must be positive",
                    spec.name
                ));
            }
        }
        Ok(())
    }

    /// Parses and validates one `[[sources]]` table; errors point into the file.
    pub fn parse(t: &Spanned<toml::Table>, src: &SourceText) -> Result<SourceSpec, ConfigError> {
        let at = |m: String| src.error_at(t.span().start, m);
        let c: SourceConfig = parse_entry(t, src, "source")?;
        let name = &c.name;
        if name.is_empty() || name.contains(['\0', '/']) || name.contains(char::is_whitespace) {
            return Err(at(format!(
                "source name '{name}' must be non-empty, without spaces or '/'"
            )));
        }
        let kind = match c.kind {
            SourceType::LookupEvents => c.lookup_events(),
            SourceType::CloudwatchLogs => c.cloudwatch_logs(),
            SourceType::Files => c.files(),
            SourceType::S3 => c.s3(),
        }
        .map_err(at)?;
        c.spec(kind).map_err(at)
    }

    /// Warnings about this source that do not stop it (us-east-1 missing from the regions).
    /// How often the source's streams are read: a bucket's listing interval, else the poll
    /// interval (readiness allows twice this).
    pub(crate) fn cadence(&self) -> Duration {
        match &self.kind {
            SourceKind::S3 { list_interval, .. } => *list_interval,
            _ => self.poll_interval,
        }
    }

    /// True for an `s3` source that checks the trail's digests.
    pub(crate) fn verifies_digests(&self) -> bool {
        matches!(
            self.kind,
            SourceKind::S3 {
                verify_digests: true,
                ..
            }
        )
    }

    pub fn warnings(&self) -> Vec<String> {
        match &self.kind {
            SourceKind::LookupEvents { regions: Some(rs) }
                if !rs.iter().any(|r| r == "us-east-1") =>
            {
                vec![format!(
                    "source '{}' does not poll us-east-1: IAM events (CreateUser, DeleteUser…) and console sign-ins through the global sign-in endpoint are recorded only there, so they will never be seen; add \"us-east-1\" to its regions, or remove `regions` to poll every enabled region",
                    self.name
                )]
            }
            SourceKind::S3 { regions, .. }
                if !regions.is_empty() && !regions.iter().any(|r| r == "us-east-1") =>
            {
                vec![format!(
                    "source '{}' keeps only the files of {}: IAM events and console sign-ins through the global endpoint are recorded in us-east-1's files, so they will never be seen; add \"us-east-1\" to its regions",
                    self.name,
                    regions.join(", ")
                )]
            }
            _ => Vec::new(),
        }
    }
}

/// Account IDs: 12 digits each, at least one.
fn check_accounts(v: &[String]) -> Result<Vec<String>, String> {
    if v.is_empty() {
        return Err("`accounts` is empty".into());
    }
    for a in v {
        if !crate::source::s3::layout::is_account(a) {
            return Err(format!("'{a}' is not an AWS account ID (12 digits)"));
        }
    }
    Ok(v.to_vec())
}

/// Rejects what is clearly not a region name (a typo such as `ap-northeast2`).
fn check_region(r: &str) -> Result<(), String> {
    let parts: Vec<&str> = r.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{r}' is not an AWS region name (such as ap-northeast-2)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<SourceSpec, String> {
        let src = SourceText {
            name: "c.toml".into(),
            text: text.into(),
        };
        let cfg = Config::parse(&src).map_err(|e| e.to_string())?;
        SourceSpec::parse(&cfg.sources[0], &src).map_err(|e| e.to_string())
    }

    #[test]
    fn sources_parse_with_defaults_and_located_errors() {
        let s = parse(
            "[[sources]]\nname = \"l\"\ntype = \"lookup_events\"\nregions = [\"ap-northeast-2\"]\n",
        )
        .unwrap();
        assert_eq!(s.overlap, defaults::OVERLAP);
        assert_eq!(s.rate, 2.0);
        assert!(s.warnings()[0].contains("does not poll us-east-1"));
        let e = parse("language = \"en\"\n[[sources]]\nname = \"l\"\ntype = \"lookup_events\"\nregoins = []\n")
            .unwrap_err();
        assert!(
            e.starts_with("c.toml:5:1: source 'l': unknown field `regoins`"),
            "{e}"
        );
        let e = parse("[[sources]]\nname = \"l\"\ntype = \"lookup_events\"\nlog_group = \"g\"\n")
            .unwrap_err();
        assert!(
            e.contains("`log_group` does not apply to a lookup_events source"),
            "{e}"
        );
        let e = parse("[[sources]]\nname = \"l\"\ntype = \"cloudwatch_logs\"\noverlap = \"soon\"\nlog_group = \"g\"\n").unwrap_err();
        assert!(e.contains("overlap: invalid duration 'soon'"), "{e}");
        let e = parse(
            "[[sources]]\nname = \"l\"\ntype = \"lookup_events\"\nregions = [\"ap-northeast2\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("not an AWS region"), "{e}");
    }

    #[test]
    fn endpoint_urls_route_each_service() {
        let s = parse("[[sources]]\nname = \"l\"\ntype = \"lookup_events\"\nendpoint_url = \"http://proxy:1\"\nendpoint_urls = { sqs = \"https://vpce-1.sqs.us-east-1.vpce.amazonaws.com\", sts = \"https://sts.vpce\" }\n").unwrap();
        assert_eq!(
            s.access.endpoint("sqs"),
            Some("https://vpce-1.sqs.us-east-1.vpce.amazonaws.com")
        );
        assert_eq!(
            s.access.endpoint("cloudtrail"),
            Some("http://proxy:1"),
            "the one for every service"
        );
        assert_eq!(s.access.sts_endpoint(), Some("https://sts.vpce"));
        for (text, want) in [
            (
                "endpoint_urls = { cloudfront = \"https://x\" }",
                "`cloudfront` is not a service trailwatch calls",
            ),
            (
                "endpoint_urls = { sqs = \"vpce-1\" }",
                "endpoint_urls.sqs: 'vpce-1' is not a URL",
            ),
        ] {
            let e = parse(&format!(
                "[[sources]]\nname = \"l\"\ntype = \"lookup_events\"\n{text}\n"
            ))
            .unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn s3_sources_and_fanouts_parse_with_their_errors() {
        let s = parse("[[sources]]\nname = \"t\"\ntype = \"s3\"\nbucket = \"b\"\nprefix = \"/p/\"\naccounts = [\"111122223333\"]\n").unwrap();
        match &s.kind {
            SourceKind::S3 {
                prefix,
                accounts,
                list_interval,
                ..
            } => {
                assert_eq!((prefix.as_str(), accounts.len()), ("p/", 1));
                assert_eq!(*list_interval, defaults::POLL_INTERVAL);
            }
            k => panic!("{k:?}"),
        }
        assert!(s.late_sweep.is_zero());
        let q = parse("[[sources]]\nname = \"t\"\ntype = \"s3\"\nbucket = \"b\"\nqueue_url = \"https://sqs.us-east-1.amazonaws.com/1/q\"\n").unwrap();
        assert!(
            matches!(q.kind, SourceKind::S3 { list_interval, .. } if list_interval == defaults::S3_LIST_INTERVAL_WITH_QUEUE)
        );
        for (text, want) in [
            ("type = \"s3\"\n", "`bucket` is required"),
            ("type = \"s3\"\nbucket = \"b\"\naccounts = \"organization\"\n", "may only list account IDs"),
            ("type = \"s3\"\nbucket = \"b\"\naccounts = [\"12\"]\n", "not an AWS account ID"),
            ("type = \"s3\"\nbucket = \"b\"\nqueue_url = \"q\"\n", "is not a URL"),
            ("type = \"s3\"\nbucket = \"b\"\nlog_group = \"g\"\n", "`log_group` does not apply"),
            ("type = \"lookup_events\"\nbucket = \"b\"\n", "`bucket` does not apply"),
            ("type = \"lookup_events\"\naccounts = \"organization\"\n", "needs `role_name`"),
            ("type = \"lookup_events\"\nrole_name = \"r\"\n", "needs `accounts`"),
            ("type = \"lookup_events\"\naccounts = \"everyone\"\nrole_name = \"r\"\n", "write \"organization\""),
            ("type = \"cloudwatch_logs\"\nlog_group = \"g\"\naccounts = \"organization\"\nrole_name = \"arn:aws:iam::1:role/r\"\n", "must be a role's name"),
            ("type = \"files\"\npath = \"/\"\naccounts = [\"111122223333\"]\n", "`accounts` does not apply"),
        ] {
            let e = parse(&format!("[[sources]]\nname = \"t\"\n{text}")).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        let f = parse("[[sources]]\nname = \"o\"\ntype = \"lookup_events\"\naccounts = \"organization\"\nrole_name = \"audit-reader\"\nexternal_id = \"x\"\nsts_endpoint_url = \"https://sts.example\"\n").unwrap();
        assert_eq!(
            f.fanout.as_ref().map(|f| &f.accounts),
            Some(&Accounts::Organization)
        );
        assert_eq!(f.access.sts_endpoint(), Some("https://sts.example"));
        let a = f.access.for_account("111122223333", "audit-reader");
        assert_eq!(
            a.member_role.as_deref(),
            Some("arn:aws:iam::111122223333:role/audit-reader")
        );
    }
}
