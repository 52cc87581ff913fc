//! What an `s3` source has read of each object (by key and ETag), until listings no longer
//! reach back to it.

use jiff::Timestamp;
use serde::Serialize;

use super::keys::key2;
use super::open::{Result, State};
use super::StateError;
use crate::when;

/// What was read of an S3 object: its ETag (a new version is read again), its delivery time
/// (marks are forgotten once listings no longer reach back to them), and what could not be
/// read of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ObjectMark {
    pub etag: String,
    pub time_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Its content's hash, when it was read to its end: a digest that lists the object is
    /// checked against it (never downloaded again for that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<crate::format::Proof>,
    /// A verified digest listed it, with this hash.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
}

/// `source` NUL `stream` NUL `key`.
fn object_key(source: &str, stream: &str, key: &str) -> Vec<u8> {
    key2(source, &format!("{stream}\0{key}"))
}

impl State {
    /// What was read of an S3 object of a source's stream, if it was read.
    pub fn object_mark(&self, source: &str, stream: &str, key: &str) -> Result<Option<ObjectMark>> {
        let Some(v) = self.with(|s| s.objects.get(object_key(source, stream, key)))? else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StateError::Corrupt(format!("object mark of {key}: {e}")))
    }

    /// Marks an S3 object as read (not durable until `flush`).
    pub fn mark_object(
        &self,
        source: &str,
        stream: &str,
        key: &str,
        mark: &ObjectMark,
    ) -> Result<()> {
        let v = serde_json::to_vec(mark).expect("an object mark serializes");
        self.with(|s| {
            s.objects
                .insert(object_key(source, stream, key), v)
                .map(|_| ())
        })
    }

    /// Every object read of a stream, by key.
    pub(crate) fn objects_of(
        &self,
        source: &str,
        stream: &str,
    ) -> Result<Vec<(String, ObjectMark)>> {
        let prefix = object_key(source, stream, "");
        self.with(|s| {
            let mut out = Vec::new();
            for kv in s.objects.scan_prefix(&prefix) {
                let (k, v) = kv?;
                if let Ok(m) = serde_json::from_slice::<ObjectMark>(&v) {
                    out.push((String::from_utf8_lossy(&k[prefix.len()..]).into_owned(), m));
                }
            }
            Ok(out)
        })
    }

    /// Forgets the objects of a stream delivered before `before` (a listing never reaches
    /// back to them again); returns how many. With `unchecked_until`, an object no digest was
    /// checked for yet is kept until then (its digest may come later).
    pub fn forget_objects(
        &self,
        source: &str,
        stream: &str,
        before: Timestamp,
        unchecked_until: Option<Timestamp>,
    ) -> Result<usize> {
        let before = when::millis(before);
        let unchecked = unchecked_until.map_or(before, when::millis).min(before);
        self.with(|s| {
            let mut n = 0;
            for kv in s.objects.scan_prefix(object_key(source, stream, "")) {
                let (k, v) = kv?;
                let old = serde_json::from_slice::<ObjectMark>(&v).map_or(true, |m| {
                    m.time_ms < if m.verified { before } else { unchecked }
                });
                if old {
                    s.objects.remove(k)?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }
}
