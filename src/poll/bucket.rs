//! An `s3` source's streams: each account and region of the bucket is listed day by day from
//! `StartAfter` its watermark minus `overlap` (never the whole bucket), and every object not
//! read before (by key and ETag) is read as it arrives (gzip inflated as a stream, never held
//! whole; `AT_ONCE` objects of a place at a time), its alerts raised, then marked read, and
//! each batch made durable at once; the watermark is the delivery time of the last file read.
//! A notification from the queue reads its object the same way.
//!
//! Nothing in the bucket may blind a stream: a key whose name gives a time outside its folder's
//! day or in the future is read and said but never moves the watermark; an object that cannot
//! be read (refused by a bucket policy or a KMS key) is set aside in the state, said once, and
//! tried again with a growing wait while the objects after it are read.

use std::io::{BufRead, BufReader};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio_util::io::SyncIoBridge;

use super::found::{Found, NoteKind};
use super::raise::Judge;
use super::reading::{ends_input, read_input, Input};
use super::report::{PollError, PollReport};
use crate::alert::Alert;
use crate::format::stream::{self, Item, Problem};
use crate::source::aws::ApiErrorKind;
use crate::source::s3::{layout, KeyKind, Place, Trail};
use crate::source::SourceSpec;
use crate::state::{ObjectMark, SetAside, State};
use crate::when;

/// What every read of one source shares (owned: objects are read off the async threads).
#[derive(Clone)]
pub(crate) struct Reader {
    pub spec: Arc<SourceSpec>,
    pub trail: Arc<Trail>,
    pub judge: Arc<Judge>,
    pub state: Arc<State>,
    pub stop: Arc<AtomicBool>,
}

/// How one object's reading ended.
#[derive(Debug)]
enum Ending {
    /// Read to its end (or to a problem that reading again cannot cure: it is immutable).
    Done { problem: Option<String> },
    /// The connection broke: read again next time.
    Broken(String),
    /// Told to stop.
    Stopped,
}

/// What reading an object came to.
pub(super) enum Fetched {
    /// Told to stop before its end.
    Stopped,
    /// Read (to its end, or to a problem reading again cannot cure).
    Done {
        etag: String,
        problem: Option<String>,
    },
}

/// How many objects of one place are read at once (their order is kept for the watermark).
const AT_ONCE: usize = 8;

/// A log file of a place this source reads, as its key names it.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub place: Place,
    /// The delivery time in its name.
    pub time: Timestamp,
    /// Why that time cannot be trusted, if it cannot (see `layout::doubt`).
    pub doubt: Option<String>,
}

impl Key {
    /// The time its read mark keeps: its name's, unless that cannot be trusted.
    pub(super) fn mark_time(&self, now: Timestamp) -> Timestamp {
        if self.doubt.is_some() {
            self.time.min(now)
        } else {
            self.time
        }
    }
}

/// True for an error that reading the object again soon cannot cure (it is refused), so that
/// it is set aside rather than holding its stream back.
fn refused(e: &PollError) -> bool {
    matches!(e, PollError::Api(a) if a.kind == ApiErrorKind::Denied || (a.kind == ApiErrorKind::Other && !a.is("NoSuchKey")))
}

/// True when an object is not there (deleted since it was listed or announced).
pub(crate) fn gone(e: &PollError) -> bool {
    matches!(e, PollError::Api(a) if a.is("NoSuchKey"))
}

impl Reader {
    /// What the source's key `key` is, if it is a log file of a place this source reads.
    pub(crate) fn key_of(&self, key: &str, now: Timestamp) -> Option<Key> {
        match layout::parse(&self.trail.bucket.base, key) {
            KeyKind::Log {
                place,
                time,
                folder,
            } if self.trail.wants(&place) => Some(Key {
                doubt: layout::doubt(time, folder, now),
                place,
                time,
            }),
            _ => None,
        }
    }

    /// True when the object was read before (same ETag; `etag` empty: any).
    pub(crate) fn was_read(&self, stream: &str, key: &str, etag: &str) -> Result<bool, PollError> {
        let m = self.state.object_mark(&self.spec.name, stream, key)?;
        Ok(m.is_some_and(|m| etag.is_empty() || m.etag == etag))
    }

    /// Says a key whose name cannot be trusted (read, alerted, but it moves no watermark).
    pub(crate) fn doubted(&self, key: &str, why: &str, rep: &mut PollReport) {
        let obj = format!("s3://{}/{key}", self.trail.bucket.name);
        tracing::warn!(source = %self.spec.name, key, "{obj}: its name is not trusted ({why}): read, but the stream's watermark does not move for it. Someone may be trying to blind trailwatch: check who wrote it");
        rep.suspicious.push((obj, why.to_string()));
    }

    /// Sets an object that cannot be read aside (said and alerted once), so that the objects
    /// after it are read; it is tried again with a growing wait.
    fn set_aside(
        &self,
        stream: &str,
        key: &str,
        k: &Key,
        e: &PollError,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<(), PollError> {
        let obj = format!("s3://{}/{key}", self.trail.bucket.name);
        let first_wait = match &self.spec.kind {
            crate::source::SourceKind::S3 {
                unreadable_retry, ..
            } => *unreadable_retry,
            _ => crate::defaults::UNREADABLE_RETRY,
        };
        let a = SetAside::new(
            when::millis(k.mark_time(now)),
            e.to_string(),
            now,
            first_wait,
        );
        self.state.set_aside(&self.spec.name, stream, key, &a)?;
        tracing::error!(source = %self.spec.name, key, "{obj} cannot be read: {e}. It is set aside and tried again (after {}, then less often); the files after it are read meanwhile (`trailwatch state show` lists it)", humantime::format_duration(first_wait));
        rep.set_aside.push((obj, e.to_string()));
        Ok(())
    }

    /// Tries again the objects of a stream set aside whose wait is over: one that can be read
    /// now is read and alerted; one that is gone is forgotten, loudly.
    async fn retry_aside(
        &self,
        stream: &str,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<(), PollError> {
        let (state, source) = (&self.state, &self.spec.name);
        for (key, mut a) in state.aside(source, stream)? {
            if a.next_ms > when::millis(now) {
                continue;
            }
            let obj = format!("s3://{}/{key}", self.trail.bucket.name);
            let time = when::from_millis(a.time_ms);
            match self.read_object(stream, &key, time, now, rep).await {
                Ok(true) => {
                    state.clear_aside(source, stream, &key)?;
                    state.flush()?;
                    tracing::info!(source = %source, key, "{obj} can be read now: read, after {} tries", a.tries);
                }
                Ok(false) => return Ok(()),
                Err(e) if gone(&e) => {
                    state.clear_aside(source, stream, &key)?;
                    tracing::warn!(source = %source, key, "{obj}, set aside since it could not be read, is gone (NoSuchKey): forgotten; its records were never read");
                }
                Err(e) if refused(&e) => {
                    a.failed_again(e.to_string(), now);
                    state.set_aside(source, stream, &key, &a)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads one object delivered at `time`, raises its alerts and marks it read. `Ok(false)`
    /// when told to stop before its end (it is read again next time).
    pub(crate) async fn read_object(
        &self,
        stream: &str,
        key: &str,
        time: Timestamp,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<bool, PollError> {
        match self.fetch(key, now, None, rep).await? {
            Fetched::Stopped => Ok(false),
            Fetched::Done { etag, problem } => {
                let mark = ObjectMark {
                    etag,
                    time_ms: when::millis(time),
                    problem,
                };
                // Made durable with its batch (`poll_place`), or by the caller.
                self.state
                    .mark_object(&self.spec.name, stream, key, &mark)?;
                rep.windows += 1;
                Ok(true)
            }
        }
    }

    /// Downloads and reads one object: its alerts raised (or put in `collect`, as found).
    pub(super) async fn fetch(
        &self,
        key: &str,
        now: Timestamp,
        collect: Option<Arc<Mutex<Vec<Alert>>>>,
        rep: &mut PollReport,
    ) -> Result<Fetched, PollError> {
        let obj = self.trail.bucket.open(key).await?;
        let etag = obj.etag;
        let body = SyncIoBridge::new(obj.body.into_async_read());
        let me = self.clone();
        let name = format!("s3://{}/{key}", self.trail.bucket.name);
        let (read, r) = tokio::task::spawn_blocking(move || {
            let mut r = PollReport::default();
            let read = me.parse(body, &name, now, collect.as_deref(), &mut r);
            (read, r)
        })
        .await
        .expect("reading an object does not panic");
        rep.absorb(r);
        match read? {
            Ending::Stopped => Ok(Fetched::Stopped),
            Ending::Broken(e) => Err(PollError::Object(format!(
                "s3://{}/{key}: the download broke off: {e} (read again at the next poll)",
                self.trail.bucket.name
            ))),
            Ending::Done { problem } => Ok(Fetched::Done { etag, problem }),
        }
    }

    /// Parses a body (gzip or not) on a blocking thread.
    fn parse(
        &self,
        body: impl std::io::Read,
        name: &str,
        now: Timestamp,
        collect: Option<&Mutex<Vec<Alert>>>,
        rep: &mut PollReport,
    ) -> Result<Ending, PollError> {
        let input = Input {
            source: &self.spec.name,
            name,
            judge: &self.judge,
            state: &self.state,
            collect,
            now,
            stop: &self.stop,
            again: "it is not read again (objects do not change)",
        };
        let limits = self.spec.limits;
        let end = read_input(&input, rep, |w, on| {
            let mut body = BufReader::with_capacity(64 << 10, body);
            let gz = body
                .fill_buf()
                .map_err(|e| format!("{name}: {e}"))?
                .starts_with(&[0x1f, 0x8b]);
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
            if gz {
                let gz = flate2::read::MultiGzDecoder::new(body);
                let gz = BufReader::with_capacity(64 << 10, gz);
                stream::read_witnessed(gz, &limits, start, Some(w), &mut handle);
            } else {
                stream::read_witnessed(body, &limits, start, Some(w), &mut handle);
            }
            Ok(match ended {
                _ if stopped => Ending::Stopped,
                Some(Problem::Read {
                    error,
                    corrupt: false,
                }) => Ending::Broken(error),
                Some(p) => Ending::Done {
                    problem: Some(p.show(name)),
                },
                None => Ending::Done { problem: None },
            })
        })?;
        Ok(end.unwrap_or(Ending::Done { problem: None }))
    }

    /// One poll of one account and region at `now` (AWS's time): the objects set aside that
    /// are due, then the days from the watermark minus `overlap` to now, each listed after
    /// `StartAfter`, every new object read in order (a batch at a time), the watermark moved
    /// past each batch once it is durable.
    pub(crate) async fn poll_place(
        &self,
        place: &Place,
        now: Timestamp,
    ) -> Result<PollReport, PollError> {
        let (spec, state, base) = (&self.spec, &self.state, &self.trail.bucket.base);
        let stream = place.stream();
        let mut rep = PollReport::default();
        self.retry_aside(&stream, now, &mut rep).await?;
        let overlap = when::signed(spec.overlap);
        let start = match state.watermark(&spec.name, &stream)? {
            Some(w) => w - overlap,
            // A place found after the source started is read from the source's start.
            None => state.covered(&spec.name, "")?.unwrap_or(now - overlap),
        };
        state.note_covered(&spec.name, &stream, start)?;
        for day in layout::days(start, now) {
            let prefix = place.day(base, day);
            let after = (day == layout::utc_date(start)).then(|| place.start_after(base, start));
            let mut token = None;
            loop {
                let page = self
                    .trail
                    .bucket
                    .list(&prefix, after.as_deref(), token)
                    .await?;
                rep.pages += 1;
                let mut new = Vec::new();
                for l in &page.keys {
                    let Some(k) = self.key_of(&l.key, now).filter(|k| k.place == *place) else {
                        continue;
                    };
                    if !self.was_read(&stream, &l.key, &l.etag)? {
                        new.push((l.key.clone(), k));
                    }
                }
                if !self.read_objects(&stream, &new, now, &mut rep).await? {
                    return Ok(rep);
                }
                match page.next {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
        if let Some(w) = state.watermark(&spec.name, &stream)? {
            state.forget_objects(
                &spec.name,
                &stream,
                w - overlap - jiff::SignedDuration::from_hours(1),
            )?;
        }
        Ok(rep)
    }

    /// Reads the new objects of one place, `AT_ONCE` at a time (a new read starts as soon as
    /// one ends), and commits them in their order: every `COMMIT_EVERY` objects read in a row,
    /// what they raised and their marks are made durable in one flush and the watermark moves
    /// to the last trusted delivery time among them. An object that is refused is set aside; a
    /// transient failure ends the poll (what was read before it stays read). False when told
    /// to stop.
    async fn read_objects(
        &self,
        stream: &str,
        keys: &[(String, Key)],
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<bool, PollError> {
        let gate = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
        let mut reads = tokio::task::JoinSet::new();
        for (i, (key, k)) in keys.iter().enumerate() {
            let (me, stream, key, time, gate) = (
                self.clone(),
                stream.to_string(),
                key.clone(),
                k.mark_time(now),
                gate.clone(),
            );
            reads.spawn(async move {
                let _permit = gate.acquire().await;
                let mut r = PollReport::default();
                let out = me.read_object(&stream, &key, time, now, &mut r).await;
                (i, out, r)
            });
        }
        let mut done: Vec<Option<Result<bool, PollError>>> =
            (0..keys.len()).map(|_| None).collect();
        let mut commit = Commit::default();
        while let Some(j) = reads.join_next().await {
            let (i, out, r) = j.expect("reading an object does not panic");
            rep.absorb(r);
            done[i] = Some(out);
            while commit.next < keys.len() && done[commit.next].is_some() {
                let out = done[commit.next].take().expect("checked");
                self.settle(stream, &keys[commit.next], out, now, &mut commit, rep)?;
                commit.next += 1;
                if commit.next - commit.flushed >= COMMIT_EVERY || commit.next == keys.len() {
                    self.commit(stream, &mut commit)?;
                }
            }
            if commit.failed.is_some() || commit.stopped {
                reads.abort_all();
                break;
            }
        }
        self.commit(stream, &mut commit)?;
        match commit.failed {
            Some(e) => Err(e),
            None => Ok(!commit.stopped),
        }
    }

    /// Takes one object's outcome, in key order: set aside, skipped or said as it calls for;
    /// the watermark may move to its time once it is durable.
    fn settle(
        &self,
        stream: &str,
        (key, k): &(String, Key),
        out: Result<bool, PollError>,
        now: Timestamp,
        c: &mut Commit,
        rep: &mut PollReport,
    ) -> Result<(), PollError> {
        if c.failed.is_some() || c.stopped {
            return Ok(());
        }
        match out {
            Ok(true) => {}
            Ok(false) => c.stopped = true,
            Err(e) if gone(&e) => {
                tracing::warn!(source = %self.spec.name, key, "s3://{}/{key} was listed but is gone (NoSuchKey): skipped", self.trail.bucket.name);
            }
            Err(e) if refused(&e) => self.set_aside(stream, key, k, &e, now, rep)?,
            Err(e) => c.failed = Some(e),
        }
        if let Some(why) = &k.doubt {
            self.doubted(key, why, rep);
        } else if c.failed.is_none() && !c.stopped {
            c.watermark = Some(c.watermark.map_or(k.time, |w| w.max(k.time)));
        }
        Ok(())
    }

    /// Makes what was read durable (one flush), then moves the watermark past it.
    fn commit(&self, stream: &str, c: &mut Commit) -> Result<(), PollError> {
        if c.next == c.flushed {
            return Ok(());
        }
        self.state.flush()?;
        if let Some(w) = c.watermark.take() {
            self.state.advance_watermark(&self.spec.name, stream, w)?;
        }
        c.flushed = c.next;
        Ok(())
    }
}

/// Objects read in a row are made durable together, this many at a time.
const COMMIT_EVERY: usize = 64;

/// Where the in-order commit of a place's reads is.
#[derive(Default)]
struct Commit {
    /// The next object to take, and the first not yet durable.
    next: usize,
    flushed: usize,
    /// The latest trusted delivery time taken since the last commit.
    watermark: Option<Timestamp>,
    failed: Option<PollError>,
    stopped: bool,
}

/// Reads one object's records into what matched, without the state (`backfill`); returns
/// them and the bytes of JSON read.
pub(crate) async fn found_in_object(
    trail: &Trail,
    spec: &SourceSpec,
    judge: Arc<Judge>,
    key: &str,
) -> Result<(Found, u64), PollError> {
    let obj = trail.bucket.open(key).await?;
    let body = SyncIoBridge::new(obj.body.into_async_read());
    let name = format!("s3://{}/{key}", trail.bucket.name);
    let (limits, source) = (spec.limits, spec.name.clone());
    let read = tokio::task::spawn_blocking(move || {
        let mut found = Found::default();
        let eval = &judge.eval;
        let mut witness = eval.witness();
        let mut body = BufReader::with_capacity(64 << 10, body);
        let gz = match body.fill_buf() {
            Ok(b) => b.starts_with(&[0x1f, 0x8b]),
            Err(e) => return Err(format!("{name}: {e}")),
        };
        let mut broken = None;
        let mut on = |item: Item| {
            match item {
                Item::Piece(p) => found.check_piece(eval, &p, &source, &name),
                Item::Problem(Problem::Read {
                    error,
                    corrupt: false,
                }) => broken = Some(error),
                Item::Problem(p) => found.note(NoteKind::Unread, &name, p.show(&name)),
            }
            true
        };
        let start = stream::Start {
            line: 1,
            lines: None,
        };
        let (bytes, _) = if gz {
            let gz = BufReader::with_capacity(64 << 10, flate2::read::MultiGzDecoder::new(body));
            stream::read_witnessed(gz, &limits, start, Some(&mut witness), &mut on)
        } else {
            stream::read_witnessed(body, &limits, start, Some(&mut witness), &mut on)
        };
        match broken {
            Some(e) => Err(format!("{name}: the download broke off: {e}")),
            None => Ok((found, bytes)),
        }
    })
    .await
    .expect("reading an object does not panic");
    read.map_err(PollError::Object)
}
