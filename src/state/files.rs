//! What a `files` source has read of each file: its size and modification time then, how far
//! it was read, and what could not be read of it.

use serde::{Deserialize, Serialize};

use super::keys::key2;
use super::open::{Result, State};
use super::StateError;

/// A file's size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub len: u64,
    /// Nanoseconds since the epoch; 0 when unknown (marks written before stamps were kept).
    pub mtime_ns: i128,
}

impl Stamp {
    /// The same file state (an unknown time matches on size alone).
    pub fn same(&self, o: &Stamp) -> bool {
        self.len == o.len && (self.mtime_ns == 0 || o.mtime_ns == 0 || self.mtime_ns == o.mtime_ns)
    }
}

/// What the state remembers of a file read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMark {
    pub stamp: Stamp,
    /// Bytes read (JSON Lines are read on from here), and lines read.
    pub offset: u64,
    #[serde(default)]
    pub lines: u64,
    /// Why it could not be read to its end, if it could not.
    #[serde(default)]
    pub problem: Option<String>,
}

impl State {
    /// What a `files` source read of this file, if it read it.
    pub fn file_mark(&self, source: &str, path: &str) -> Result<Option<FileMark>> {
        let Some(v) = self.with(|s| s.files.get(key2(source, path)))? else {
            return Ok(None);
        };
        if v.len() == 8 {
            // Written before marks kept the time: the size alone.
            let len = u64::from_be_bytes(v.as_ref().try_into().expect("8 bytes"));
            return Ok(Some(FileMark {
                stamp: Stamp { len, mtime_ns: 0 },
                offset: len,
                lines: 0,
                problem: None,
            }));
        }
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StateError::Corrupt(format!("file mark of {path}: {e}")))
    }

    /// Marks a file as read (not durable until `flush`).
    pub fn mark_file(&self, source: &str, path: &str, mark: &FileMark) -> Result<()> {
        let v = serde_json::to_vec(mark).expect("a file mark serializes");
        self.with(|s| s.files.insert(key2(source, path), v).map(|_| ()))
    }

    /// Files read, per source.
    pub fn files_read(&self, source: &str) -> usize {
        self.with(|s| Ok(s.files.scan_prefix(key2(source, "")).count()))
            .unwrap_or(0)
    }
}
