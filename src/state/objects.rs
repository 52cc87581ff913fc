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

    /// Forgets the objects of a stream delivered before `before` (a listing never reaches
    /// back to them again); returns how many.
    pub fn forget_objects(&self, source: &str, stream: &str, before: Timestamp) -> Result<usize> {
        let before = when::millis(before);
        self.with(|s| {
            let mut n = 0;
            for kv in s.objects.scan_prefix(object_key(source, stream, "")) {
                let (k, v) = kv?;
                let old =
                    serde_json::from_slice::<ObjectMark>(&v).map_or(true, |m| m.time_ms < before);
                if old {
                    s.objects.remove(k)?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }
}
