//! Where each stream has been read to (its watermark, which never moves back) and since when it
//! has been polled (the late sweep never reads before that); forgetting them for a source.

use jiff::Timestamp;
use serde::Serialize;

use super::keys::{i64_of, key2, split2};
use super::open::{Result, State};
use crate::when;

/// A watermark as `state show` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct WatermarkRow {
    pub source: String,
    pub stream: String,
    pub watermark: Timestamp,
}

impl State {
    /// The watermark of one stream (a source's region, log group or folder).
    pub fn watermark(&self, source: &str, stream: &str) -> Result<Option<Timestamp>> {
        let v = self.with(|s| s.watermarks.get(key2(source, stream)))?;
        Ok(v.map(|v| when::from_millis(i64_of(&v))))
    }

    /// Moves a stream's watermark (never backwards) and makes it durable.
    pub fn advance_watermark(&self, source: &str, stream: &str, to: Timestamp) -> Result<()> {
        let k = key2(source, stream);
        let to = when::millis(to);
        self.with(|s| {
            s.watermarks.fetch_and_update(&k, |old| {
                let keep = old.map(i64_of).unwrap_or(i64::MIN);
                Some(keep.max(to).to_be_bytes().to_vec())
            })?;
            s.flush()
        })
    }

    /// Records that a stream is polled from `first` on, unless it was polled before.
    pub fn note_covered(&self, source: &str, stream: &str, first: Timestamp) -> Result<()> {
        let v = when::millis(first).to_be_bytes();
        self.with(|s| {
            s.covered
                .compare_and_swap(key2(source, stream), None as Option<&[u8]>, Some(&v[..]))
                .map(|_| ())
        })
    }

    /// Since when a stream has been polled.
    pub fn covered(&self, source: &str, stream: &str) -> Result<Option<Timestamp>> {
        let v = self.with(|s| s.covered.get(key2(source, stream)))?;
        Ok(v.map(|v| when::from_millis(i64_of(&v))))
    }

    /// Every watermark.
    pub fn watermarks(&self) -> Result<Vec<WatermarkRow>> {
        self.with(|s| {
            s.watermarks
                .iter()
                .map(|kv| {
                    let (k, v) = kv?;
                    let (source, stream) = split2(&k);
                    Ok(WatermarkRow {
                        source,
                        stream,
                        watermark: when::from_millis(i64_of(&v)),
                    })
                })
                .collect()
        })
    }

    /// Forgets the watermarks and read files of one source (or all), so that the next run reads
    /// again from its start. Raised alerts stay remembered, so nothing is alerted twice.
    pub fn reset(&self, source: Option<&str>) -> Result<usize> {
        self.with(|s| {
            let mut n = 0;
            for tree in [&s.watermarks, &s.files, &s.covered, &s.objects] {
                let keys: Vec<_> = match source {
                    Some(src) => tree.scan_prefix(key2(src, "")).keys().collect(),
                    None => tree.iter().keys().collect(),
                };
                for k in keys {
                    tree.remove(k?)?;
                    n += 1;
                }
            }
            s.flush()?;
            Ok(n)
        })
    }
}
