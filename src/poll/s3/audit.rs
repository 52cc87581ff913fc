//! A past window of a trail checked by its digests from the bucket alone, nothing read into the
//! state (`trailwatch verify`): like `aws cloudtrail validate-logs`, each digest's signature and
//! every log file it lists (downloaded and hashed), plus the two checks that command lacks —
//! each digest's link to the one before it (its hash and its signature, the one before the
//! window included) — and the log files of the window that no digest lists.

use std::collections::{BTreeMap, HashSet};

use futures_util::{stream, StreamExt};
use jiff::{SignedDuration, Timestamp};

use super::super::report::PollError;
use super::digest::{self, Checked};
use super::object::prove;
use crate::integrity::finding::{Finding, FindingKind};
use crate::source::s3::{layout, Chain, KeyKind, Keys, Place, Trail};
use crate::state::Link;

/// What checking a window found.
#[derive(Debug, Default)]
pub(crate) struct Audit {
    pub digests: u64,
    pub log_files: u64,
    pub findings: Vec<Finding>,
}

/// A digest of the window: its key and the end of its hour.
type Due = (String, Timestamp);

/// Log files downloaded and hashed at once.
const AT_ONCE: usize = 16;

/// Checks `place`'s digests whose hour ends within `(since, until + 1h]`, in chain order;
/// `seen` is shown the counts after each digest.
pub(crate) async fn audit_place(
    (trail, keys): (&Trail, &Keys),
    place: &Place,
    (since, until): (Timestamp, Timestamp),
    out: &mut Audit,
    seen: &dyn Fn(&Audit),
) -> Result<(), PollError> {
    let last_end = until + SignedDuration::from_hours(1);
    let chains = digests_of(trail, place, since, last_end).await?;
    let mut listed: HashSet<String> = HashSet::new();
    let mut proven: Option<(Timestamp, Timestamp)> = None;
    for (_, due) in chains {
        let mut last: Option<Link> = None;
        for (key, end) in due {
            let Some(c) = digest::check((trail, keys), &key, (place, end)).await? else {
                continue;
            };
            out.findings.extend(c.findings.iter().cloned());
            if !c.trusted() {
                continue;
            }
            out.digests += 1;
            out.findings
                .extend(digest::check_link(trail, &c, last.as_ref()).await?);
            check_files(trail, &c, &mut listed, out).await?;
            seen(out);
            let link = c.link(Timestamp::now());
            if let Some(l) = &link {
                let (s, e) = (
                    crate::when::from_millis(l.start_ms),
                    crate::when::from_millis(l.end_ms),
                );
                proven = Some(proven.map_or((s, e), |(a, b)| (a.min(s), b.max(e))));
            }
            last = link;
        }
    }
    if let Some((from, to)) = proven {
        unlisted(
            trail,
            place,
            (from, to - SignedDuration::from_hours(1)),
            &listed,
            out,
        )
        .await?;
    }
    Ok(())
}

/// The digests of `place` ending within `(since, to]`, by chain, oldest first.
async fn digests_of(
    trail: &Trail,
    place: &Place,
    since: Timestamp,
    to: Timestamp,
) -> Result<BTreeMap<Chain, Vec<Due>>, PollError> {
    let base = &trail.bucket.base;
    let mut chains: BTreeMap<Chain, Vec<Due>> = BTreeMap::new();
    for day in layout::days(since, to) {
        for l in list_all(trail, &place.digest_day(base, day)).await? {
            if let KeyKind::Digest {
                place: p,
                chain,
                end,
                ..
            } = layout::parse(base, &l)
            {
                if p == *place && end > since && end <= to {
                    chains.entry(chain).or_default().push((l, end));
                }
            }
        }
    }
    for due in chains.values_mut() {
        due.sort_by_key(|d| d.1);
    }
    Ok(chains)
}

/// Every key under `prefix`.
async fn list_all(trail: &Trail, prefix: &str) -> Result<Vec<String>, PollError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = trail.bucket.list(prefix, None, token).await?;
        out.extend(page.keys.into_iter().map(|l| l.key));
        match page.next {
            Some(t) => token = Some(t),
            None => return Ok(out),
        }
    }
}

/// Downloads and hashes every log file a trusted digest lists.
async fn check_files(
    trail: &Trail,
    c: &Checked,
    listed: &mut HashSet<String>,
    out: &mut Audit,
) -> Result<(), PollError> {
    let files = c
        .file
        .as_ref()
        .map(|f| f.log_files.clone())
        .unwrap_or_default();
    let ours: Vec<_> = files
        .iter()
        .filter(|lf| lf.s3_bucket == trail.bucket.name)
        .collect();
    let proofs: Vec<_> = stream::iter(ours.iter().map(|lf| prove(trail, &lf.s3_object)))
        .buffered(AT_ONCE)
        .collect()
        .await;
    for (lf, proof) in ours.into_iter().zip(proofs) {
        let key = &lf.s3_object;
        listed.insert(key.clone());
        match proof? {
            None => out.findings.push(c.finding(
                FindingKind::Missing,
                key,
                format!(
                    "{} lists it (SHA-256 {}) and it is not in the bucket",
                    c.key, lf.hash_value
                ),
            )),
            Some(p) => out.findings.extend(c.compare(lf, &p)),
        }
        out.log_files += 1;
    }
    Ok(())
}

/// The log files of `place` delivered within `(from, to)` that no digest listed.
async fn unlisted(
    trail: &Trail,
    place: &Place,
    (from, to): (Timestamp, Timestamp),
    listed: &HashSet<String>,
    out: &mut Audit,
) -> Result<(), PollError> {
    let base = &trail.bucket.base;
    for day in layout::days(from, to) {
        for key in list_all(trail, &place.day(base, day)).await? {
            let KeyKind::Log { time, .. } = layout::parse(base, &key) else {
                continue;
            };
            if time > from && time < to && !listed.contains(&key) {
                out.findings.push(Finding {
                    kind: FindingKind::NotInDigest,
                    key,
                    account: place.account.clone(),
                    region: place.region.clone(),
                    hour: time.to_string(),
                    detail: format!("delivered at {time}, and no digest of {from}..{to} lists it"),
                });
            }
        }
    }
    Ok(())
}
