//! What an `s3` source has proven of its trail: for each chain of digests (a place's trail, or
//! its backfill digests), the last digest verified — its key, the end of its hour, the hash of
//! its content and its signature, which the next digest must name — and since when the place's
//! digests are verified (log files read before that are not asked to be listed).

use serde::{Deserialize, Serialize};

use super::keys::key2;
use super::open::{Result, State};
use super::StateError;

/// The last digest of a chain that was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Link {
    pub key: String,
    /// The start and end of the hour it covers (ms).
    pub start_ms: i64,
    pub end_ms: i64,
    /// SHA-256 of its decompressed content, and its signature (hex).
    pub sha256: String,
    pub signature: String,
    /// When it was verified (ms, this host's clock).
    pub verified_ms: i64,
}

/// A chain: its source, the stream of its place's digests, its name.
pub(crate) type ChainId = (String, String, String);

/// `source` NUL `stream` NUL `chain`.
fn chain_key(source: &str, stream: &str, chain: &str) -> Vec<u8> {
    key2(source, &format!("{stream}\0{chain}"))
}

impl State {
    /// The last verified digest of a chain of `stream`.
    pub(crate) fn chain_link(
        &self,
        source: &str,
        stream: &str,
        chain: &str,
    ) -> Result<Option<Link>> {
        let Some(v) = self.with(|s| s.digests.get(chain_key(source, stream, chain)))? else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StateError::Corrupt(format!("digest chain {chain}: {e}")))
    }

    /// Keeps the last verified digest of a chain (durable with its batch).
    pub(crate) fn set_chain_link(
        &self,
        source: &str,
        stream: &str,
        chain: &str,
        l: &Link,
    ) -> Result<()> {
        let v = serde_json::to_vec(l).expect("a link serializes");
        self.with(|s| {
            s.digests
                .insert(chain_key(source, stream, chain), v)
                .map(|_| ())
        })
    }

    /// Every chain's last verified digest, by (source, stream, chain): `check` and `/readyz`.
    pub(crate) fn chain_links(&self) -> Result<Vec<(ChainId, Link)>> {
        self.with(|s| {
            let mut out = Vec::new();
            for kv in s.digests.iter() {
                let (k, v) = kv?;
                let text = String::from_utf8_lossy(&k).into_owned();
                let mut parts = text.splitn(3, '\0').map(String::from);
                let (Some(a), Some(b), Some(c)) = (parts.next(), parts.next(), parts.next()) else {
                    continue;
                };
                if let Ok(l) = serde_json::from_slice::<Link>(&v) {
                    out.push(((a, b, c), l));
                }
            }
            Ok(out)
        })
    }
}
