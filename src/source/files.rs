//! The `files` source: a folder of CloudTrail delivery files (`.json`, `.json.gz`, as
//! `aws s3 sync` of a trail bucket leaves them), read once each as they appear. Delivery files
//! never change after they are written, so a file is remembered as read by its path.
//!
//! A file that fails to read (still being written, say) is tried again at the next look, and
//! reported once per size it had.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::format;

/// A folder that cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("{} is not a readable folder", .0.display())]
    NotAFolder(PathBuf),
}

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
    pub fn list(&self) -> Result<Vec<PathBuf>, FolderError> {
        if !self.path.is_dir() {
            return Err(FolderError::NotAFolder(self.path.clone()));
        }
        let (mut files, errors) = format::expand(std::slice::from_ref(&self.path));
        for e in errors {
            tracing::warn!(folder = %self.path.display(), "{e}");
        }
        files.sort();
        Ok(files)
    }

    /// Reads one file's records.
    pub fn read(path: &Path) -> FileRead {
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        let result = format::load(path).and_then(|inp| {
            // In JSON Lines a bad line is skipped; a document that does not parse is not
            // complete yet (still being written), so the whole file is tried again later.
            let document = format::layout(&inp.data) == format::Layout::Document;
            let mut recs = Vec::new();
            let mut bad = Vec::new();
            let mut fatal = None;
            format::for_each_value(&inp.data, &inp.name, |v| {
                let problem = match v {
                    format::Value::Text(text, loc) => match format::records(text) {
                        Ok(rs) => {
                            recs.extend(rs.into_iter().map(|r| r.text.into_owned()));
                            return;
                        }
                        Err(e) => format!("{loc}: {e}"),
                    },
                    format::Value::Bad(why) => why,
                };
                if document {
                    fatal.get_or_insert(problem);
                } else {
                    bad.push(problem);
                }
            });
            match fatal {
                Some(e) => Err(e),
                None => Ok((recs, bad)),
            }
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
