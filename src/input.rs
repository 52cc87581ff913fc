//! CloudTrail input: files, folders (recursively) and stdin; plain or gzip (as CloudTrail writes
//! `.json.gz`); and the shapes CloudTrail data comes in: S3 delivery files (`{"Records":[…]}`),
//! JSON Lines, single records, EventBridge events (the record is `detail`), and the output of
//! `aws cloudtrail lookup-events` (`{"Events":[{"CloudTrailEvent":"…"}]}`).

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

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

/// Expands the paths given on the command line: folders recursively (CloudTrail files only,
/// sorted by path), files as they are. Unreadable paths are returned as errors.
pub fn expand(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" || !p.is_dir() {
            files.push(p.clone());
            continue;
        }
        for entry in walkdir::WalkDir::new(p).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() && is_trail_file(e.path()) => {
                    files.push(e.into_path())
                }
                Ok(_) => {}
                Err(e) => errors.push(format!("{}: {}", e.path().unwrap_or(p).display(), e)),
            }
        }
    }
    (files, errors)
}

/// Reads one input (`-` is stdin), decompressing gzip (detected by its magic bytes).
pub fn load(path: &Path) -> Result<Input, String> {
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
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(data.len() * 8);
        flate2::read::MultiGzDecoder::new(&data[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("{name}: not a valid gzip file: {e}"))?;
        return Ok(Input {
            name,
            data: Data::Owned(out),
        });
    }
    Ok(Input { name, data })
}

/// How a document lays out its JSON values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One JSON object per line (JSON Lines, or a one-line delivery file).
    Lines,
    /// Any other sequence of JSON values (pretty-printed records, arrays).
    Document,
}

/// Chooses the layout from the first non-blank line: a whole object on one line means lines.
pub fn layout(buf: &[u8]) -> Layout {
    let start = buf
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(buf.len());
    let end = memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |i| start + i);
    let line = buf[start..end].trim_ascii_end();
    if line.starts_with(b"{") && line.ends_with(b"}") {
        Layout::Lines
    } else {
        Layout::Document
    }
}

/// One record found in a JSON value.
#[derive(Debug)]
pub struct RawRecord<'a> {
    /// The record's JSON text.
    pub text: Cow<'a, str>,
    /// The EventBridge event around it, when the input held events.
    pub event: Option<&'a str>,
    /// Its index in a `Records`/`Events`/array container.
    pub index: Option<usize>,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<&'a RawValue>>,
    #[serde(rename = "Events", default)]
    events: Option<Vec<LookupEvent>>,
    #[serde(rename = "detail-type", borrow, default)]
    detail_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct LookupEvent {
    #[serde(rename = "CloudTrailEvent")]
    cloudtrail_event: Option<String>,
}

/// The elements of a container, as records numbered by their index.
fn indexed(items: Vec<&RawValue>) -> Vec<RawRecord<'_>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, r)| RawRecord {
            text: Cow::Borrowed(r.get()),
            event: None,
            index: Some(i),
        })
        .collect()
}

/// The records held by one JSON value, whatever its shape. Syntax errors are returned with
/// serde_json's line and column, relative to `text`.
pub fn records(text: &str) -> Result<Vec<RawRecord<'_>>, String> {
    let first = text.trim_start().as_bytes().first().copied();
    if first == Some(b'[') {
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        return Ok(indexed(items));
    }
    if first != Some(b'{') {
        return Err("not a JSON object".into());
    }
    let probe: Probe = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(recs) = probe.records {
        return Ok(indexed(recs));
    }
    if let Some(events) = probe.events {
        return events
            .into_iter()
            .enumerate()
            .map(|(i, e)| match e.cloudtrail_event {
                Some(s) => Ok(RawRecord {
                    text: Cow::Owned(s),
                    event: None,
                    index: Some(i),
                }),
                None => Err(format!("Events[{i}] has no CloudTrailEvent")),
            })
            .collect();
    }
    if let (Some(_), Some(detail)) = (probe.detail_type, probe.detail) {
        return Ok(vec![RawRecord {
            text: Cow::Borrowed(detail.get()),
            event: Some(text),
            index: None,
        }]);
    }
    Ok(vec![RawRecord {
        text: Cow::Borrowed(text),
        event: None,
        index: None,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let r = records(r#"{"Records":[{"eventID":"a"},{"eventID":"b"}]}"#).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].text, r#"{"eventID":"b"}"#);
        let r = records(r#"{"Events":[{"EventId":"x","CloudTrailEvent":"{\"eventID\":\"x\"}"}]}"#)
            .unwrap();
        assert_eq!(r[0].text, r#"{"eventID":"x"}"#);
        let ev = r#"{"detail-type":"AWS API Call via CloudTrail","source":"aws.iam","detail":{"eventID":"y"}}"#;
        let r = records(ev).unwrap();
        assert_eq!(r[0].text, r#"{"eventID":"y"}"#);
        assert_eq!(r[0].event, Some(ev));
        let r = records(r#"{"eventID":"z","detail":1}"#).unwrap();
        assert_eq!(
            r[0].event, None,
            "a record with a detail member is not an event"
        );
        assert_eq!(records("[{},{}]").unwrap().len(), 2);
        assert!(records(r#"{"eventID":"#).unwrap_err().contains("EOF"));
        assert!(records("5").is_err());
    }

    #[test]
    fn layouts() {
        assert_eq!(layout(b"\n {\"a\":1}\n{\"a\":2}\n"), Layout::Lines);
        assert_eq!(layout(b"{\"Records\":[]}"), Layout::Lines);
        assert_eq!(layout(b"{\n  \"a\": 1\n}\n"), Layout::Document);
        assert_eq!(layout(b"[{\"a\":1}]"), Layout::Document);
    }

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
