//! The trail's own proof of what it delivered: CloudTrail's signed digest files. A digest is
//! written every hour for each account and region, lists the hash of every log file delivered in
//! that hour, is chained to the digest before it, and is signed with a key CloudTrail publishes
//! (`ListPublicKeys`). Here: a digest file read and what its signature covers (`digest`), the
//! public keys and their fingerprints (`keys`), and what a check can find (`finding`). Pure:
//! bytes in, verdicts out; reading the bucket and asking for keys is `poll::s3`'s.

pub(crate) mod digest;
pub(crate) mod finding;
pub(crate) mod keys;
