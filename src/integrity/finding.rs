//! What checking a trail's digests can find, each named for an operator.

use serde::Serialize;

/// The kinds of findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum FindingKind {
    /// A log file's hash differs from what a digest lists, or bytes follow its gzip stream.
    Modified,
    /// A log file a digest lists is not in the bucket.
    Missing,
    /// A digest a chain points at is not in the bucket.
    DigestMissing,
    /// A digest's signature is invalid, by an unknown key, or the digest is not where it says.
    Signature,
    /// A digest's link to the previous one does not hold (hash or signature differ).
    Chain,
    /// A log file in the bucket that no digest lists.
    NotInDigest,
    /// A chain starts again: logging stopped or validation was off between.
    Gap,
}

impl FindingKind {
    /// Its name, as findings and metrics say it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FindingKind::Modified => "modified",
            FindingKind::Missing => "missing",
            FindingKind::DigestMissing => "digest-missing",
            FindingKind::Signature => "signature",
            FindingKind::Chain => "chain",
            FindingKind::NotInDigest => "not-in-digest",
            FindingKind::Gap => "gap",
        }
    }

    /// What it may mean, for the alert.
    pub(crate) fn meaning(self) -> &'static str {
        match self {
            FindingKind::Modified => {
                "a log file was changed after CloudTrail delivered it (events removed or forged)"
            }
            FindingKind::Missing => {
                "a log file CloudTrail delivered was deleted (its events are gone from the bucket)"
            }
            FindingKind::DigestMissing => {
                "a digest file was deleted: what it proved cannot be checked"
            }
            FindingKind::Signature => "a digest is not CloudTrail's: forged, altered or moved",
            FindingKind::Chain => {
                "a digest does not follow the one before it: the chain was tampered with"
            }
            FindingKind::NotInDigest => {
                "a log file in the bucket was not delivered by CloudTrail (planted)"
            }
            FindingKind::Gap => {
                "the digest chain starts again: logging was stopped or validation turned off"
            }
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Finding {
    pub kind: FindingKind,
    /// The object it is about (a log file or a digest).
    pub key: String,
    pub account: String,
    pub region: String,
    /// The hour it concerns (the digest's period), as `start/end`.
    pub hour: String,
    pub detail: String,
}

impl Finding {
    /// One line: `KIND KEY detail`.
    pub(crate) fn line(&self) -> String {
        format!("{} {} {}", self.kind.name(), self.key, self.detail)
    }
}
