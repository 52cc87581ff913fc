//! The `files` source: a folder of CloudTrail delivery files (`.json`, `.json.gz`, as
//! `aws s3 sync` of a trail bucket leaves them) and JSON Lines files (`.jsonl`, `.ndjson`),
//! read as they appear, record by record with bounded memory (`format::stream`).
//!
//! A file is not read while it is being written: a delivery file is read once its size and
//! modification time are the same at two looks (or unchanged for a minute); a JSON Lines file is
//! read up to its last complete line, and again from there as it grows. What was read is
//! remembered with the size and time it had: a file that changes afterwards is read again (its
//! alerts are not raised twice), and a file that could not be read to its end (truncated, a
//! decompression bomb, a broken gzip) is not read again until it changes, and said once.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::format;
use crate::format::stream::{self, Item, Limits};
use crate::state::{FileMark, Stamp};

/// A file unchanged for this long is not being written.
const SETTLED: Duration = Duration::from_secs(60);

/// A folder that cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("{} is not a readable folder", .0.display())]
    NotAFolder(PathBuf),
}

/// A file's size and modification time now, with the time itself.
fn stamp_of(path: &Path) -> Option<(Stamp, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    let t = m.modified().ok()?;
    let ns = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    Some((
        Stamp {
            len: m.len(),
            mtime_ns: ns,
        },
        t,
    ))
}

/// How a file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Written once (delivery files, gzip): read whole once it is stable.
    Whole,
    /// Appended to (JSON Lines): read up to its last complete line, then on from there.
    Lines,
}

/// A file to read now.
#[derive(Debug, Clone)]
pub struct Ready {
    pub path: PathBuf,
    pub stamp: Stamp,
    pub kind: Kind,
    /// Where to start (JSON Lines read before), and the line there.
    pub from: u64,
    pub line: u64,
    /// The same at two looks (or unchanged for a minute): a last line without a newline is
    /// complete.
    pub stable: bool,
    /// It was read before and changed since.
    pub changed: bool,
}

/// A folder being watched.
pub struct Folder {
    pub path: PathBuf,
    pub limits: Limits,
    /// Each file's stamp at the previous look.
    seen: HashMap<PathBuf, Stamp>,
    /// Files found not yet stable at the last look.
    pub deferred: usize,
    /// The symbolic links found in the folder (each said once; never followed).
    links: std::collections::HashSet<PathBuf>,
}

fn kind_of(path: &Path) -> Kind {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        Kind::Lines
    } else {
        Kind::Whole
    }
}

/// What reading a file did.
#[derive(Debug, Default)]
pub struct ReadEnd {
    /// Where the next read starts, and its line.
    pub upto: u64,
    pub lines: u64,
    /// Why it could not be read to its end.
    pub problem: Option<String>,
    /// The reader was told to stop before the end.
    pub stopped: bool,
}

impl Folder {
    pub fn new(path: PathBuf, limits: Limits) -> Folder {
        Folder {
            path,
            limits,
            seen: HashMap::new(),
            deferred: 0,
            links: Default::default(),
        }
    }

    /// The trail files under the folder, sorted by path (CloudTrail's paths sort by date),
    /// and how many symbolic links were found there for the first time (each said once: a
    /// link is never followed, it may point anywhere).
    pub fn list(&mut self) -> Result<(Vec<PathBuf>, u64), FolderError> {
        if !self.path.is_dir() {
            return Err(FolderError::NotAFolder(self.path.clone()));
        }
        let found = format::expand(std::slice::from_ref(&self.path));
        for e in found.errors {
            tracing::warn!(folder = %self.path.display(), "{e}");
        }
        let mut new_links = 0;
        for l in found.links {
            if self.links.insert(l.clone()) {
                new_links += 1;
                tracing::warn!(folder = %self.path.display(), "{} is a symbolic link: not followed, its target is NOT read (a link may point anywhere; copy the file, or point the source at the target's folder)", l.display());
            }
        }
        let mut files = found.files;
        files.sort();
        Ok((files, new_links))
    }

    /// The files to read now: new or changed since read (`mark` says what was read), and for
    /// delivery files, not being written.
    pub fn ready(
        &mut self,
        files: Vec<PathBuf>,
        mark: impl Fn(&Path) -> Option<FileMark>,
    ) -> Vec<Ready> {
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        self.deferred = 0;
        for path in files {
            let Some((stamp, mtime)) = stamp_of(&path) else {
                continue;
            };
            let before = self.seen.get(&path).copied();
            seen.insert(path.clone(), stamp);
            let old = mark(&path);
            let kind = kind_of(&path);
            // Read already, as it is now (a JSON Lines file: to its end).
            let done = old.as_ref().is_some_and(|m| {
                m.stamp.same(&stamp) && (kind == Kind::Whole || m.offset >= stamp.len)
            });
            if done {
                continue;
            }
            let (mut from, mut line) = (0, 1);
            let settled = SystemTime::now()
                .duration_since(mtime)
                .is_ok_and(|d| d >= SETTLED);
            let stable = before == Some(stamp) || settled;
            if kind == Kind::Lines {
                // Grown: read on from where it was read to (shrunk or rewritten: from the start).
                if let Some(m) = &old {
                    if m.problem.is_none() && m.offset <= stamp.len && m.stamp.len <= stamp.len {
                        from = m.offset;
                        line = m.lines.max(1);
                    }
                }
            } else if !stable {
                self.deferred += 1;
                continue;
            }
            out.push(Ready {
                stable,
                changed: old.is_some(),
                path,
                stamp,
                kind,
                from,
                line,
            });
        }
        self.seen = seen;
        out
    }

    /// Reads a file from where `r` says, handing on every record and problem; `on` returns
    /// false to stop (a shutdown). An error here is a file that cannot be opened.
    /// `witness` looks at every byte of the records too long to keep (see `stream::Witness`).
    pub fn read(
        &self,
        r: &Ready,
        mut witness: Option<&mut dyn stream::Witness>,
        search: Option<format::lines::Search<'_>>,
        mut on: impl FnMut(Item) -> bool,
    ) -> Result<ReadEnd, String> {
        let name = r.path.display().to_string();
        let mut f = File::open(&r.path).map_err(|e| format!("{name}: {e}"))?;
        let mut magic = [0u8; 2];
        let gz = f.read(&mut magic).map_err(|e| format!("{name}: {e}"))? == 2
            && crate::format::is_gzip(&magic);
        let end = match r.kind {
            // Only complete lines: a line being written is read when it is (a file that stopped
            // changing is read to its end, newline or not).
            Kind::Lines if !gz && !r.stable => {
                last_newline(&mut f, r.stamp.len).map_err(|e| format!("{name}: {e}"))?
            }
            _ => r.stamp.len,
        };
        let from = if gz { 0 } else { r.from.min(end) };
        f.seek(SeekFrom::Start(from))
            .map_err(|e| format!("{name}: {e}"))?;
        let mut problem: Option<String> = None;
        let mut stopped = false;
        let mut handle = |item: Item| {
            if let Item::Problem(p) = &item {
                if matches!(
                    p,
                    stream::Problem::Incomplete { .. }
                        | stream::Problem::TooLong { .. }
                        | stream::Problem::Read { .. }
                        | stream::Problem::Malformed { .. }
                ) {
                    problem.get_or_insert_with(|| p.show(&name));
                }
            }
            let go = on(item);
            stopped |= !go;
            go
        };
        let opts = stream::Start {
            line: r.line,
            lines: (r.kind == Kind::Lines).then_some(true),
        };
        let (read, lines) = if gz {
            stream::read_witnessed(
                crate::format::Body::gzip(BufReader::new(f)),
                &self.limits,
                opts,
                witness.take(),
                &mut handle,
            )
        } else {
            let body = BufReader::with_capacity(64 << 10, f.take(end - from));
            let plain = Plain {
                limits: &self.limits,
                opts,
                search,
            };
            plain
                .read(body, witness.take(), &mut handle)
                .map_err(|e| format!("{name}: {e}"))?
        };
        Ok(ReadEnd {
            upto: if gz { r.stamp.len } else { from + read },
            lines,
            problem,
            stopped,
        })
    }
}

/// The offset just after the last newline of the first `len` bytes (0 when there is none).
fn last_newline(f: &mut File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        f.seek(SeekFrom::Start(start))?;
        let chunk = &mut buf[..(end - start) as usize];
        f.read_exact(chunk)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// How a file that is not compressed is read: JSON Lines with a search at its pace (only the
/// lines it finds something in are read whole), anything else by the stream reader.
struct Plain<'a> {
    limits: &'a Limits,
    opts: stream::Start,
    search: Option<format::lines::Search<'a>>,
}

impl Plain<'_> {
    fn read(
        &self,
        mut body: BufReader<std::io::Take<File>>,
        witness: Option<&mut dyn stream::Witness>,
        on: impl FnMut(Item) -> bool,
    ) -> std::io::Result<(u64, u64)> {
        let lines = match self.opts.lines {
            Some(l) => l,
            None => stream::lines_layout(std::io::BufRead::fill_buf(&mut body)?),
        };
        Ok(match self.search {
            Some(search) if lines => {
                let opts = stream::Start {
                    lines: Some(true),
                    ..self.opts
                };
                format::lines::read_lines(body, self.limits, opts, witness, search, on)
            }
            _ => stream::read_witnessed(body, self.limits, self.opts, witness, on),
        })
    }
}

/// Reads a whole file that was written once, for `backfill` (no stability, no marks); JSON
/// Lines at `search`'s pace when one is given.
pub fn read_whole(
    path: &Path,
    limits: &Limits,
    witness: Option<&mut dyn stream::Witness>,
    search: Option<format::lines::Search<'_>>,
    on: impl FnMut(Item) -> bool,
) -> Result<ReadEnd, String> {
    let (stamp, _) = stamp_of(path).ok_or_else(|| format!("{}: cannot be read", path.display()))?;
    let f = Folder::new(PathBuf::new(), *limits);
    let r = Ready {
        path: path.to_path_buf(),
        stamp,
        kind: Kind::Whole,
        from: 0,
        line: 1,
        changed: false,
        stable: true,
    };
    f.read(&r, witness, search, on)
}

/// The records of one piece: an element of a container is one; a top-level value may be an
/// EventBridge event around a record, or a container format the stream reader leaves whole.
pub fn records_of(p: &stream::Piece) -> Result<Vec<format::RawRecord<'_>>, String> {
    if p.element {
        return Ok(vec![format::RawRecord {
            text: std::borrow::Cow::Borrowed(&p.text),
            event: None,
            index: None,
        }]);
    }
    format::records(&p.text)
}
