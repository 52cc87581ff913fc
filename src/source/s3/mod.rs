//! The `s3` source: a trail's delivery files read straight from its bucket, for one account's
//! trail or an organization trail (every account, every region). Each account and region is a
//! stream behind its own watermark (the delivery time of the last file read); a poll lists only
//! the days that can hold new files, from `StartAfter` the watermark minus `overlap`, and reads
//! each new object once (its key and ETag remembered). With a queue, the bucket's
//! notifications bring new objects at once, and the listing still catches anything they miss.
//!
//! `layout` knows the key layouts, `bucket` the S3 calls, `queue` the SQS calls and
//! notifications, `keys` the public keys its digests are signed with. Reading an object's
//! records, and verifying its digests, is `poll::s3`'s.

mod bucket;
mod keys;
pub mod layout;
pub(crate) mod queue;

use std::sync::Arc;

pub(crate) use bucket::{Bucket, Listed};
pub use keys::Keys;
pub use layout::Place;
pub(crate) use layout::{Chain, KeyKind};
pub(crate) use queue::Queue;

use super::aws::{ApiError, ApiStats, Clock};

/// A bucket to read, and which of its accounts and regions.
pub struct Trail {
    pub bucket: Arc<Bucket>,
    pub queue: Option<Queue>,
    /// The keys its digests are signed with, when they are verified (`verify_digests`).
    pub keys: Option<Keys>,
    /// Only these accounts and regions (empty: every one found).
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub clock: Arc<Clock>,
    /// Calls made and throttled (the metrics read them).
    pub stats: Arc<ApiStats>,
}

impl Trail {
    /// True when `place` is one this source reads.
    pub fn wants(&self, place: &Place) -> bool {
        (self.accounts.is_empty() || self.accounts.contains(&place.account))
            && (self.regions.is_empty() || self.regions.contains(&place.region))
    }

    /// Every account and region with CloudTrail files in the bucket (that the source reads):
    /// `AWSLogs/` lists accounts and organizations, an organization lists its accounts, an
    /// account's `CloudTrail/` lists its regions.
    pub async fn places(&self) -> Result<Vec<Place>, ApiError> {
        let b = &self.bucket;
        let mut accounts: Vec<(Option<String>, String)> = Vec::new();
        for name in b.folders(&format!("{}AWSLogs/", b.base)).await? {
            if layout::is_account(&name) {
                accounts.push((None, name));
            } else if layout::is_org(&name) {
                for a in b.folders(&format!("{}AWSLogs/{name}/", b.base)).await? {
                    if layout::is_account(&a) {
                        accounts.push((Some(name.clone()), a));
                    }
                }
            }
        }
        accounts.retain(|(_, a)| self.accounts.is_empty() || self.accounts.contains(a));
        let mut places = Vec::new();
        for (org, account) in accounts {
            let dir = format!(
                "{}CloudTrail/",
                Place::account_dir(&b.base, org.as_deref(), &account)
            );
            for region in b.folders(&dir).await? {
                let p = Place {
                    org: org.clone(),
                    account: account.clone(),
                    region,
                };
                if self.wants(&p) {
                    places.push(p);
                }
            }
        }
        places.sort();
        Ok(places)
    }
}
