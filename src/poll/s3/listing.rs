//! An `s3` source's streams read by listing: each account and region of the bucket is listed
//! day by day from `StartAfter` its watermark minus `overlap` (never the whole bucket), and
//! every object not read before (by key and ETag) is read as it arrives, `AT_ONCE` at a time,
//! its alerts raised, then marked read, each batch made durable at once; the watermark is the
//! delivery time of the last file read. An object that cannot be read (refused by a bucket
//! policy or a KMS key) is set aside in the state, said once, and tried again with a growing
//! wait while the objects after it are read. The day-by-day listing and the ordered reads
//! serve `backfill` too (`keys_between`, `in_order`).

use std::future::Future;
use std::sync::Arc;

use jiff::Timestamp;

use super::super::report::{PollError, PollReport};
use super::reader::{Key, Reader};
use crate::source::aws::{ApiError, ApiErrorKind};
use crate::source::s3::{layout, Bucket, KeyKind, Listed, Place, Trail};
use crate::state::SetAside;
use crate::when;

/// How many objects of one place are read at once (their order is kept for the watermark).
pub(crate) const AT_ONCE: usize = 8;

/// How long a log file's mark waits for a digest to list it.
const DIGEST_PATIENCE: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// Objects read in a row are made durable together, this many at a time.
const COMMIT_EVERY: usize = 64;

/// True for an error that reading the object again soon cannot cure (it is refused), so that
/// it is set aside rather than holding its stream back.
fn refused(e: &PollError) -> bool {
    matches!(e, PollError::Api(a) if a.kind == ApiErrorKind::Denied || (a.kind == ApiErrorKind::Other && !a.is("NoSuchKey")))
}

/// True when an object is not there (deleted since it was listed or announced).
pub(crate) fn gone(e: &PollError) -> bool {
    matches!(e, PollError::Api(a) if a.is("NoSuchKey"))
}

/// The keys of one day of one place, after a `StartAfter`, a page at a time.
struct DayPages<'a> {
    bucket: &'a Bucket,
    prefix: String,
    after: Option<String>,
    token: Option<String>,
    done: bool,
}

impl DayPages<'_> {
    async fn next(&mut self) -> Result<Option<Vec<Listed>>, ApiError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .bucket
            .list(&self.prefix, self.after.as_deref(), self.token.take())
            .await?;
        self.token = page.next;
        self.done = self.token.is_none();
        Ok(Some(page.keys))
    }
}

/// Runs `read` over `items`, `at_once` at a time (a new read starts as soon as one ends), and
/// hands each outcome to `take` in the items' order; `take` returns false to stop (the reads
/// in flight are dropped).
pub(crate) async fn in_order<I, T, F, Fut>(
    items: &[I],
    at_once: usize,
    read: F,
    mut take: impl FnMut(usize, T) -> bool,
) where
    F: Fn(&I) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let gate = Arc::new(tokio::sync::Semaphore::new(at_once));
    let mut reads = tokio::task::JoinSet::new();
    for (i, item) in items.iter().enumerate() {
        let (gate, fut) = (gate.clone(), read(item));
        reads.spawn(async move {
            let _permit = gate.acquire().await;
            (i, fut.await)
        });
    }
    let mut done: std::collections::BTreeMap<usize, T> = Default::default();
    let mut next = 0;
    while let Some(j) = reads.join_next().await {
        let (i, out) = j.expect("a read does not panic");
        done.insert(i, out);
        while let Some(out) = done.remove(&next) {
            next += 1;
            if !take(next - 1, out) {
                reads.abort_all();
                return;
            }
        }
    }
}

/// The log files of `trail` whose names give a delivery time from `since` to `last`, listed
/// day by day for every account and region (`at_once` days at a time), in key order.
pub(crate) async fn keys_between(
    trail: &Arc<Trail>,
    (since, last): (Timestamp, Timestamp),
    at_once: usize,
) -> Result<Vec<Listed>, ApiError> {
    let base = trail.bucket.base.clone();
    let mut days = Vec::new();
    for place in trail.places().await? {
        for day in layout::days(since, last) {
            days.push(place.day(&base, day));
        }
    }
    let mut all = Vec::new();
    let mut failed = None;
    let t = trail.clone();
    let list = move |prefix: &String| {
        let (t, prefix) = (t.clone(), prefix.clone());
        async move {
            let mut pages = DayPages {
                bucket: &t.bucket,
                prefix,
                after: None,
                token: None,
                done: false,
            };
            let mut keys = Vec::new();
            while let Some(page) = pages.next().await? {
                keys.extend(page);
            }
            Ok::<_, ApiError>(keys)
        }
    };
    in_order(&days, at_once, list, |_, keys| match keys {
        Ok(keys) => {
            all.extend(keys);
            true
        }
        Err(e) => {
            failed = Some(e);
            false
        }
    })
    .await;
    if let Some(e) = failed {
        return Err(e);
    }
    all.retain(|k| {
        matches!(layout::parse(&base, &k.key), KeyKind::Log { place, time, .. }
            if trail.wants(&place) && time >= since && time <= last)
    });
    all.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(all)
}

/// Where the in-order commit of a place's reads is.
#[derive(Default)]
struct Commit {
    /// Objects taken, and the first not yet durable.
    taken: usize,
    flushed: usize,
    /// The latest trusted delivery time taken since the last commit.
    watermark: Option<Timestamp>,
    failed: Option<PollError>,
    stopped: bool,
}

impl Reader {
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
            let mut pages = DayPages {
                bucket: &self.trail.bucket,
                prefix: place.day(base, day),
                after: (day == layout::utc_date(start)).then(|| place.start_after(base, start)),
                token: None,
                done: false,
            };
            while let Some(page) = pages.next().await? {
                rep.pages += 1;
                let mut new = Vec::new();
                for l in &page {
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
            }
        }
        if let Some(w) = state.watermark(&spec.name, &stream)? {
            let before = w - overlap - jiff::SignedDuration::from_hours(1);
            // A log file whose digest was not checked yet is kept a day (its digest comes
            // within the hour, a backfill digest later).
            let unchecked = self.trail.keys.as_ref().map(|_| before - DIGEST_PATIENCE);
            state.forget_objects(&spec.name, &stream, before, unchecked)?;
        }
        Ok(rep)
    }

    /// Reads the new objects of one place, `AT_ONCE` at a time, and commits them in their
    /// order: every `COMMIT_EVERY` objects read in a row, what they raised and their marks are
    /// made durable in one flush and the watermark moves to the last trusted delivery time
    /// among them. An object that is refused is set aside; a transient failure ends the poll
    /// (what was read before it stays read). False when told to stop.
    async fn read_objects(
        &self,
        stream: &str,
        keys: &[(String, Key)],
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<bool, PollError> {
        let mut c = Commit::default();
        let mut state_failed = None;
        let read = |(key, k): &(String, Key)| {
            let (me, key, k) = (self.clone(), key.clone(), k.clone());
            async move {
                let mut r = PollReport::default();
                let out = me.read_object(&key, &k, now, &mut r).await;
                (out, r)
            }
        };
        in_order(keys, AT_ONCE, read, |i, (out, r)| {
            rep.absorb(r);
            let settled = self
                .settle(stream, &keys[i], out, now, &mut c, rep)
                .and_then(|()| {
                    c.taken += 1;
                    if c.taken - c.flushed >= COMMIT_EVERY || c.taken == keys.len() {
                        self.commit(stream, &mut c)?;
                    }
                    Ok(())
                });
            if let Err(e) = settled {
                state_failed = Some(e);
            }
            state_failed.is_none() && c.failed.is_none() && !c.stopped
        })
        .await;
        if let Some(e) = state_failed {
            return Err(e);
        }
        self.commit(stream, &mut c)?;
        match c.failed {
            Some(e) => Err(e),
            None => Ok(!c.stopped),
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
        match out {
            Ok(true) => {}
            Ok(false) => c.stopped = true,
            Err(e) if gone(&e) => {
                tracing::warn!(source = %self.spec.name, key, "{} was listed but is gone (NoSuchKey): skipped", self.object_name(key));
            }
            Err(e) if refused(&e) => self.set_aside(stream, key, k, &e, now, rep)?,
            Err(e) => c.failed = Some(e),
        }
        if k.doubt.is_none() && c.failed.is_none() && !c.stopped {
            c.watermark = Some(c.watermark.map_or(k.time, |w| w.max(k.time)));
        }
        Ok(())
    }

    /// Makes what was read durable (one flush), then moves the watermark past it.
    fn commit(&self, stream: &str, c: &mut Commit) -> Result<(), PollError> {
        if c.taken == c.flushed {
            return Ok(());
        }
        self.state.flush()?;
        if let Some(w) = c.watermark.take() {
            self.state.advance_watermark(&self.spec.name, stream, w)?;
        }
        c.flushed = c.taken;
        Ok(())
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
        let obj = self.object_name(key);
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
            let obj = self.object_name(&key);
            let Some(k) = self.key_of(&key, now) else {
                state.clear_aside(source, stream, &key)?;
                tracing::warn!(source = %source, key, "{obj}, set aside since it could not be read, is no longer one of this source's logs (was the configuration changed?): forgotten");
                continue;
            };
            // Marked with the time it was set aside with.
            let k = Key {
                time: when::from_millis(a.time_ms),
                ..k
            };
            match self.read_object(&key, &k, now, rep).await {
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
}
