//! The `files` source: a folder of CloudTrail delivery files (`.json`, `.json.gz`, as
//! `aws s3 sync` of a trail bucket leaves them), read once each as they appear. Delivery files
//! never change after they are written, so a file is remembered as read by its path.
//!
//! A file that fails to read (still being written, say) is tried again at the next look, and
//! reported once per size it had.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::input;

/// A folder being watched.
pub struct Folder {
    pub path: PathBuf,
    /// Files that failed, and the size they had then (to report each failure once).
    failed: HashMap<PathBuf, u64>,
}

/// A file found, its records, or why it could not be read.
pub struct FileRead {
    pub path: PathBuf,
    pub len: u64,
    /// The records' JSON texts, and malformed records as `location: reason`.
    pub result: Result<(Vec<String>, Vec<String>), String>,
}

impl Folder {
    pub fn new(path: PathBuf) -> Folder {
        Folder {
            path,
            failed: HashMap::new(),
        }
    }

    /// The trail files under the folder, sorted by path (CloudTrail's paths sort by date).
    pub fn list(&self) -> Result<Vec<PathBuf>, String> {
        if !self.path.is_dir() {
            return Err(format!("{} is not a readable folder", self.path.display()));
        }
        let (mut files, errors) = input::expand(std::slice::from_ref(&self.path));
        for e in errors {
            tracing::warn!(folder = %self.path.display(), "{e}");
        }
        files.sort();
        Ok(files)
    }

    /// Reads one file's records.
    pub fn read(path: &Path) -> FileRead {
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        let result = input::load(path).and_then(|inp| {
            let name = inp.name.clone();
            let text =
                std::str::from_utf8(&inp.data).map_err(|e| format!("{name}: not UTF-8 ({e})"))?;
            let mut recs = Vec::new();
            let mut bad = Vec::new();
            match input::layout(text.as_bytes()) {
                input::Layout::Lines => {
                    for (i, line) in text.lines().enumerate() {
                        if !line.trim().is_empty() {
                            match input::records(line) {
                                Ok(rs) => recs.extend(rs.into_iter().map(|r| r.text.into_owned())),
                                Err(e) => bad.push(format!("{name}:{}: {e}", i + 1)),
                            }
                        }
                    }
                }
                input::Layout::Document => {
                    let rs = input::records(text).map_err(|e| format!("{name}: {e}"))?;
                    recs.extend(rs.into_iter().map(|r| r.text.into_owned()));
                }
            }
            Ok((recs, bad))
        });
        FileRead {
            path: path.to_path_buf(),
            len,
            result,
        }
    }

    /// Reports a failed read once per file size; true when it was reported now.
    pub fn note_failure(&mut self, f: &FileRead) -> bool {
        self.failed.insert(f.path.clone(), f.len) != Some(f.len)
    }

    pub fn forget_failure(&mut self, path: &Path) {
        self.failed.remove(path);
    }
}
