//! An `s3` source's streams: each account and region of the bucket is listed day by day from
//! `StartAfter` its watermark minus `overlap` (never the whole bucket), and every object not
//! read before (by key and ETag) is read as it arrives (gzip inflated as a stream, never held
//! whole), its alerts raised, then marked read; the watermark is the delivery time of the last
//! file read. A notification from the queue reads its object the same way.

use std::io::{BufRead, BufReader};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use jiff::Timestamp;
use tokio_util::io::SyncIoBridge;

use super::found::{Found, NoteKind};
use super::raise::Judge;
use super::reading::{ends_input, read_input, Input};
use super::report::{PollError, PollReport};
use crate::format::stream::{self, Item, Problem};
use crate::source::s3::{layout, KeyKind, Place, Trail};
use crate::source::SourceSpec;
use crate::state::{ObjectMark, State};
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

impl Reader {
    /// The stream key of the place the source's key `key` belongs to, if it is a log file of a
    /// place this source reads.
    pub(crate) fn place_of(&self, key: &str) -> Option<(Place, Timestamp)> {
        match layout::parse(&self.trail.bucket.base, key) {
            KeyKind::Log { place, time } if self.trail.wants(&place) => Some((place, time)),
            _ => None,
        }
    }

    /// True when the object was read before (same ETag; `etag` empty: any).
    pub(crate) fn was_read(&self, stream: &str, key: &str, etag: &str) -> Result<bool, PollError> {
        let m = self.state.object_mark(&self.spec.name, stream, key)?;
        Ok(m.is_some_and(|m| etag.is_empty() || m.etag == etag))
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
        let obj = self.trail.bucket.open(key).await?;
        let body = SyncIoBridge::new(obj.body.into_async_read());
        let me = self.clone();
        let name = format!("s3://{}/{key}", self.trail.bucket.name);
        let (read, r) = tokio::task::spawn_blocking(move || {
            let mut r = PollReport::default();
            let read = me.parse(body, &name, now, &mut r);
            (read, r)
        })
        .await
        .expect("reading an object does not panic");
        rep.absorb(r);
        match read? {
            Ending::Stopped => Ok(false),
            Ending::Broken(e) => Err(PollError::Object(format!(
                "s3://{}/{key}: the download broke off: {e} (read again at the next poll)",
                self.trail.bucket.name
            ))),
            Ending::Done { problem } => {
                let mark = ObjectMark {
                    etag: obj.etag,
                    time_ms: when::millis(time),
                    problem,
                };
                self.state
                    .mark_object(&self.spec.name, stream, key, &mark)?;
                self.state.flush()?;
                rep.windows += 1;
                Ok(true)
            }
        }
    }

    /// Parses a body (gzip or not) on a blocking thread.
    fn parse(
        &self,
        body: impl std::io::Read,
        name: &str,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<Ending, PollError> {
        let input = Input {
            source: &self.spec.name,
            name,
            judge: &self.judge,
            state: &self.state,
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

    /// One poll of one account and region at `now` (AWS's time): the days from the watermark
    /// minus `overlap` to now, each listed after `StartAfter`, every new object read in order,
    /// the watermark moved past each.
    pub(crate) async fn poll_place(
        &self,
        place: &Place,
        now: Timestamp,
    ) -> Result<PollReport, PollError> {
        let (spec, state, base) = (&self.spec, &self.state, &self.trail.bucket.base);
        let stream = place.stream();
        let mut rep = PollReport::default();
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
                for k in &page.keys {
                    let Some((p, time)) = self.place_of(&k.key) else {
                        continue;
                    };
                    if p != *place {
                        continue;
                    }
                    if !self.was_read(&stream, &k.key, &k.etag)?
                        && !self
                            .read_object(&stream, &k.key, time, now, &mut rep)
                            .await?
                    {
                        return Ok(rep);
                    }
                    state.advance_watermark(&spec.name, &stream, time)?;
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
