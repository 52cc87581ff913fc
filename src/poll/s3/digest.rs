//! One digest of the trail, read and checked on its own: downloaded whole (a digest is small),
//! where it says it is, its signature by the key its fingerprint names (`ListPublicKeys`), and
//! its link to the digest before it. What checking the log files it lists means depends on who
//! checks (the daemon compares what it read; `verify` downloads them): both build on this.

use std::io::Read;

use jiff::Timestamp;

use super::super::report::PollError;
use crate::format::Proof;
use crate::integrity::digest::{sha256_hex, DigestFile, LogFile};
use crate::integrity::finding::{Finding, FindingKind};
use crate::source::s3::{Keys, Place, Trail};
use crate::state::Link;

/// The most a digest may weigh decompressed (they hold a line per log file of an hour).
const MOST: u64 = 64 << 20;

/// A digest, read and checked.
pub(crate) struct Checked {
    pub key: String,
    pub place: Place,
    pub file: Option<DigestFile>,
    /// SHA-256 of its decompressed content, and its signature (hex, from its metadata).
    pub sha256: String,
    pub signature: String,
    /// What is wrong with it (its place, its signature).
    pub findings: Vec<Finding>,
}

impl Checked {
    /// Whether its content can be trusted: it is CloudTrail's, signed, where it says it is.
    pub(crate) fn trusted(&self) -> bool {
        self.file.is_some() && self.findings.is_empty()
    }

    /// Its hour, as findings say it.
    pub(crate) fn hour(&self) -> String {
        match &self.file {
            Some(f) => format!("{}/{}", f.digest_start_time, f.digest_end_time),
            None => String::new(),
        }
    }

    /// A finding about `key` in this digest's hour.
    pub(crate) fn finding(&self, kind: FindingKind, key: &str, detail: String) -> Finding {
        Finding {
            kind,
            key: key.to_string(),
            account: self.place.account.clone(),
            region: self.place.region.clone(),
            hour: self.hour(),
            detail,
        }
    }

    /// What is wrong with the log file `lf` this digest lists, given what its bytes prove: its
    /// content's hash differs, or bytes follow its gzip stream (the daemon's and `verify`'s one
    /// comparison).
    pub(crate) fn compare(&self, lf: &LogFile, proof: &Proof) -> Option<Finding> {
        let key = &lf.s3_object;
        if !proof.sha256.eq_ignore_ascii_case(&lf.hash_value) {
            Some(self.finding(
                FindingKind::Modified,
                key,
                format!(
                    "its content's SHA-256 is {}; {} lists {} (changed after delivery)",
                    proof.sha256, self.key, lf.hash_value
                ),
            ))
        } else if proof.trailing {
            Some(self.finding(FindingKind::Modified, key, format!(
                "bytes follow its gzip stream (appended after delivery); the stream itself is the one {} lists", self.key
            )))
        } else {
            None
        }
    }

    /// What the next digest of its chain must name.
    pub(crate) fn link(&self, now: Timestamp) -> Option<Link> {
        let f = self.file.as_ref()?;
        let ms = |t: &str| t.parse::<Timestamp>().map_or(0, |t| t.as_millisecond());
        Some(Link {
            key: self.key.clone(),
            start_ms: ms(&f.digest_start_time),
            end_ms: ms(&f.digest_end_time),
            sha256: self.sha256.clone(),
            signature: self.signature.clone(),
            verified_ms: now.as_millisecond(),
        })
    }
}

/// A digest object: its decompressed bytes and its signature. `None`: it is not there.
pub(crate) async fn fetch(
    trail: &Trail,
    key: &str,
) -> Result<Option<(Vec<u8>, String)>, PollError> {
    let obj = match trail.bucket.open(key).await {
        Ok(o) => o,
        Err(e) if e.is("NoSuchKey") => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let signature = obj.metadata.get("signature").cloned().unwrap_or_default();
    let raw = obj
        .body
        .collect()
        .await
        .map_err(|e| {
            PollError::Object(format!(
                "s3://{}/{key}: the download broke off: {e}",
                trail.bucket.name
            ))
        })?
        .into_bytes();
    let mut out = Vec::new();
    let read = match crate::format::body_of(&raw[..]) {
        Ok(b) => b.take(MOST).read_to_end(&mut out),
        Err(e) => Err(e),
    };
    if let Err(e) = read {
        out.clear();
        tracing::warn!(
            "s3://{}/{key}: cannot be decompressed: {e}",
            trail.bucket.name
        );
    }
    Ok(Some((out, signature)))
}

/// Reads digest `key` and checks it on its own: it parses, names itself where it is, and is
/// signed by a key CloudTrail publishes for its region. `None`: it is gone.
pub(crate) async fn check(
    (trail, keys): (&Trail, &Keys),
    key: &str,
    (place, end): (&Place, Timestamp),
) -> Result<Option<Checked>, PollError> {
    let Some((bytes, signature)) = fetch(trail, key).await? else {
        return Ok(None);
    };
    let mut c = Checked {
        key: key.to_string(),
        place: place.clone(),
        file: None,
        sha256: sha256_hex(&bytes),
        signature,
        findings: Vec::new(),
    };
    let file = match DigestFile::parse(&bytes) {
        Ok(f) => f,
        Err(why) => {
            let f = c.finding(FindingKind::Signature, key, why);
            c.findings.push(f);
            return Ok(Some(c));
        }
    };
    c.file = Some(file);
    let f = c.file.as_ref().expect("just set");
    let bucket = &trail.bucket.name;
    let mut wrong = Vec::new();
    if f.digest_signature_algorithm != "SHA256withRSA" {
        wrong.push(format!(
            "it says it is signed with '{}', not SHA256withRSA as CloudTrail signs",
            f.digest_signature_algorithm
        ));
    }
    if f.digest_s3_bucket != *bucket || f.digest_s3_object != key {
        wrong.push(format!(
            "it says it is s3://{}/{}, not where it is (a digest copied or moved over another)",
            f.digest_s3_bucket, f.digest_s3_object
        ));
    }
    let fingerprint = &f.digest_public_key_fingerprint;
    match keys.key(&place.region, fingerprint, end).await? {
        None => wrong.push(format!(
            "signed by key {fingerprint}, which CloudTrail does not publish for {} (ListPublicKeys)",
            place.region
        )),
        Some(k) if !k.verifies(&f.signed_text(&bytes), &c.signature) => {
            wrong.push(format!("its signature is not key {fingerprint}'s signature of it (altered, or forged)"));
        }
        Some(_) => {}
    }
    for why in wrong {
        let found = c.finding(FindingKind::Signature, key, why);
        c.findings.push(found);
    }
    Ok(Some(c))
}

/// The findings of a digest's link to the one before it. `last`: the chain's last verified
/// digest, if any. A first digest (no previous) after a verified one is a gap; a previous
/// digest that is not there is missing; one whose hash or signature differs from what this one
/// names breaks the chain.
pub(crate) async fn check_link(
    trail: &Trail,
    d: &Checked,
    last: Option<&Link>,
) -> Result<Vec<Finding>, PollError> {
    let Some(f) = &d.file else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let Some(prev) = f.previous_digest_s3_object.as_deref() else {
        if let Some(l) = last {
            out.push(d.finding(FindingKind::Gap, &d.key, format!(
                "the chain starts again: nothing proves what was delivered between {} and {} (after {}); logging was stopped or validation turned off",
                crate::when::from_millis(l.end_ms), f.digest_start_time, l.key
            )));
        }
        return Ok(out);
    };
    let named = (
        f.previous_digest_hash_value.clone().unwrap_or_default(),
        f.previous_digest_signature.clone().unwrap_or_default(),
    );
    let elsewhere = f
        .previous_digest_s3_bucket
        .as_deref()
        .filter(|b| *b != trail.bucket.name);
    let algorithm = f
        .previous_digest_hash_algorithm
        .as_deref()
        .unwrap_or("SHA-256");
    if elsewhere.is_some() || algorithm != "SHA-256" {
        out.push(d.finding(FindingKind::Chain, &d.key, format!(
            "it names its previous digest {prev} in bucket {}, hashed with {algorithm}: not this trail's chain",
            elsewhere.unwrap_or(&trail.bucket.name)
        )));
        return Ok(out);
    }
    let actual = match last.filter(|l| l.key == prev) {
        Some(l) => Some((l.sha256.clone(), l.signature.clone())),
        None => fetch(trail, prev)
            .await?
            .map(|(bytes, sig)| (sha256_hex(&bytes), sig)),
    };
    match actual {
        None => {
            let since = last.map_or(String::new(), |l| {
                format!("; the last digest verified before it is {}", l.key)
            });
            out.push(d.finding(FindingKind::DigestMissing, prev, format!(
                "{} points at it, and it is not in the bucket (one or more digests in a row deleted){since}",
                d.key
            )));
        }
        Some((hash, sig)) => {
            if !hash.eq_ignore_ascii_case(&named.0) {
                out.push(d.finding(
                    FindingKind::Chain,
                    &d.key,
                    format!(
                        "it names the previous digest {prev} with hash {}, which has hash {hash}",
                        named.0
                    ),
                ));
            }
            if !sig.eq_ignore_ascii_case(&named.1) {
                out.push(d.finding(
                    FindingKind::Chain,
                    &d.key,
                    format!(
                    "it names the previous digest {prev} with another signature than that digest's"
                ),
                ));
            }
        }
    }
    Ok(out)
}
