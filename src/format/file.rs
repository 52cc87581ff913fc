//! Reading CloudTrail input: files, folders (recursively) and stdin, plain or gzip (as
//! CloudTrail writes `.json.gz`, detected by its magic bytes).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::ops::Deref;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

/// The bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True when `head`, the first bytes of an input, start a gzip stream (how gzip is told: by
/// its bytes, never by a name).
pub(crate) fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC)
}

/// The buffer of a stream read record by record.
const BUFFER: usize = 64 << 10;

/// An input's bytes as the stream reader takes them: inflated when they are gzip (every
/// member, as `cat a.gz b.gz` makes), as they are otherwise; never held whole.
pub(crate) enum Body<R: BufRead> {
    Plain(R),
    Gzip(Box<BufReader<MultiGzDecoder<R>>>),
}

impl<R: BufRead> Body<R> {
    /// Tells by `r`'s first bytes (an error: they cannot be read).
    pub(crate) fn of(mut r: R) -> std::io::Result<Body<R>> {
        Ok(if is_gzip(r.fill_buf()?) {
            Body::gzip(r)
        } else {
            Body::Plain(r)
        })
    }

    /// `r`'s bytes inflated (the caller knows them to be gzip).
    pub(crate) fn gzip(r: R) -> Body<R> {
        Body::Gzip(Box::new(BufReader::with_capacity(
            BUFFER,
            MultiGzDecoder::new(r),
        )))
    }
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Body::Plain(r) => r.read(buf),
            Body::Gzip(r) => r.read(buf),
        }
    }
}

impl<R: BufRead> BufRead for Body<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        match self {
            Body::Plain(r) => r.fill_buf(),
            Body::Gzip(r) => r.fill_buf(),
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            Body::Plain(r) => r.consume(n),
            Body::Gzip(r) => r.consume(n),
        }
    }
}

/// A body read from `r` (an S3 object's), buffered, inflated when it is gzip.
pub(crate) fn body_of<R: Read>(r: R) -> std::io::Result<Body<BufReader<R>>> {
    Body::of(BufReader::with_capacity(BUFFER, r))
}

/// The bytes of one input, mapped or read.
pub enum Data {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Mapped(m) => m,
            Data::Owned(v) => v,
        }
    }
}

/// One input file (or stdin), decompressed.
pub struct Input {
    /// The path as given, or `-` for stdin.
    pub name: String,
    pub data: Data,
}

/// Which files of a folder are CloudTrail data.
fn is_trail_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with('.') || name.contains("CloudTrail-Digest") {
        return false;
    }
    let name = name.strip_suffix(".gz").unwrap_or(name);
    [".json", ".jsonl", ".ndjson"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// What a folder holds: its CloudTrail files, what could not be looked at, and the symbolic
/// links that were not followed (a link may point anywhere: it is said, never read).
#[derive(Debug, Default)]
pub(crate) struct Expanded {
    pub files: Vec<PathBuf>,
    pub errors: Vec<String>,
    pub links: Vec<PathBuf>,
}

/// Expands the paths given on the command line: folders recursively (CloudTrail files only,
/// sorted by path), files as they are. Unreadable paths are returned as errors; symbolic links
/// inside a folder are not followed, and returned.
pub(crate) fn expand(paths: &[PathBuf]) -> Expanded {
    let mut out = Expanded::default();
    for p in paths {
        if p.as_os_str() == "-" || !p.is_dir() {
            out.files.push(p.clone());
            continue;
        }
        for entry in walkdir::WalkDir::new(p).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() && is_trail_file(e.path()) => {
                    out.files.push(e.into_path())
                }
                Ok(e) if e.path_is_symlink() => out.links.push(e.into_path()),
                Ok(_) => {}
                Err(e) => out
                    .errors
                    .push(format!("{}: {}", e.path().unwrap_or(p).display(), e)),
            }
        }
    }
    out
}

/// Reads one input (`-` is stdin), decompressing gzip (detected by its magic bytes) up to
/// `max` inflated bytes. A gzip cut short or longer than
/// `max` gives what came before, and the problem.
pub(crate) fn load_limited(path: &Path, max: u64) -> Result<(Input, Option<String>), String> {
    let name = path.display().to_string();
    let data = if path.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut v)
            .map_err(|e| format!("stdin: {e}"))?;
        Data::Owned(v)
    } else {
        let f = File::open(path).map_err(|e| format!("{name}: {e}"))?;
        let meta = f.metadata().map_err(|e| format!("{name}: {e}"))?;
        if meta.is_file() && meta.len() > 0 {
            // SAFETY: the map is read-only and lives as long as the Input; a file truncated
            // by another process while we read it is the accepted risk of every mmap reader.
            Data::Mapped(unsafe { memmap2::Mmap::map(&f) }.map_err(|e| format!("{name}: {e}"))?)
        } else {
            let mut v = Vec::new();
            (&f).read_to_end(&mut v)
                .map_err(|e| format!("{name}: {e}"))?;
            Data::Owned(v)
        }
    };
    if is_gzip(&data) {
        let mut out = Vec::with_capacity(data.len().saturating_mul(8).min(1 << 30));
        let read = MultiGzDecoder::new(&data[..])
            .take(max.saturating_add(1))
            .read_to_end(&mut out);
        let problem = match read {
            Err(e) => Some(format!(
                "{name}: not a valid gzip file ({e}): only what came before was read"
            )),
            Ok(_) if out.len() as u64 > max => {
                out.truncate(max as usize);
                Some(format!(
                    "{name}: longer than {max} bytes once decompressed (a decompression bomb?): read up to there, the rest is NOT read"
                ))
            }
            Ok(_) => None,
        };
        let input = Input {
            name,
            data: Data::Owned(out),
        };
        return Ok((input, problem));
    }
    Ok((Input { name, data }, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_filter() {
        assert!(is_trail_file(Path::new(
            "a/111_CloudTrail_us-east-1_x.json.gz"
        )));
        assert!(is_trail_file(Path::new("x.jsonl")));
        assert!(!is_trail_file(Path::new(
            "111_CloudTrail-Digest_us-east-1_x.json.gz"
        )));
        assert!(!is_trail_file(Path::new(".hidden.json")));
        assert!(!is_trail_file(Path::new("notes.txt")));
    }
}
