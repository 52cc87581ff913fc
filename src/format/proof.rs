//! What an object's bytes prove: the SHA-256 of its content as CloudTrail hashed it (the
//! decompressed bytes of its gzip stream) and whether anything follows that stream. CloudTrail
//! writes each log file as one gzip stream and lists its hash in the hour's digest; bytes after
//! it (another gzip member, appended records) are not CloudTrail's. The records of every member
//! are still read and judged, as they always were: what an attacker appends is seen too.

use std::io::{BufRead, Read};

use aws_lc_rs::digest::{Context, SHA256};
use flate2::bufread::GzDecoder;
use serde::{Deserialize, Serialize};

use super::file::is_gzip;

/// What a body's bytes were, once read to their end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// SHA-256 of the content (the first gzip stream, decompressed), lowercase hex.
    pub sha256: String,
    /// Bytes follow the first gzip stream.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trailing: bool,
}

/// Where the reading is.
enum Stage<R: BufRead> {
    Gzip(Box<GzDecoder<R>>),
    Plain(R),
    /// Taken while the stage changes.
    Between,
}

/// A body's content, inflated member by member when it is gzip, hashed as it is read.
pub(crate) struct Proving<R: BufRead> {
    stage: Stage<R>,
    /// Hashing the first gzip stream (or the plain bytes) until it ends.
    hashing: Option<Context>,
    sha256: Option<String>,
    trailing: bool,
}

impl<R: BufRead> Proving<R> {
    /// Tells gzip by `r`'s first bytes.
    pub(crate) fn new(mut r: R) -> std::io::Result<Proving<R>> {
        let stage = if is_gzip(r.fill_buf()?) {
            Stage::Gzip(Box::new(GzDecoder::new(r)))
        } else {
            Stage::Plain(r)
        };
        Ok(Proving {
            stage,
            hashing: Some(Context::new(&SHA256)),
            sha256: None,
            trailing: false,
        })
    }

    /// The proof, once every byte was read (`None` before the end).
    pub(crate) fn proof(&self) -> Option<Proof> {
        let sha256 = self.sha256.clone()?;
        let done = matches!(&self.stage, Stage::Between);
        done.then_some(Proof {
            sha256,
            trailing: self.trailing,
        })
    }

    fn seal(&mut self) {
        if let Some(h) = self.hashing.take() {
            self.sha256 = Some(hex::encode(h.finish()));
        }
    }
}

impl<R: BufRead> Read for Proving<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = match &mut self.stage {
                Stage::Gzip(d) => d.read(buf)?,
                Stage::Plain(r) => r.read(buf)?,
                Stage::Between => return Ok(0),
            };
            if n > 0 {
                if let Some(h) = &mut self.hashing {
                    h.update(&buf[..n]);
                }
                return Ok(n);
            }
            // A stream ended: the hash is sealed; another gzip member may follow.
            self.seal();
            let Stage::Gzip(d) = std::mem::replace(&mut self.stage, Stage::Between) else {
                return Ok(0);
            };
            let mut rest = d.into_inner();
            if rest.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.trailing = true;
            if !is_gzip(rest.fill_buf()?) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "bytes that are not gzip follow the gzip stream",
                ));
            }
            self.stage = Stage::Gzip(Box::new(GzDecoder::new(rest)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> (Vec<u8>, Option<Proof>, bool) {
        let mut p = Proving::new(bytes).unwrap();
        let mut out = Vec::new();
        let ok = p.read_to_end(&mut out).is_ok();
        (out, p.proof(), ok)
    }

    #[test]
    fn the_first_stream_is_hashed_and_what_follows_it_is_said_and_read() {
        let sha = |b: &[u8]| crate::integrity::digest::sha256_hex(b);
        let (out, proof, ok) = read_all(&gz(b"{\"Records\":[]}"));
        assert!(ok);
        assert_eq!(out, b"{\"Records\":[]}");
        assert_eq!(
            proof,
            Some(Proof {
                sha256: sha(b"{\"Records\":[]}"),
                trailing: false
            })
        );
        // A second member appended: its records are read; the proof says it follows.
        let mut two = gz(b"first");
        two.extend(gz(b"second"));
        let (out, proof, _) = read_all(&two);
        assert_eq!(out, b"firstsecond");
        assert_eq!(
            proof,
            Some(Proof {
                sha256: sha(b"first"),
                trailing: true
            })
        );
        // Garbage appended: an error (the rest cannot be read), and the hash of the stream.
        let mut junk = gz(b"first");
        junk.extend(b"junk");
        let (_, _, ok) = read_all(&junk);
        assert!(!ok);
        // A plain body: all of it.
        assert_eq!(read_all(b"plain").1.unwrap().sha256, sha(b"plain"));
    }
}
