//! The lease that makes one instance of a configuration the one that works: it polls, raises
//! and delivers; the others wait (standbys) and take over when it stops renewing.
//!
//! As AWS's DynamoDB lock client does it: the holder changes the item's `rvn` every third of a
//! lease; a standby that sees the same `rvn` for a whole lease, measured on its own monotonic
//! clock, claims the item on condition that `rvn` is still what it saw. No two hosts' clocks
//! are compared. The holder stops sending once two thirds of a lease pass without a renewal,
//! before any standby can claim it; every write it makes carries its `epoch` (`Fence`), so
//! that a holder paused past its lease cannot write over its successor.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use serde_json::{json, Value};

use super::table::{conditional, Fence, Table};
use crate::source::aws::ApiError;

/// The lease's item: `t = "lease"`, `k = "instance"`.
const PARTITION: &str = "lease";
const KEY: &[u8] = b"instance";

/// The lease item's primary key.
pub(super) fn key() -> Value {
    super::table::key(PARTITION, KEY)
}

/// The lease item, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseItem {
    pub owner: String,
    pub epoch: String,
    /// Changed at every renewal: a standby takes the lease over when it stays the same for a
    /// whole lease (measured on the standby's own clock: no host clocks compared).
    pub rvn: String,
}

impl LeaseItem {
    /// What a write by this holder must carry.
    fn fence(&self) -> Fence {
        Fence {
            owner: self.owner.clone(),
            epoch: self.epoch.clone(),
        }
    }
}

impl Table {
    /// The lease item, if any.
    pub(crate) async fn lease(&self) -> Result<Option<LeaseItem>, ApiError> {
        let Some(item) = self.get(PARTITION, KEY).await? else {
            return Ok(None);
        };
        let s = |a: &str| item[a]["S"].as_str().unwrap_or("").to_string();
        Ok(Some(LeaseItem {
            owner: s("owner"),
            epoch: s("epoch"),
            rvn: s("rvn"),
        }))
    }

    /// Writes the lease as `new` if it is still as `seen` (`None`: absent). False: it changed.
    async fn claim(&self, new: &LeaseItem, seen: Option<&LeaseItem>) -> Result<bool, ApiError> {
        let mut item = key();
        item["owner"] = json!({"S": new.owner});
        item["epoch"] = json!({"S": new.epoch});
        item["rvn"] = json!({"S": new.rvn});
        let mut body = json!({"TableName": self.cfg.table, "Item": item});
        match seen {
            None => body["ConditionExpression"] = json!("attribute_not_exists(t)"),
            Some(s) => {
                body["ConditionExpression"] = json!("rvn = :r");
                body["ExpressionAttributeValues"] = json!({":r": {"S": s.rvn}});
            }
        }
        conditional(self.call("PutItem", body).await)
    }

    /// Renews `held` with a new rvn. False: another instance took it.
    async fn renew(&self, held: &LeaseItem, rvn: &str) -> Result<bool, ApiError> {
        let body = held.fence().guard(json!({
            "TableName": self.cfg.table,
            "Key": key(),
            "UpdateExpression": "SET rvn = :n",
            "ExpressionAttributeValues": {":n": {"S": rvn}}
        }));
        conditional(self.call("UpdateItem", body).await)
    }

    /// Gives the lease up (a clean stop): a standby takes over at once.
    async fn give_up(&self, held: &LeaseItem) -> Result<bool, ApiError> {
        let body = held
            .fence()
            .guard(json!({"TableName": self.cfg.table, "Key": key()}));
        conditional(self.call("DeleteItem", body).await)
    }
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A value no other renewal, claim, request or folder uses: `instance`, this process, the time
/// and a sequence number.
pub(super) fn unique(instance: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{instance}-{}-{nanos}-{n}", std::process::id())
}

/// The lease this instance holds.
pub(crate) struct Lease {
    table: Arc<Table>,
    item: Mutex<LeaseItem>,
    renewed: Mutex<Instant>,
    period: Duration,
    lost: AtomicBool,
    /// Why it was lost.
    why: Mutex<String>,
    pub lost_now: Notify,
}

/// What waiting for the lease gave.
pub(crate) struct Taken {
    pub lease: Arc<Lease>,
    /// The instance that held it before, when another did.
    pub previous: Option<String>,
}

/// Waits until this instance holds the lease (claiming it at once when no one holds it, or
/// when this instance's name held it before); `standby` is told which instance holds it
/// meanwhile. A table that cannot be read at the first try is an error; later, while standing
/// by, failures are logged and tried again.
pub(crate) async fn take(
    table: Arc<Table>,
    standby: &(dyn Fn(&str) + Send + Sync),
) -> Result<Taken, ApiError> {
    let me = table.cfg.instance.clone();
    let period = table.cfg.lease;
    let mut seen: Option<(LeaseItem, Instant)> = None;
    let mut said_standby = String::new();
    let mut reached = false;
    loop {
        let now = match table.lease().await {
            Ok(now) => now,
            Err(e) if reached => {
                tracing::warn!(
                    "standby: instance {me} cannot read the lease on {}: {e}; trying again",
                    table.describe()
                );
                tokio::time::sleep(period / 4).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        reached = true;
        let mine = LeaseItem {
            owner: me.clone(),
            epoch: unique(&me),
            rvn: unique(&me),
        };
        if let Some(seen_item) = may_claim(now.as_ref(), &mut seen, &me, period) {
            let claimed = match table.claim(&mine, seen_item).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(
                        "instance {me} cannot claim the lease on {}: {e}; trying again",
                        table.describe()
                    );
                    tokio::time::sleep(period / 4).await;
                    false
                }
            };
            if claimed {
                let previous = now.map(|i| i.owner).filter(|o| *o != me);
                let lease = Arc::new(Lease {
                    table: table.clone(),
                    item: Mutex::new(mine),
                    renewed: Mutex::new(Instant::now()),
                    period,
                    lost: AtomicBool::new(false),
                    why: Mutex::new(String::new()),
                    lost_now: Notify::new(),
                });
                return Ok(Taken { lease, previous });
            }
            seen = None;
            continue;
        }
        if let Some(it) = &now {
            if said_standby != it.owner {
                // Readiness and status first: whoever reads the log may ask at once.
                standby(&it.owner);
                tracing::info!(
                    "standby: instance {} holds {}; instance {me} takes over if it stops renewing for {}s",
                    it.owner,
                    table.describe(),
                    period.as_secs()
                );
                said_standby.clone_from(&it.owner);
            }
        }
        tokio::time::sleep(period / 4).await;
    }
}

/// Whether to claim the lease now, and on what condition (`Some(None)`: it is absent;
/// `Some(Some(item))`: it is still `item`): when no one holds it, when this instance's name
/// holds it (a restart), or when its holder left it unchanged for a whole lease, as `seen`
/// (what this standby saw first, and when) remembers.
fn may_claim<'a>(
    now: Option<&'a LeaseItem>,
    seen: &mut Option<(LeaseItem, Instant)>,
    me: &str,
    period: Duration,
) -> Option<Option<&'a LeaseItem>> {
    match now {
        None => Some(None),
        Some(it) if it.owner == me => Some(Some(it)),
        Some(it) => match seen {
            Some((s, at)) if s.rvn == it.rvn && at.elapsed() >= period => Some(Some(it)),
            Some((s, _)) if s.rvn == it.rvn => None,
            _ => {
                *seen = Some((it.clone(), Instant::now()));
                None
            }
        },
    }
}

impl Lease {
    /// What every write carries.
    pub(crate) fn fence(&self) -> Fence {
        self.item.lock().expect("lease lock").fence()
    }

    /// Whether this instance may act: renewed within two thirds of a lease, and not lost.
    pub(crate) fn held(&self) -> bool {
        !self.lost.load(Ordering::SeqCst)
            && self.renewed.lock().expect("lease lock").elapsed() < self.period * 2 / 3
    }

    /// Marks the lease lost (once), saying why.
    pub(crate) fn lose(&self, why: String) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            *self.why.lock().expect("lease lock") = why;
            self.lost_now.notify_waiters();
            self.lost_now.notify_one();
        }
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Why it was lost.
    pub(crate) fn why(&self) -> String {
        self.why.lock().expect("lease lock").clone()
    }

    /// Renews every third of a lease until lost. Errors that pass are retried; a lease not
    /// renewed for a whole lease is lost (a standby may have claimed it).
    pub(crate) async fn keep(self: Arc<Self>) {
        let me = self.item.lock().expect("lease lock").owner.clone();
        loop {
            tokio::time::sleep(self.period / 3).await;
            if self.is_lost() {
                return;
            }
            let held = self.item.lock().expect("lease lock").clone();
            let rvn = unique(&me);
            match self.table.renew(&held, &rvn).await {
                Ok(true) => {
                    self.item.lock().expect("lease lock").rvn = rvn;
                    *self.renewed.lock().expect("lease lock") = Instant::now();
                }
                Ok(false) => {
                    let by = match self.table.lease().await {
                        Ok(Some(i)) => format!("instance {} holds it now", i.owner),
                        _ => "another instance took it, or it was removed".into(),
                    };
                    return self.lose(by);
                }
                Err(e) => {
                    let since = self.renewed.lock().expect("lease lock").elapsed();
                    tracing::warn!(
                        "instance {me} cannot renew its lease on {}: {e}",
                        self.table.describe()
                    );
                    if since >= self.period {
                        return self.lose(format!("not renewed for {}s: {e}", since.as_secs()));
                    }
                }
            }
        }
    }

    /// Gives the lease up, so that a standby takes over at once.
    pub(crate) async fn release(&self) {
        let held = self.item.lock().expect("lease lock").clone();
        self.lost.store(true, Ordering::SeqCst);
        match self.table.give_up(&held).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(
                "could not give up the lease on {} ({e}): a standby takes over when it ends",
                self.table.describe()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(owner: &str, rvn: &str) -> LeaseItem {
        LeaseItem {
            owner: owner.into(),
            epoch: "e".into(),
            rvn: rvn.into(),
        }
    }

    #[test]
    fn a_standby_claims_only_a_lease_left_unchanged_for_a_whole_period() {
        let p = Duration::from_secs(30);
        let mut seen = None;
        assert_eq!(
            may_claim(None, &mut seen, "b", p),
            Some(None),
            "absent: at once"
        );
        let mine = item("b", "1");
        assert_eq!(
            may_claim(Some(&mine), &mut seen, "b", p),
            Some(Some(&mine)),
            "its own name: a restart"
        );
        let a1 = item("a", "1");
        assert_eq!(
            may_claim(Some(&a1), &mut seen, "b", p),
            None,
            "first seen: wait"
        );
        assert_eq!(
            may_claim(Some(&a1), &mut seen, "b", p),
            None,
            "unchanged, but not for a lease yet"
        );
        let a2 = item("a", "2");
        assert_eq!(
            may_claim(Some(&a2), &mut seen, "b", p),
            None,
            "renewed: wait again"
        );
        seen.as_mut().unwrap().1 = Instant::now() - p;
        assert_eq!(
            may_claim(Some(&a2), &mut seen, "b", p),
            Some(Some(&a2)),
            "unchanged for a lease"
        );
    }
}
