//! The daemon's continuous check of an `s3` source's trail by its signed digests. Each account
//! and region's digests are listed day by day behind a watermark of their own, and each one not
//! checked before is checked in the order of its chain: its signature, its link to the digest
//! before it, and every log file it lists against the hash of the bytes trailwatch read (a log
//! file never read — a lost notification, a listing that did not reach its folder — is read
//! then and judged like any other: the digests make reading complete; one read before without a
//! hash is downloaded again for its hash only). A log file read but listed by no digest an hour
//! after the digest that should have listed it is said too. Every finding goes in the report
//! (the daemon raises each once).

use jiff::{SignedDuration, Timestamp};

use super::super::report::{PollError, PollReport};
use super::digest::{self, Checked};
use super::listing::gone;
use super::object::prove;
use super::reader::Reader;
use crate::integrity::digest::LogFile;
use crate::integrity::finding::FindingKind;
use crate::source::s3::{layout, Chain, KeyKind, Place};
use crate::when;

/// How far behind its watermark a place's digests are listed again (a digest is delivered
/// within minutes of its hour's end, a backfill digest later).
const LOOK_BACK: SignedDuration = SignedDuration::from_hours(2);
/// A log file is due in a digest whose hour ended this long before the newest digest checked.
const LISTED_WITHIN: SignedDuration = SignedDuration::from_hours(2);

/// A digest to check: its key, its chain, the end of its hour.
type Due = (String, Chain, Timestamp);

impl Reader {
    /// The stream under which a place's digests are checked (its watermark, its marks).
    fn digest_stream(place: &Place) -> String {
        format!("{}/digests", place.stream())
    }

    /// One look at a place's digests at `now`: each new one checked in order; the watermark
    /// moves past each once it is durable.
    pub(crate) async fn verify_place(
        &self,
        place: &Place,
        now: Timestamp,
    ) -> Result<PollReport, PollError> {
        let mut rep = PollReport::default();
        if self.trail.keys.is_none() {
            return Ok(rep);
        }
        let stream = Self::digest_stream(place);
        let _turn = self.verifying.take(&stream).await;
        for (key, chain, end) in self.due_digests(place, &stream, now, &mut rep).await? {
            self.verify_digest(&stream, &key, (place, &chain, end), now, &mut rep)
                .await?;
            let mark = crate::state::ObjectMark {
                etag: String::new(),
                time_ms: when::millis(end),
                problem: None,
                proof: None,
                verified: true,
            };
            self.state
                .mark_object(&self.spec.name, &stream, &key, &mark)?;
            self.state.flush()?;
            self.state
                .advance_watermark(&self.spec.name, &stream, end)?;
        }
        self.unlisted(place, &stream, &mut rep)?;
        if let Some(w) = self.state.watermark(&self.spec.name, &stream)? {
            let before = w - LOOK_BACK - SignedDuration::from_hours(24);
            self.state
                .forget_objects(&self.spec.name, &stream, before, None)?;
        }
        Ok(rep)
    }

    /// The digests of `place` not checked yet, oldest first in each chain.
    async fn due_digests(
        &self,
        place: &Place,
        stream: &str,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<Vec<Due>, PollError> {
        let (spec, state, base) = (&self.spec, &self.state, &self.trail.bucket.base);
        let start = match state.watermark(&spec.name, stream)? {
            Some(w) => w - LOOK_BACK,
            None => state.covered(&spec.name, "")?.unwrap_or(now) - LOOK_BACK,
        };
        let mut due = Vec::new();
        for day in layout::days(start, now) {
            let prefix = place.digest_day(base, day);
            let mut token = None;
            loop {
                let page = self.trail.bucket.list(&prefix, None, token).await?;
                rep.pages += 1;
                for l in page.keys {
                    let KeyKind::Digest {
                        place: p,
                        chain,
                        end,
                        ..
                    } = layout::parse(base, &l.key)
                    else {
                        continue;
                    };
                    if p == *place && !self.was_read(stream, &l.key, "")? {
                        due.push((l.key, chain, end));
                    }
                }
                match page.next {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
        due.sort_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
        Ok(due)
    }

    /// Checks one digest and the log files it lists.
    async fn verify_digest(
        &self,
        stream: &str,
        key: &str,
        (place, chain, end): (&Place, &Chain, Timestamp),
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<(), PollError> {
        let keys = self.trail.keys.as_ref().expect("checked by verify_place");
        let Some(c) = digest::check((&self.trail, keys), key, (place, end)).await? else {
            // Gone since it was listed: the next digest's link says so.
            return Ok(());
        };
        rep.findings.extend(c.findings.iter().cloned());
        if !c.trusted() {
            return Ok(());
        }
        let (source, name) = (&self.spec.name, chain.name());
        let last = self.state.chain_link(source, stream, &name)?;
        rep.findings
            .extend(digest::check_link(&self.trail, &c, last.as_ref()).await?);
        let files = c
            .file
            .as_ref()
            .map(|f| f.log_files.clone())
            .unwrap_or_default();
        for lf in &files {
            self.verify_log_file(&c, lf, now, rep).await?;
        }
        if let Some(link) = c.link(now) {
            // Log files read from the first digest verified on are asked to be listed.
            self.state
                .note_covered(source, stream, when::from_millis(link.start_ms))?;
            self.state.set_chain_link(source, stream, &name, &link)?;
        }
        rep.digests += 1;
        tracing::debug!(source = %source, digest = %key, files = files.len(), "digest verified");
        Ok(())
    }

    /// Checks one log file a trusted digest lists against what was read of it (reading it now
    /// when it never was).
    async fn verify_log_file(
        &self,
        c: &Checked,
        lf: &LogFile,
        now: Timestamp,
        rep: &mut PollReport,
    ) -> Result<(), PollError> {
        let key = &lf.s3_object;
        let Some(k) = self
            .key_of(key, now)
            .filter(|_| lf.s3_bucket == self.trail.bucket.name)
        else {
            // Another bucket's, or an account or region this source does not read.
            return Ok(());
        };
        let (source, stream) = (&self.spec.name, k.place.stream());
        let mut mark = self.state.object_mark(source, &stream, key)?;
        if mark.is_none() {
            // Listed, never read: read now, and judged like any other.
            match self.read_object(key, &k, now, rep).await {
                Ok(_) => rep.log_files_read += 1,
                Err(e) if gone(&e) => {
                    rep.findings.push(c.finding(
                        FindingKind::Missing,
                        key,
                        format!(
                            "{} lists it (SHA-256 {}) and it is not in the bucket",
                            c.key, lf.hash_value
                        ),
                    ));
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
            mark = self.state.object_mark(source, &stream, key)?;
        }
        let Some(mut mark) = mark else {
            return Ok(());
        };
        let proof = match mark.proof.clone() {
            Some(p) => Some(p),
            None => prove(&self.trail, key).await?,
        };
        let Some(proof) = proof else {
            rep.findings.push(c.finding(FindingKind::Missing, key, format!(
                "{} lists it and it is no longer in the bucket (it was read before it was deleted)", c.key
            )));
            return Ok(());
        };
        rep.log_files_checked += 1;
        rep.findings.extend(c.compare(lf, &proof));
        mark.verified = true;
        mark.proof = Some(proof);
        self.state.mark_object(source, &stream, key, &mark)?;
        Ok(())
    }

    /// Log files of `place` read since its digests are verified that no digest listed, though
    /// the digests checked reach two hours past them: each said once.
    fn unlisted(&self, place: &Place, stream: &str, rep: &mut PollReport) -> Result<(), PollError> {
        let source = &self.spec.name;
        let (Some(since), Some(newest)) = (
            self.state.covered(source, stream)?,
            self.state.watermark(source, stream)?,
        ) else {
            return Ok(());
        };
        let (since, due) = (when::millis(since), when::millis(newest - LISTED_WITHIN));
        let logs = place.stream();
        for (key, mut m) in self.state.objects_of(source, &logs)? {
            if m.verified || m.time_ms < since || m.time_ms >= due {
                continue;
            }
            rep.findings.push(crate::integrity::finding::Finding {
                kind: FindingKind::NotInDigest,
                key: key.clone(),
                account: place.account.clone(),
                region: place.region.clone(),
                hour: when::from_millis(m.time_ms).to_string(),
                detail: format!(
                    "read at {}, and no digest up to {newest} lists it (written into the bucket by someone other than CloudTrail?)",
                    when::from_millis(m.time_ms)
                ),
            });
            // Judged: said once.
            m.verified = true;
            self.state.mark_object(source, &logs, &key, &m)?;
        }
        Ok(())
    }
}
