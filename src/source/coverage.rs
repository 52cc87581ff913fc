//! What a `lookup_events` source covers, learned when it starts (and again every few hours):
//! the account, the user names its root user's events carry, and the regions to poll. Where
//! something cannot be learned, the choice made is said here, so that `check`, the log and a
//! health alert can say it too: a blind spot is never silent.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;

use super::aws::account::{self, DEFAULT_ENABLED_REGIONS};
use super::aws::clock::Clock;
use super::aws::{ApiError, ApiErrorKind};
use super::config::{SourceKind, SourceSpec};

/// What is known of the root user's names.
#[derive(Debug, Clone, PartialEq)]
pub enum Aliases {
    /// The account's aliases (none: the account has no alias), and where they come from.
    Known { aliases: Vec<String>, from: String },
    /// They could not be learned: root's API calls may carry a user name nobody asks for.
    Unknown { why: String },
}

/// Where the polled regions come from.
#[derive(Debug, Clone, PartialEq)]
pub enum RegionOrigin {
    /// The source's `regions`.
    Configured,
    /// The account's enabled regions, from this API.
    Discovered(&'static str),
    /// AWS's regions enabled by default, because discovery was not possible (why).
    Fallback(String),
}

/// What a source covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    pub source: String,
    pub account: Option<String>,
    pub aliases: Aliases,
    /// The regions polled, sorted.
    pub regions: Vec<String>,
    pub origin: RegionOrigin,
    /// The account's enabled regions, when they could be learned.
    pub enabled: Option<Vec<String>>,
}

fn describe(errors: &[ApiError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Coverage {
    /// Learns the account, its aliases and its regions. `table` is `[account_aliases]`.
    pub async fn discover(
        spec: &SourceSpec,
        conf: &SdkConfig,
        clock: &Arc<Clock>,
        table: &BTreeMap<String, String>,
        home: &str,
    ) -> Coverage {
        let a = &spec.access;
        // The three questions are independent: asked at once. Signed with a host clock that is
        // off, they are refused; the answers' Date corrects the clock, and they are asked again.
        let ask = || async {
            tokio::join!(
                account::account_id(conf, clock, spec.access.sts_endpoint()),
                account::aliases(conf, clock, a.endpoint("iam"), home),
                account::enabled_regions(
                    conf,
                    clock,
                    (a.endpoint("account"), a.endpoint("ec2")),
                    home
                ),
            )
        };
        let (mut account, mut listed, mut enabled) = ask().await;
        let skewed = |e: &crate::source::aws::ApiError| e.is_clock();
        let refused_for_time = account.as_ref().err().is_some_and(skewed)
            || listed.as_ref().err().is_some_and(skewed)
            || enabled
                .as_ref()
                .err()
                .is_some_and(|es| es.iter().any(skewed));
        if refused_for_time && clock.skew().is_some() {
            (account, listed, enabled) = ask().await;
        }
        // Known by any means: AWS's answer, else the role read through names the account.
        let account = account.ok().or_else(|| role_account(&spec.access));
        let aliases = learn_aliases(listed, account.as_deref(), table);
        let configured = match &spec.kind {
            SourceKind::LookupEvents { regions } => regions.clone(),
            _ => None,
        };
        let (enabled, why_not) = match enabled {
            Ok((rs, api)) => (Some((rs, api)), None),
            Err(errors) => (None, Some(describe(&errors))),
        };
        let (mut regions, origin) = match (&configured, &enabled, &why_not) {
            (Some(rs), _, _) => (rs.clone(), RegionOrigin::Configured),
            (None, Some((rs, api)), _) => (rs.clone(), RegionOrigin::Discovered(api)),
            (None, None, why) => (
                DEFAULT_ENABLED_REGIONS
                    .iter()
                    .map(|r| r.to_string())
                    .collect(),
                RegionOrigin::Fallback(why.clone().unwrap_or_default()),
            ),
        };
        regions.sort();
        regions.dedup();
        Coverage {
            source: spec.name.clone(),
            account,
            aliases,
            regions,
            origin,
            enabled: enabled.map(|(rs, _)| rs),
        }
    }

    /// What is assumed when AWS cannot be asked at all (`why`).
    pub fn unreachable(spec: &SourceSpec, why: String) -> Coverage {
        let (regions, origin) = match &spec.kind {
            SourceKind::LookupEvents { regions: Some(rs) } => {
                (rs.clone(), RegionOrigin::Configured)
            }
            _ => (
                DEFAULT_ENABLED_REGIONS
                    .iter()
                    .map(|r| r.to_string())
                    .collect(),
                RegionOrigin::Fallback(why.clone()),
            ),
        };
        Coverage {
            source: spec.name.clone(),
            account: None,
            aliases: Aliases::Unknown { why },
            regions,
            origin,
            enabled: None,
        }
    }

    /// The user names root's events can carry: "root" and every alias.
    pub fn root_names(&self) -> Vec<String> {
        let mut names = vec!["root".to_string()];
        if let Aliases::Known { aliases, .. } = &self.aliases {
            names.extend(aliases.iter().cloned());
        }
        names
    }

    pub fn aliases_unknown(&self) -> bool {
        matches!(self.aliases, Aliases::Unknown { .. })
    }

    /// What an operator must hear: regions left out, a fallback, unknown aliases.
    pub fn warnings(&self) -> Vec<String> {
        let name = &self.source;
        let mut out = Vec::new();
        if let RegionOrigin::Fallback(why) = &self.origin {
            out.push(format!(
                "source '{name}': the account's enabled regions could not be listed ({why}); polling the {} regions AWS enables by default — an opt-in region the account enabled is NOT polled. Grant account:ListRegions or ec2:DescribeRegions, or list `regions`",
                DEFAULT_ENABLED_REGIONS.len()
            ));
        }
        if self.enabled.is_none() && self.origin == RegionOrigin::Configured {
            out.push(format!(
                "source '{name}': the account's enabled regions could not be listed, so it is unknown whether `regions` leaves one out; grant account:ListRegions or ec2:DescribeRegions"
            ));
        }
        if let Some(enabled) = &self.enabled {
            let left: Vec<&str> = enabled
                .iter()
                .filter(|r| !self.regions.contains(r))
                .map(String::as_str)
                .collect();
            if !left.is_empty() {
                out.push(format!(
                    "source '{name}': enabled regions not polled: {} — root activity and console sign-ins there are never seen; remove `regions` to poll every enabled region",
                    left.join(", ")
                ));
            }
        }
        if let Aliases::Unknown { why } = &self.aliases {
            out.push(format!(
                "source '{name}': the account's alias is unknown ({why}); root's events carry the alias as their user name, so root API calls can be MISSED (console sign-ins are still caught: signin.amazonaws.com is looked up in every region, one more call per region and poll). Add the account to [account_aliases] or grant iam:ListAccountAliases"
            ));
        }
        out
    }
}

/// The aliases from `iam:ListAccountAliases` (`listed`) and `[account_aliases]` together.
/// The account a source reads through its role (`arn:aws:iam::ACCOUNT:role/…`), if it has one.
fn role_account(access: &crate::source::aws::AwsAccess) -> Option<String> {
    let arn = access.member_role.as_ref().or(access.role_arn.as_ref())?;
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .then(|| account.to_string())
}

fn learn_aliases(
    listed: Result<Vec<String>, ApiError>,
    account: Option<&str>,
    table: &BTreeMap<String, String>,
) -> Aliases {
    let configured = account.and_then(|a| table.get(a)).cloned();
    match listed {
        Ok(mut listed) => {
            let mut from = "iam:ListAccountAliases".to_string();
            if let Some(c) = configured {
                if !listed.contains(&c) {
                    listed.push(c);
                }
                from.push_str(" and [account_aliases]");
            }
            Aliases::Known {
                aliases: listed,
                from,
            }
        }
        Err(e) => match configured {
            Some(c) => Aliases::Known {
                aliases: vec![c],
                from: "[account_aliases]".into(),
            },
            None => Aliases::Unknown {
                why: match (account, e.kind) {
                    (None, _) => format!("the account ID is unknown and {e}"),
                    (Some(a), ApiErrorKind::Denied) => {
                        format!("account {a} is not in [account_aliases] and {e}")
                    }
                    (Some(a), _) => format!("account {a} is not in [account_aliases]; {e}"),
                },
            },
        },
    }
}
