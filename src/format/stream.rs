//! CloudTrail records read from a byte stream one at a time, with memory bounded by one record,
//! whatever the input holds: delivery files (`{"Records":[…]}`, streamed element by element),
//! JSON Lines, pretty-printed records, arrays, EventBridge events and `lookup-events` output.
//!
//! Hostile or broken input ends in a record or in a located `Problem`, never in silence:
//! - a record longer than `max_record` is reduced, not dropped: its members longer than
//!   `max_value` are replaced by a note saying what was there, so its other fields are still
//!   judged by the rules; a [`Witness`] may look at every byte of it meanwhile (the rules'
//!   literals in what was elided make a possible match);
//! - containers nested deeper than `max_depth` are replaced the same way (JSON parsers refuse
//!   deep nesting, and an attacker chooses the depth of their own request parameters);
//! - a byte-order mark is skipped; invalid UTF-8 is replaced, and said;
//! - input beyond `max_input` bytes is not read (a decompression bomb), loudly;
//! - a line of JSON Lines that ends inside its value is reported and the next line is read; a
//!   document that ends inside a value is reported as incomplete.

use std::io::{BufRead, ErrorKind, Read};

/// How much of an input is read, and how big a record may be before it is reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes read from one input at most (after decompression).
    pub max_input: u64,
    /// A record longer than this is reduced.
    pub max_record: usize,
    /// In a reduced record, members longer than this are replaced by a note.
    pub max_value: usize,
    /// Containers nested deeper than this (inside a record) are replaced by a note.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input: 1 << 30,
            max_record: 1 << 20,
            max_value: 64 << 10,
            max_depth: 100,
        }
    }
}

/// Where a piece or problem is: the line its value starts on, and its index in a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub line: u64,
    pub index: Option<usize>,
}

impl Place {
    /// `name:line` or `name:line[index]`.
    pub fn show(&self, name: &str) -> String {
        match self.index {
            Some(i) => format!("{name}:{}[{i}]", self.line),
            None => format!("{name}:{}", self.line),
        }
    }
}

/// What was changed in a record so that it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Members were replaced because the record was longer than `max_record` bytes.
    Reduced { bytes: u64 },
    /// Containers nested deeper than the limit were replaced.
    TooDeep,
    /// Invalid UTF-8 bytes were replaced by U+FFFD.
    InvalidUtf8,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::Reduced { bytes } => write!(
                f,
                "the record is {bytes} bytes long: its longest members were replaced by a note"
            ),
            Note::TooDeep => f.write_str("values nested too deep were replaced by a note"),
            Note::InvalidUtf8 => f.write_str("invalid UTF-8 bytes were replaced by U+FFFD"),
        }
    }
}

/// One record (or top-level value), as text.
#[derive(Debug, Clone)]
pub struct Piece {
    pub text: String,
    pub place: Place,
    /// True for an element of a container (`Records`, `Events`, an array): a record for sure;
    /// false for a top-level value, which may still be an EventBridge event around a record.
    pub element: bool,
    pub notes: Vec<Note>,
    /// For a reduced record: what the witness found in all of its bytes, elided ones included.
    pub witnessed: Option<Vec<usize>>,
}

/// Looks at every byte of a record that is reduced, the elided ones too, so that the caller
/// learns what was in them without anything being kept; its verdict is kept in the piece.
pub trait Witness {
    /// The next bytes of the record.
    fn feed(&mut self, bytes: &[u8]);
    /// What was found in the record fed since the last verdict (and a fresh start).
    fn verdict(&mut self) -> Vec<usize>;
}

/// A reader that hands what is consumed from it to a witness, in chunks.
struct Tee<'a, 'w, R> {
    inner: R,
    witness: &'a mut (dyn Witness + 'w),
    pending: Vec<u8>,
}

impl<R: BufRead> Tee<'_, '_, R> {
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.witness.feed(&self.pending);
            self.pending.clear();
        }
    }
}

impl<R: BufRead> Read for Tee<'_, '_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let b = self.fill_buf()?;
            let n = b.len().min(out.len());
            out[..n].copy_from_slice(&b[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tee<'_, '_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(b) = self.inner.fill_buf() {
            let n = amt.min(b.len());
            self.pending.extend_from_slice(&b[..n]);
        }
        self.inner.consume(amt);
        if self.pending.len() >= 64 << 10 {
            self.flush();
        }
    }
}

/// Why a part of the input could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not JSON where a value should start.
    NotJson { line: u64 },
    /// A line of JSON Lines ends inside its value (truncated, or broken): skipped.
    BrokenLine { line: u64 },
    /// The input ends inside a value: incomplete (still being written?).
    Incomplete { line: u64 },
    /// Brackets that do not match: the rest of a document is unread.
    Malformed { line: u64, what: &'static str },
    /// The input is longer than `max_input` (a decompression bomb?): the rest is unread.
    TooLong { limit: u64 },
    /// A record so large that even reduced it is longer than twice `max_record`: skipped.
    Oversized { line: u64, bytes: u64 },
    /// Reading failed (an I/O or decompression error): the rest is unread. `corrupt`: the
    /// data itself is bad (a broken or truncated gzip stream), not the way to it.
    Read { error: String, corrupt: bool },
    /// Nothing at all (0 bytes, or only blanks): not a CloudTrail file.
    Empty,
}

impl Problem {
    /// The problem described, with the input's name.
    pub fn show(&self, name: &str) -> String {
        match self {
            Problem::NotJson { line } => format!("{name}:{line}: not JSON, skipped"),
            Problem::BrokenLine { line } => {
                format!("{name}:{line}: malformed record (the line ends inside it), skipped")
            }
            Problem::Incomplete { line } => format!(
                "{name}:{line}: the input ends inside a value (incomplete: still being written, or truncated)"
            ),
            Problem::Malformed { line, what } => {
                format!("{name}:{line}: malformed JSON ({what}), rest of input skipped")
            }
            Problem::TooLong { limit } => format!(
                "{name}: longer than {limit} bytes once decompressed (a decompression bomb?): read up to there, the rest is NOT read"
            ),
            Problem::Oversized { line, bytes } => format!(
                "{name}:{line}: a record of over {bytes} bytes that cannot be reduced (too many members), skipped"
            ),
            Problem::Read { error, .. } => format!("{name}: cannot be read to the end: {error}"),
            Problem::Empty => format!("{name}: empty (no JSON at all): not a CloudTrail file"),
        }
    }

    /// True when the input may still be being written (worth reading again when it changes).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Problem::Incomplete { .. })
    }
}

/// What the reader hands on.
#[derive(Debug)]
pub enum Item {
    Piece(Piece),
    Problem(Problem),
    /// Records read and passed by: nothing the caller searches for is in them (`format::lines`).
    Passed(u64),
}

/// A byte source with its position, line and input limit.
struct Src<R> {
    r: R,
    read: u64,
    line: u64,
    limit: u64,
    /// Set once the limit was hit or reading failed: the source then looks empty.
    failed: Option<Problem>,
}

impl<R: BufRead> Src<R> {
    fn peek(&mut self) -> Option<u8> {
        if self.failed.is_some() {
            return None;
        }
        if self.read >= self.limit {
            self.failed = Some(Problem::TooLong { limit: self.limit });
            return None;
        }
        loop {
            match self.r.fill_buf() {
                Ok(b) => return b.first().copied(),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failed = Some(Problem::Read {
                        corrupt: matches!(
                            e.kind(),
                            ErrorKind::InvalidData
                                | ErrorKind::InvalidInput
                                | ErrorKind::UnexpectedEof
                        ),
                        error: e.to_string(),
                    });
                    return None;
                }
            }
        }
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.r.consume(1);
        self.read += 1;
        if b == b'\n' {
            self.line += 1;
        }
        Some(b)
    }

    /// Consumes the bytes before the next `"`, `\\` or newline in what is buffered, at most
    /// `room` of them, copying them to `out`; returns how many.
    fn run(&mut self, room: usize, out: Option<&mut Vec<u8>>) -> usize {
        if self.failed.is_some() || self.read >= self.limit {
            return 0;
        }
        let Ok(buf) = self.r.fill_buf() else {
            return 0;
        };
        let left = usize::try_from(self.limit - self.read).unwrap_or(usize::MAX);
        let buf = &buf[..buf.len().min(room).min(left)];
        let n = memchr::memchr3(b'"', b'\\', b'\n', buf).unwrap_or(buf.len());
        if let Some(out) = out {
            out.extend_from_slice(&buf[..n]);
        }
        self.r.consume(n);
        self.read += n as u64;
        n
    }

    /// Skips whitespace; false when a raw newline was among it.
    fn skip_ws(&mut self) -> bool {
        let mut same_line = true;
        while let Some(b) = self.peek() {
            match b {
                b'\n' => same_line = false,
                b' ' | b'\t' | b'\r' => {}
                _ => break,
            }
            self.bump();
        }
        same_line
    }

    /// Skips to the start of the next line.
    fn skip_line(&mut self) {
        while let Some(b) = self.bump() {
            if b == b'\n' {
                break;
            }
        }
    }
}

/// Why copying a value stopped before its end.
#[derive(Debug)]
enum Stop {
    /// Longer than the bound, with `OnLong::Stop` (what was copied is in the output).
    Long,
    /// A raw newline inside it, reading JSON Lines (the newline is consumed).
    Newline,
    Eof,
    Mismatch(&'static str),
}

/// What `copy` does with a value longer than its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnLong {
    /// Stop where the bound is reached (the caller reads the record again, reducing it).
    Stop,
    /// Consume the rest without keeping it; the caller puts a note in its place.
    Drop,
}

/// How a record was read.
#[derive(Debug)]
enum Got {
    Whole(Vec<u8>),
    /// Too long: read again from its start, its longest members replaced by notes (and the
    /// witness's verdict on all of it).
    Reduced(Vec<u8>, Option<Vec<usize>>),
    /// Too long, and not an object that could be reduced: skipped (its length).
    Dropped(u64),
}

/// Where a copy of one value is.
struct Copying {
    /// Where the value starts in `out`, and in the input.
    start: usize,
    from: u64,
    depth: usize,
    /// While a too-deep container is skipped: the depth it opened at.
    deep: Option<usize>,
    /// False once the value was found too long and dropped.
    keep: bool,
    in_str: bool,
    esc: bool,
}

impl Copying {
    /// True while what is read goes to the output.
    fn emits(&self) -> bool {
        self.keep && self.deep.is_none()
    }

    /// How the copy ended, at input offset `read`.
    fn done(&self, read: u64) -> Copied {
        if self.keep {
            Copied::Whole
        } else {
            Copied::Dropped(read - self.from)
        }
    }
}

/// What comes next in an object being read.
enum Next {
    /// A member's name (as JSON text), its `:` read.
    Name(Vec<u8>),
    /// The object's end.
    End,
    /// Reading stopped: what to return.
    Return(bool),
}

/// How `copy` ended.
#[derive(Debug, PartialEq, Eq)]
enum Copied {
    Whole,
    /// Longer than the bound and dropped: its length in bytes.
    Dropped(u64),
}

const TOO_DEEP: &[u8] = b"\"(trailwatch: nested too deep, elided)\"";

/// Reads values with the limits; `lines`: a raw newline ends a value (JSON Lines).
struct Reader<'l> {
    limits: &'l Limits,
    lines: bool,
    notes: Vec<Note>,
}

impl Reader<'_> {
    /// Copies the next value into `out`, at most `max` bytes of it (see `OnLong`), replacing
    /// containers nested deeper than the limit by a note.
    fn copy<R: BufRead>(
        &mut self,
        src: &mut Src<R>,
        out: &mut Vec<u8>,
        max: usize,
        on_long: OnLong,
    ) -> Result<Copied, Stop> {
        let mut c = Copying {
            start: out.len(),
            from: src.read,
            depth: 0,
            deep: None,
            keep: true,
            in_str: false,
            esc: false,
        };
        loop {
            if c.keep && out.len() - c.start >= max {
                match on_long {
                    OnLong::Stop => return Err(Stop::Long),
                    OnLong::Drop => {
                        out.truncate(c.start);
                        c.keep = false;
                    }
                }
            }
            if c.in_str && !c.esc {
                // The plain run of a string, at once (most of CloudTrail's bytes).
                let room = if c.keep {
                    max - (out.len() - c.start)
                } else {
                    usize::MAX
                };
                let emit = c.keep && c.deep.is_none();
                if src.run(room, emit.then_some(&mut *out)) > 0 {
                    continue;
                }
            }
            let Some(b) = src.peek() else {
                return Err(Stop::Eof);
            };
            if !c.in_str && c.depth == 0 && src.read > c.from && is_delimiter(b) {
                return Ok(c.done(src.read));
            }
            src.bump();
            let ended = if c.in_str {
                self.string_byte(&mut c, b, out)?
            } else {
                self.structural_byte(&mut c, b, out)?
            };
            if ended {
                return Ok(c.done(src.read));
            }
        }
    }

    /// One byte inside a string (escapes included); true when it ends a top-level string.
    fn string_byte(&self, c: &mut Copying, b: u8, out: &mut Vec<u8>) -> Result<bool, Stop> {
        if b == b'\n' && self.lines {
            return Err(Stop::Newline);
        }
        if c.emits() {
            out.push(b);
        }
        if c.esc {
            c.esc = false;
        } else if b == b'\\' {
            c.esc = true;
        } else if b == b'"' {
            c.in_str = false;
            return Ok(c.depth == 0);
        }
        Ok(false)
    }

    /// One byte outside strings: brackets open and close (a value nested too deep is replaced
    /// by a note); true when it ends the top-level value.
    fn structural_byte(&mut self, c: &mut Copying, b: u8, out: &mut Vec<u8>) -> Result<bool, Stop> {
        let emit = c.emits();
        match b {
            b'"' => c.in_str = true,
            b'{' | b'[' => {
                c.depth += 1;
                if c.deep.is_none() && c.depth > self.limits.max_depth {
                    c.deep = Some(c.depth);
                    if !self.notes.contains(&Note::TooDeep) {
                        self.notes.push(Note::TooDeep);
                    }
                    return Ok(false);
                }
            }
            b'}' | b']' => {
                if c.depth == 0 {
                    return Err(Stop::Mismatch("a closing bracket with nothing open"));
                }
                c.depth -= 1;
                if c.deep == Some(c.depth + 1) {
                    c.deep = None;
                    if c.keep {
                        out.extend_from_slice(TOO_DEEP);
                    }
                    return Ok(false);
                }
                if emit {
                    out.push(b);
                }
                return Ok(c.depth == 0);
            }
            b'\n' if self.lines => return Err(Stop::Newline),
            _ => {}
        }
        if emit {
            out.push(b);
        }
        Ok(false)
    }

    /// Copies an object member by member into `out`, replacing members longer than
    /// `max_value` by a note: the reduced form of a record too long to keep whole.
    fn reduce<R: BufRead>(&mut self, src: &mut Src<R>, out: &mut Vec<u8>) -> Result<(), Stop> {
        let from = src.read;
        if src.bump() != Some(b'{') {
            return Err(Stop::Mismatch("a record that is not an object"));
        }
        out.push(b'{');
        let mut first = true;
        loop {
            self.ws(src)?;
            match src.peek() {
                None => return Err(Stop::Eof),
                Some(b'}') => {
                    src.bump();
                    out.push(b'}');
                    self.notes.push(Note::Reduced {
                        bytes: src.read - from,
                    });
                    return Ok(());
                }
                Some(b',') => {
                    src.bump();
                    continue;
                }
                Some(_) => {}
            }
            if out.len() > 2 * self.limits.max_record {
                // Too many members even reduced: the rest is consumed, the record skipped.
                loop {
                    self.copy(src, &mut Vec::new(), 0, OnLong::Drop)?;
                    self.ws(src)?;
                    match src.bump() {
                        Some(b'}') => return Err(Stop::Long),
                        Some(b',' | b':') => self.ws(src)?,
                        _ => return Err(Stop::Eof),
                    }
                }
            }
            if !first {
                out.push(b',');
            }
            first = false;
            self.member(src, out, 1024)?;
            self.ws(src)?;
            if src.bump() != Some(b':') {
                return Err(Stop::Mismatch("a name without a value"));
            }
            out.push(b':');
            self.ws(src)?;
            self.member(src, out, self.limits.max_value)?;
        }
    }

    /// Copies one member's name or value, or a note in its place when longer than `max`.
    fn member<R: BufRead>(
        &mut self,
        src: &mut Src<R>,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), Stop> {
        if let Copied::Dropped(n) = self.copy(src, out, max, OnLong::Drop)? {
            let note = format!("\"(trailwatch: a value of {n} bytes, elided)\"");
            out.extend_from_slice(note.as_bytes());
        }
        Ok(())
    }

    /// Skips whitespace between members (a raw newline ends a line's value in JSON Lines).
    fn ws<R: BufRead>(&mut self, src: &mut Src<R>) -> Result<(), Stop> {
        while let Some(b) = src.peek() {
            match b {
                b'\n' if self.lines => {
                    src.bump();
                    return Err(Stop::Newline);
                }
                b' ' | b'\t' | b'\r' | b'\n' => {
                    src.bump();
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// Reads one record: whole when it fits in `max_record`, else again from its start,
    /// reduced (an object) or skipped (anything else). `prefix`: bytes of it already read (an
    /// object's first members).
    fn record<R: BufRead>(
        &mut self,
        src: &mut Src<R>,
        mut prefix: Vec<u8>,
        witness: Option<&mut (dyn Witness + '_)>,
    ) -> Result<Got, Stop> {
        let budget = self.limits.max_record.saturating_sub(prefix.len()).max(1);
        match self.copy(src, &mut prefix, budget, OnLong::Stop) {
            Ok(_) => return Ok(Got::Whole(prefix)),
            Err(Stop::Long) => {}
            Err(e) => return Err(e),
        }
        // Read it again from its start: what was copied, then the rest of the input.
        let object = prefix.first() == Some(&b'{');
        let lines_before = prefix.iter().filter(|b| **b == b'\n').count() as u64;
        let from = src.read - prefix.len() as u64;
        let (got, read, line, failed) = match witness {
            Some(w) if object => {
                let mut again = Src {
                    r: Tee {
                        inner: (&prefix[..]).chain(&mut src.r),
                        witness: w,
                        pending: Vec::new(),
                    },
                    read: from,
                    line: 0,
                    limit: src.limit,
                    failed: None,
                };
                let mut out = Vec::new();
                let got = self.reduce(&mut again, &mut out);
                again.r.flush();
                let verdict = again.r.witness.verdict();
                let got = got.map(|_| Got::Reduced(out, Some(verdict)));
                (got, again.read, again.line, again.failed)
            }
            _ => {
                let mut again = Src {
                    r: (&prefix[..]).chain(&mut src.r),
                    read: from,
                    line: 0,
                    limit: src.limit,
                    failed: None,
                };
                let mut out = Vec::new();
                let got = if object {
                    self.reduce(&mut again, &mut out)
                        .map(|_| Got::Reduced(out, None))
                } else {
                    self.copy(&mut again, &mut out, 0, OnLong::Drop)
                        .map(|_| Got::Dropped(again.read - from))
                };
                (got, again.read, again.line, again.failed)
            }
        };
        src.read = read;
        src.line += line.saturating_sub(lines_before);
        if let Some(f) = failed {
            src.failed.get_or_insert(f);
        }
        got
    }
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b'}' | b']' | b':')
}

/// Hands on a record's bytes as text (invalid UTF-8 replaced, and said).
fn piece(
    bytes: Vec<u8>,
    place: Place,
    element: bool,
    mut notes: Vec<Note>,
    witnessed: Option<Vec<usize>>,
) -> Piece {
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            notes.push(Note::InvalidUtf8);
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    };
    Piece {
        text,
        place,
        element,
        notes,
        witnessed,
    }
}

/// The `CloudTrailEvent` of an element of a `lookup-events` answer.
fn lookup_record(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(rename = "CloudTrailEvent")]
        e: String,
    }
    serde_json::from_str::<E>(text).ok().map(|x| x.e)
}

/// The reader of one input.
struct Walk<'l, 'w, R, F> {
    src: Src<R>,
    limits: &'l Limits,
    witness: Option<&'w mut dyn Witness>,
    /// JSON Lines (a raw newline ends a value) or a document.
    lines: bool,
    on: F,
    /// Notes of the top-level object being read.
    notes_so_far: Vec<Note>,
}

impl<'l, R: BufRead, F: FnMut(Item) -> bool> Walk<'l, '_, R, F> {
    fn reader(&self) -> Reader<'l> {
        Reader {
            limits: self.limits,
            lines: self.lines,
            notes: Vec::new(),
        }
    }

    /// Reports why a value stopped; returns false when reading must stop.
    fn stopped(&mut self, stop: Stop, line: u64) -> bool {
        let p = match stop {
            Stop::Newline => Problem::BrokenLine { line },
            Stop::Eof if self.src.failed.is_some() => return false,
            Stop::Eof => Problem::Incomplete { line },
            Stop::Mismatch(_) if self.lines => {
                self.src.skip_line();
                Problem::BrokenLine { line }
            }
            Stop::Mismatch(what) => Problem::Malformed { line, what },
            Stop::Long => Problem::Oversized {
                line,
                bytes: 2 * self.limits.max_record as u64,
            },
        };
        let go_on = matches!(p, Problem::BrokenLine { .. } | Problem::Oversized { .. });
        (self.on)(Item::Problem(p)) && go_on
    }

    /// Every top-level value of the input.
    fn run(&mut self) {
        loop {
            self.src.skip_ws();
            let Some(b) = self.src.peek() else { break };
            let line = self.src.line;
            let go = match b {
                b'{' => self.object(),
                b'[' => {
                    self.src.bump();
                    self.elements(line, false)
                }
                _ => {
                    let go = (self.on)(Item::Problem(Problem::NotJson { line }));
                    if !self.lines {
                        break;
                    }
                    self.src.skip_line();
                    go
                }
            };
            if !go {
                break;
            }
        }
        if let Some(p) = self.src.failed.take() {
            (self.on)(Item::Problem(p));
        }
    }

    /// The elements of a container whose `[` was just read, each a record (or a lookup
    /// answer's element holding one); ends after its `]`.
    fn elements(&mut self, line: u64, lookup: bool) -> bool {
        let mut index = 0;
        loop {
            let mut r = self.reader();
            if let Err(stop) = r.ws(&mut self.src) {
                return self.stopped(stop, line);
            }
            match self.src.peek() {
                None => return self.stopped(Stop::Eof, line),
                Some(b']') => {
                    self.src.bump();
                    return true;
                }
                Some(b',') => {
                    self.src.bump();
                    continue;
                }
                Some(_) => {}
            }
            let at = self.src.line;
            let place = Place {
                line: at,
                index: Some(index),
            };
            index += 1;
            let mut r = self.reader();
            let (bytes, witnessed) =
                match r.record(&mut self.src, Vec::new(), self.witness.as_deref_mut()) {
                    Ok(Got::Whole(b)) => (b, None),
                    Ok(Got::Reduced(b, w)) => (b, w),
                    Ok(Got::Dropped(bytes)) => {
                        let p = Problem::Oversized { line: at, bytes };
                        if (self.on)(Item::Problem(p)) {
                            continue;
                        }
                        return false;
                    }
                    Err(stop) => {
                        if self.stopped(stop, at) {
                            continue;
                        }
                        return false;
                    }
                };
            let mut p = piece(bytes, place, true, r.notes, witnessed);
            if lookup {
                match lookup_record(&p.text) {
                    Some(t) => p.text = t,
                    None => {
                        if !(self.on)(Item::Problem(Problem::NotJson { line: at })) {
                            return false;
                        }
                        continue;
                    }
                }
            }
            if !(self.on)(Item::Piece(p)) {
                return false;
            }
        }
    }

    /// The next member's name of an object being read, up to its `:` (`End` at the `}`).
    fn member_name(&mut self, r: &mut Reader<'l>, line: u64) -> Next {
        loop {
            if let Err(stop) = r.ws(&mut self.src) {
                return Next::Return(self.stopped(stop, line));
            }
            match self.src.peek() {
                None => return Next::Return(self.stopped(Stop::Eof, line)),
                Some(b'}') => {
                    self.src.bump();
                    return Next::End;
                }
                Some(b',') => {
                    self.src.bump();
                    continue;
                }
                Some(b'"') => break,
                Some(_) => {
                    let stop = Stop::Mismatch("a name that is not a string");
                    return Next::Return(self.stopped(stop, line));
                }
            }
        }
        let mut key = Vec::new();
        if let Err(stop) = r.copy(&mut self.src, &mut key, 256, OnLong::Drop) {
            return Next::Return(self.stopped(stop, line));
        }
        if let Err(stop) = r.ws(&mut self.src) {
            return Next::Return(self.stopped(stop, line));
        }
        if self.src.bump() != Some(b':') {
            let stop = Stop::Mismatch("a name without a value");
            return Next::Return(self.stopped(stop, line));
        }
        if let Err(stop) = r.ws(&mut self.src) {
            return Next::Return(self.stopped(stop, line));
        }
        Next::Name(key)
    }

    /// A top-level object: a delivery file or lookup answer (its `Records`/`Events` read
    /// element by element), else a record or an event (read whole, reduced if too long).
    fn object(&mut self) -> bool {
        let line = self.src.line;
        self.notes_so_far.clear();
        self.src.bump();
        let mut out = vec![b'{'];
        let mut streamed = false;
        loop {
            let mut r = self.reader();
            let key = match self.member_name(&mut r, line) {
                Next::Name(key) => key,
                Next::End => break,
                Next::Return(go) => return go,
            };
            let container = key == b"\"Records\"" || key == b"\"Events\"";
            if container && self.src.peek() == Some(b'[') {
                self.src.bump();
                if !self.elements(line, key == b"\"Events\"") {
                    return false;
                }
                streamed = true;
                continue;
            }
            if streamed {
                // What follows the records of a container is not a record.
                let mut sink = Vec::new();
                if let Err(stop) = r.copy(&mut self.src, &mut sink, 0, OnLong::Drop) {
                    return self.stopped(stop, line);
                }
                continue;
            }
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(&key);
            out.push(b':');
            // The record's members so far, then this value (the record is read again,
            // reduced, if it is too long).
            let prefix = std::mem::take(&mut out);
            match r.record(&mut self.src, prefix, self.witness.as_deref_mut()) {
                Ok(Got::Whole(b)) => out = b,
                Ok(Got::Reduced(b, w)) => {
                    // The whole object was read again, to its end.
                    let place = Place { line, index: None };
                    return (self.on)(Item::Piece(piece(b, place, false, r.notes, w)));
                }
                Ok(Got::Dropped(bytes)) => {
                    return (self.on)(Item::Problem(Problem::Oversized { line, bytes }));
                }
                Err(stop) => return self.stopped(stop, line),
            }
            self.notes_so_far.append(&mut r.notes);
        }
        if streamed {
            return true;
        }
        out.push(b'}');
        let place = Place { line, index: None };
        let notes = std::mem::take(&mut self.notes_so_far);
        (self.on)(Item::Piece(piece(out, place, false, notes, None)))
    }
}

/// Where reading starts: the line number there, and whether the input is JSON Lines (`None`:
/// told from its first line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Start {
    pub line: u64,
    pub lines: Option<bool>,
}

/// Reads records from `input`, handing each piece or problem to `on` as soon as it is read;
/// `on` returns false to stop (a shutdown). Returns the bytes read.
#[cfg(test)]
pub(crate) fn read<R: BufRead>(input: R, limits: &Limits, on: impl FnMut(Item) -> bool) -> u64 {
    let start = Start {
        line: 1,
        lines: None,
    };
    read_from(input, limits, start, on).0
}

/// `read` from a point in an input: returns the bytes read and the line reached.
#[cfg(test)]
pub(crate) fn read_from<R: BufRead>(
    input: R,
    limits: &Limits,
    start: Start,
    on: impl FnMut(Item) -> bool,
) -> (u64, u64) {
    read_witnessed(input, limits, start, None, on)
}

/// `read_from`, with a witness of every byte of the records that are reduced.
pub(crate) fn read_witnessed<R: BufRead>(
    input: R,
    limits: &Limits,
    start: Start,
    witness: Option<&mut dyn Witness>,
    on: impl FnMut(Item) -> bool,
) -> (u64, u64) {
    let mut src = Src {
        r: input,
        read: 0,
        line: start.line,
        limit: limits.max_input,
        failed: None,
    };
    // A byte-order mark is not part of the JSON.
    if src.r.fill_buf().is_ok_and(|b| b.starts_with(super::BOM)) {
        src.r.consume(3);
        src.read += 3;
    }
    let lines = start.lines.unwrap_or_else(|| looks_like_lines(&mut src));
    let mut on = on;
    let mut items = 0u64;
    let counted = |i: Item| {
        items += 1;
        on(i)
    };
    let mut w = Walk {
        src,
        limits,
        witness,
        lines,
        on: counted,
        notes_so_far: Vec::new(),
    };
    w.run();
    let (read, line) = (w.src.read, w.src.line);
    // An input read from its start that held nothing is said, not taken as read in silence.
    if items == 0 && start.line == 1 {
        on(Item::Problem(Problem::Empty));
    }
    (read, line)
}

/// JSON Lines when the first non-blank line is a whole object (`{` … `}`), or longer than
/// the read buffer (a one-line delivery file); a document otherwise.
fn looks_like_lines<R: BufRead>(src: &mut Src<R>) -> bool {
    match src.r.fill_buf() {
        Ok(buf) => lines_layout(buf),
        Err(_) => false,
    }
}

/// `looks_like_lines` on the first bytes of an input (a byte-order mark skipped).
pub(crate) fn lines_layout(buf: &[u8]) -> bool {
    let buf = buf.strip_prefix(super::BOM).unwrap_or(buf);
    let start = buf
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    if rest.first() != Some(&b'{') {
        return false;
    }
    match memchr::memchr(b'\n', rest) {
        Some(i) => rest[..i].trim_ascii_end().ends_with(b"}"),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], limits: Limits) -> (Vec<Piece>, Vec<Problem>) {
        let (mut ps, mut probs) = (Vec::new(), Vec::new());
        read(input, &limits, |i| {
            match i {
                Item::Piece(p) => ps.push(p),
                Item::Problem(p) => probs.push(p),
                Item::Passed(_) => unreachable!("the stream reader passes nothing by"),
            }
            true
        });
        (ps, probs)
    }

    fn texts(ps: &[Piece]) -> Vec<&str> {
        ps.iter().map(|p| p.text.as_str()).collect()
    }

    fn small() -> Limits {
        Limits {
            max_input: 1 << 20,
            max_record: 200,
            max_value: 40,
            max_depth: 5,
        }
    }

    #[test]
    fn delivery_files_one_line_or_pretty_give_their_records() {
        let one = br#"{"Records":[{"eventID":"a"},{"eventID":"b","x":[1,{"y":"}"}]}]}"#;
        let (ps, probs) = all(one, Limits::default());
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(
            texts(&ps),
            [r#"{"eventID":"a"}"#, r#"{"eventID":"b","x":[1,{"y":"}"}]}"#]
        );
        assert_eq!(
            ps[1].place,
            Place {
                line: 1,
                index: Some(1)
            }
        );
        assert!(ps.iter().all(|p| p.element));
        let pretty = b"{\n  \"Records\": [\n    {\"eventID\": \"a\"},\n    {\n      \"eventID\": \"b\"\n    }\n  ]\n}\n";
        let (ps, probs) = all(pretty, Limits::default());
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[1].place.line, 4);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&ps[1].text).unwrap()["eventID"],
            "b"
        );
    }

    #[test]
    fn json_lines_skip_a_broken_line_and_read_on() {
        let input =
            b"{\"eventID\":\"a\"}\n{\"eventID\":\"b\",\n{\"eventID\":\"c\"}\n\n{\"eventID\":\"d\"}";
        let (ps, probs) = all(input, Limits::default());
        assert_eq!(
            texts(&ps),
            [
                r#"{"eventID":"a"}"#,
                r#"{"eventID":"c"}"#,
                r#"{"eventID":"d"}"#
            ]
        );
        assert_eq!(ps[2].place.line, 5);
        assert_eq!(probs, [Problem::BrokenLine { line: 2 }]);
    }

    #[test]
    fn a_document_cut_short_gives_what_it_has_and_says_incomplete() {
        let input = b"{\"Records\":[{\"eventID\":\"a\"},{\"eventID\":\"b\"}";
        let (ps, probs) = all(input, Limits::default());
        assert_eq!(ps.len(), 2);
        assert_eq!(probs, [Problem::Incomplete { line: 1 }]);
        assert!(probs[0].is_incomplete());
        // Cut inside a record: the whole records before it.
        let (ps, probs) = all(
            b"{\"Records\":[{\"eventID\":\"a\"},{\"eventID\":\"b",
            Limits::default(),
        );
        assert_eq!(ps.len(), 1);
        assert!(probs[0].is_incomplete(), "{probs:?}");
    }

    #[test]
    fn a_byte_order_mark_and_invalid_utf8_do_not_lose_the_file() {
        let mut input = b"\xEF\xBB\xBF{\"Records\":[{\"eventID\":\"a\",\"u\":\"x".to_vec();
        input.extend_from_slice(b"\xff\xfe");
        input.extend_from_slice(b"y\"},{\"eventID\":\"b\"}]}");
        let (ps, probs) = all(&input, Limits::default());
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].notes, [Note::InvalidUtf8]);
        let v: serde_json::Value = serde_json::from_str(&ps[0].text).unwrap();
        assert_eq!(v["u"], "x\u{fffd}\u{fffd}y");
    }

    #[test]
    fn deep_nesting_is_replaced_by_a_note() {
        let deep = format!(
            "{{\"Records\":[{{\"eventID\":\"a\",\"p\":{}1{}}},{{\"eventID\":\"b\"}}]}}",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let (ps, probs) = all(deep.as_bytes(), small());
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].notes, [Note::TooDeep]);
        let v: serde_json::Value = serde_json::from_str(&ps[0].text).unwrap();
        assert_eq!(v["eventID"], "a");
        assert!(ps[0].text.contains("nested too deep"), "{}", ps[0].text);
    }

    /// Counts the bytes fed, and whether "SECRET" was among them.
    #[derive(Default)]
    struct Counter {
        bytes: usize,
        text: Vec<u8>,
    }

    impl Witness for Counter {
        fn feed(&mut self, bytes: &[u8]) {
            self.bytes += bytes.len();
            self.text.extend_from_slice(bytes);
        }
        fn verdict(&mut self) -> Vec<usize> {
            let found = memchr::memmem::find(&self.text, b"SECRET").is_some();
            let v = vec![self.bytes, usize::from(found)];
            *self = Counter::default();
            v
        }
    }

    #[test]
    fn a_witness_sees_every_byte_of_a_reduced_record_and_only_those() {
        let big = "x".repeat(5000);
        let rec = format!("{{\"eventID\":\"e1\",\"p\":\"{big}SECRET{big}\"}}");
        for input in [
            format!("{{\"Records\":[{rec},{{\"eventID\":\"e2\"}}]}}"),
            format!("{rec}\n{{\"eventID\":\"e2\"}}\n"),
        ] {
            let mut w = Counter::default();
            let mut ps = Vec::new();
            let start = Start {
                line: 1,
                lines: None,
            };
            read_witnessed(input.as_bytes(), &small(), start, Some(&mut w), |i| {
                if let Item::Piece(p) = i {
                    ps.push(p);
                }
                true
            });
            assert_eq!(ps.len(), 2);
            assert!(!ps[0].text.contains("SECRET"), "elided");
            assert_eq!(ps[0].witnessed, Some(vec![rec.len(), 1]));
            assert_eq!(
                ps[1].witnessed, None,
                "a record kept whole needs no witness"
            );
        }
    }

    #[test]
    fn an_oversized_record_is_reduced_keeping_its_small_fields() {
        let big = "x".repeat(5000);
        let input = format!(
            "{{\"Records\":[{{\"eventName\":\"CreateUser\",\"requestParameters\":{{\"p\":\"{big}\"}},\"userAgent\":\"{big}\",\"eventID\":\"e1\"}},{{\"eventID\":\"e2\"}}]}}"
        );
        let (ps, probs) = all(input.as_bytes(), small());
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(ps.len(), 2);
        let v: serde_json::Value = serde_json::from_str(&ps[0].text).unwrap();
        assert_eq!(v["eventName"], "CreateUser");
        assert_eq!(v["eventID"], "e1");
        assert!(v["userAgent"].as_str().unwrap().contains("elided"));
        assert!(
            matches!(ps[0].notes[..], [Note::Reduced { .. }]),
            "{:?}",
            ps[0].notes
        );
        assert!(ps[0].text.len() < 400);
        assert_eq!(ps[1].text, r#"{"eventID":"e2"}"#);
        // A top-level record, one line each.
        let line = format!("{{\"eventID\":\"t\",\"userAgent\":\"{big}\",\"eventName\":\"X\"}}\n{{\"eventID\":\"u\"}}\n");
        let (ps, probs) = all(line.as_bytes(), small());
        assert!(probs.is_empty(), "{probs:?}");
        let v: serde_json::Value = serde_json::from_str(&ps[0].text).unwrap();
        assert_eq!(
            (v["eventID"].as_str(), v["eventName"].as_str()),
            (Some("t"), Some("X"))
        );
        assert_eq!(ps[1].text, r#"{"eventID":"u"}"#);
        assert_eq!(ps[1].place.line, 2);
    }

    #[test]
    fn an_oversized_value_that_is_not_a_record_is_skipped_loudly() {
        let big = "x".repeat(5000);
        let input = format!("{{\"Records\":[\"{big}\",{{\"eventID\":\"b\"}}]}}");
        let (ps, probs) = all(input.as_bytes(), small());
        assert_eq!(texts(&ps), [r#"{"eventID":"b"}"#]);
        assert!(
            matches!(probs[..], [Problem::Oversized { .. }]),
            "{probs:?}"
        );
        // Too many members: even reduced it does not fit.
        let many: String = (0..200).map(|i| format!("\"k{i}\":1,")).collect();
        let input = format!("{{\"Records\":[{{{many}\"eventID\":\"a\"}},{{\"eventID\":\"b\"}}]}}");
        let (ps, probs) = all(input.as_bytes(), small());
        assert_eq!(texts(&ps), [r#"{"eventID":"b"}"#]);
        assert!(
            matches!(probs[..], [Problem::Oversized { .. }]),
            "{probs:?}"
        );
    }

    #[test]
    fn input_past_the_limit_is_not_read_and_said() {
        let rec = "{\"eventID\":\"a\"}\n";
        let input = rec.repeat(1000);
        let limits = Limits {
            max_input: 160,
            ..Limits::default()
        };
        let (ps, probs) = all(input.as_bytes(), limits);
        assert_eq!(ps.len(), 10);
        assert_eq!(probs, [Problem::TooLong { limit: 160 }]);
    }

    #[test]
    fn lookup_answers_events_arrays_and_stops() {
        let lookup = r#"{"Events":[{"EventId":"x","CloudTrailEvent":"{\"eventID\":\"x\"}"}],"NextToken":"t"}"#;
        let (ps, probs) = all(lookup.as_bytes(), Limits::default());
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(texts(&ps), [r#"{"eventID":"x"}"#]);
        let ev = r#"{"detail-type":"AWS API Call via CloudTrail","detail":{"eventID":"y"}}"#;
        let (ps, _) = all(ev.as_bytes(), Limits::default());
        assert_eq!(texts(&ps), [ev]);
        assert!(!ps[0].element);
        let (ps, _) = all(
            b"[{\"eventID\":\"a\"},{\"eventID\":\"b\"}]",
            Limits::default(),
        );
        assert_eq!(ps.len(), 2);
        let (ps, probs) = all(b"garbage", Limits::default());
        assert!(ps.is_empty());
        assert_eq!(probs, [Problem::NotJson { line: 1 }]);
        // `on` returning false stops at once.
        let mut n = 0;
        read(&b"{\"a\":1}\n{\"a\":2}\n"[..], &Limits::default(), |_| {
            n += 1;
            false
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn the_corpus_reads_as_serde_reads_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus/invictus-aws-dataset");
        let mut n = 0;
        for f in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            let want: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let (ps, probs) = all(&bytes, Limits::default());
            assert!(probs.is_empty());
            let got: Vec<serde_json::Value> = ps
                .iter()
                .map(|p| serde_json::from_str(&p.text).unwrap())
                .collect();
            assert_eq!(&got, want["Records"].as_array().unwrap());
            n += got.len();
        }
        assert_eq!(n, 2900);
    }
}
