//! One S3 object read: downloaded as a stream (never held whole), inflated when it is gzip
//! (`format::Body`), read record by record off the async threads, its matches disposed of as
//! the reader says (`Disposal`). What each reader (the listing, the queue, a standby, a
//! backfill) does with the object afterwards is its own.

use std::io::BufReader;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio_util::io::SyncIoBridge;

use super::super::raise::Judge;
use super::super::reading::{ends_input, read_input, Disposal, Input};
use super::super::report::{PollError, PollReport};
use crate::alert::Alert;
use crate::format::stream::Limits;
use crate::format::stream::{self, Item, Problem};
use crate::format::{Proof, Proving};
use crate::source::s3::Trail;
use crate::state::State;

/// One object read: what it holds and how the reading ended. Handed from a standby to the
/// holder as it is (its serialized form is what the table carries).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ObjectRead {
    pub key: String,
    pub etag: String,
    /// What could not be read of it (the object is not read again: it does not change).
    pub problem: Option<String>,
    /// Its matches as found (empty when they were raised as it was read).
    pub alerts: Vec<Alert>,
    /// Bytes of JSON read (inflated).
    #[serde(skip)]
    pub bytes: u64,
    /// Its content's hash, when it was read to its end (what its digest is checked against).
    #[serde(default)]
    pub proof: Option<Proof>,
}

impl ObjectRead {
    /// What its read mark keeps of it.
    pub(crate) fn seen(&self) -> Seen {
        Seen {
            etag: self.etag.clone(),
            problem: self.problem.clone(),
            proof: self.proof.clone(),
        }
    }
}

/// What is kept of an object read: its ETag, what could not be read of it, its content's hash.
pub(crate) struct Seen {
    pub etag: String,
    pub problem: Option<String>,
    pub proof: Option<Proof>,
}

/// What reading an object came to.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// Told to stop before its end (it is read again next time).
    Stopped,
    /// Read to its end, or to a problem that reading again cannot cure.
    Done(ObjectRead),
}

/// The buffer an object is read through.
const BUFFER: usize = 64 << 10;

/// Everything one read of an object needs.
pub(crate) struct Fetch<'a> {
    pub trail: &'a Trail,
    pub source: &'a str,
    pub limits: Limits,
    pub judge: &'a Arc<Judge>,
    /// Where `Disposal::Raise` raises.
    pub state: Option<&'a Arc<State>>,
    pub disposal: Disposal,
    pub stop: &'a Arc<AtomicBool>,
}

/// How one object's reading ended.
enum Ending {
    Done {
        problem: Option<String>,
        bytes: u64,
        proof: Option<Proof>,
    },
    /// The connection broke: read again next time.
    Broken(String),
    Stopped,
}

impl Fetch<'_> {
    /// Downloads and reads object `key` at `now`.
    pub(crate) async fn object(
        &self,
        key: &str,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<Fetched, PollError> {
        let obj = self.trail.bucket.open(key).await?;
        let body = SyncIoBridge::new(obj.body.into_async_read());
        let name = format!("s3://{}/{key}", self.trail.bucket.name);
        let (source, limits, disposal) = (self.source.to_string(), self.limits, self.disposal);
        let (judge, state, stop) = (self.judge.clone(), self.state.cloned(), self.stop.clone());
        let n = name.clone();
        let (read, r) = tokio::task::spawn_blocking(move || {
            let mut r = PollReport::default();
            let input = Input {
                source: &source,
                name: &n,
                judge: &judge,
                state: state.as_deref(),
                // An object's alerts are made durable with its read mark, by the caller.
                disposal: match disposal {
                    Disposal::Raise => Disposal::Stage,
                    d => d,
                },
                now,
                stop: &stop,
                again: "it is not read again (objects do not change)",
            };
            let read = read_input(&input, &mut r, |w, on| parse(body, &n, &limits, w, on));
            (read, r)
        })
        .await
        .expect("reading an object does not panic");
        rep.absorb(r);
        let Some(read) = read? else {
            // The body could not be read from its first byte: as a broken download.
            return Err(PollError::Object(format!(
                "{name}: the download broke off before its first byte (read again at the next poll)"
            )));
        };
        match read.end {
            Ending::Stopped => Ok(Fetched::Stopped),
            Ending::Broken(e) => Err(PollError::Object(format!(
                "{name}: the download broke off: {e} (read again at the next poll)"
            ))),
            Ending::Done {
                problem,
                bytes,
                proof,
            } => Ok(Fetched::Done(ObjectRead {
                key: key.to_string(),
                etag: obj.etag,
                proof,
                problem,
                alerts: read.kept,
                bytes,
            })),
        }
    }
}

/// Reads a body (gzip or not) on a blocking thread, handing each item to `on`.
fn parse(
    body: impl std::io::Read,
    name: &str,
    limits: &Limits,
    w: &mut dyn stream::Witness,
    on: &mut dyn FnMut(Item) -> bool,
) -> Result<Ending, String> {
    let proving =
        Proving::new(BufReader::with_capacity(BUFFER, body)).map_err(|e| format!("{name}: {e}"))?;
    let mut body = BufReader::with_capacity(BUFFER, proving);
    let mut ended: Option<Problem> = None;
    let mut stopped = false;
    let mut handle = |item: Item| {
        if let Item::Problem(p) = &item {
            if ends_input(p) {
                ended.get_or_insert_with(|| p.clone());
            }
        }
        let go = on(item);
        stopped |= !go;
        go
    };
    let start = stream::Start {
        line: 1,
        lines: None,
    };
    let (bytes, _) = stream::read_witnessed(&mut body, limits, start, Some(w), &mut handle);
    // Read to its end without a problem: what its bytes prove is known.
    let proof = (ended.is_none() && !stopped)
        .then(|| body.get_ref().proof())
        .flatten();
    Ok(match ended {
        _ if stopped => Ending::Stopped,
        Some(Problem::Read {
            error,
            corrupt: false,
        }) => Ending::Broken(error),
        Some(p) => Ending::Done {
            problem: Some(p.show(name)),
            bytes,
            proof,
        },
        None => Ending::Done {
            problem: None,
            bytes,
            proof,
        },
    })
}

/// What object `key`'s bytes prove, read to their end and judged by nothing (a digest's log
/// file read before without its hash). `None`: it is not there.
pub(crate) async fn prove(trail: &Trail, key: &str) -> Result<Option<Proof>, PollError> {
    let obj = match trail.bucket.open(key).await {
        Ok(o) => o,
        Err(e) if e.is("NoSuchKey") => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let body = SyncIoBridge::new(obj.body.into_async_read());
    let name = format!("s3://{}/{key}", trail.bucket.name);
    tokio::task::spawn_blocking(move || {
        let mut p = Proving::new(BufReader::with_capacity(BUFFER, body))
            .map_err(|e| PollError::Object(format!("{name}: {e}")))?;
        match std::io::copy(&mut p, &mut std::io::sink()) {
            Ok(_) => Ok(p.proof()),
            // Bytes after the gzip stream that are not gzip: said as such, with its hash.
            Err(_) if p.proof().is_some() => Ok(p.proof()),
            Err(e) => Err(PollError::Object(format!(
                "{name}: the download broke off: {e}"
            ))),
        }
    })
    .await
    .expect("hashing an object does not panic")
}
