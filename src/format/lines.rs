//! JSON Lines read at a search's pace: the input is taken in large blocks of whole lines, and
//! only the lines the caller's search finds something in (a rule's literal), or that look
//! wrong (not one object, or naming a `Records`/`Events` container), go through the stream
//! reader with its limits; every other line is counted as read and passed by without being
//! copied or parsed. Memory stays bounded by the block size: a line longer than a block is left
//! to the stream reader with the rest of the input.

use std::io::Read;

use super::stream::{read_witnessed, Item, Limits, Problem, Start, Witness};

/// Bytes taken at a time.
const BLOCK: usize = 4 << 20;

/// Where the next line with something to look at starts: the search's first hit in `hay`, as
/// an offset (`None`: nothing in it).
pub(crate) type Search<'a> = &'a dyn Fn(&[u8]) -> Option<usize>;

/// Reads JSON Lines from `input` (from line `start.line`) as `stream::read_witnessed` would,
/// but hands on a whole line only when `search` finds something in it or it looks wrong;
/// the others are counted in `Item::Passed`. Returns the bytes read and the line reached.
pub(crate) fn read_lines<R: Read>(
    mut input: R,
    limits: &Limits,
    start: Start,
    mut witness: Option<&mut dyn Witness>,
    search: Search<'_>,
    mut on: impl FnMut(Item) -> bool,
) -> (u64, u64) {
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK);
    let (mut read, mut line) = (0u64, start.line);
    let mut items = 0u64;
    let mut ended = false;
    loop {
        // Fill the block (after what was carried over) up to BLOCK bytes, or the input's end.
        let want = (BLOCK - buf.len().min(BLOCK)) as u64;
        let left = limits.max_input.saturating_sub(read + buf.len() as u64);
        match (&mut input).take(want.min(left)).read_to_end(&mut buf) {
            Ok(0) => ended = true,
            Ok(_) => {}
            Err(e) => {
                on(Item::Problem(Problem::Read {
                    corrupt: false,
                    error: e.to_string(),
                }));
                return (read, line);
            }
        }
        if read == 0 && buf.starts_with(super::BOM) {
            buf.drain(..3);
            read = 3;
        }
        let whole = match memchr::memrchr(b'\n', &buf) {
            Some(i) => i + 1,
            None if ended => buf.len(),
            // A line longer than a block: the stream reader reads it and the rest, bounded.
            None => {
                let rest = std::io::Cursor::new(std::mem::take(&mut buf)).chain(input);
                let (r, l) = rest_of(rest, limits, (read, line), reborrow(&mut witness), |i| {
                    items += 1;
                    on(i)
                });
                return (read + r, l);
            }
        };
        let mut block = Block {
            limits,
            search,
            on: &mut on,
            items: &mut items,
        };
        match block.lines(&buf[..whole], line, &mut witness) {
            Ok(l) => line = l,
            Err((at, l)) => return (read + at as u64, l),
        }
        read += whole as u64;
        buf.drain(..whole);
        if ended {
            break;
        }
        if read + buf.len() as u64 >= limits.max_input {
            // What lies beyond the limit is not read, and said (a decompression bomb?).
            let mut one = [0u8; 1];
            if !buf.is_empty() || input.read(&mut one).is_ok_and(|n| n > 0) {
                items += 1;
                on(Item::Problem(Problem::TooLong {
                    limit: limits.max_input,
                }));
            }
            break;
        }
    }
    if items == 0 && start.line == 1 {
        on(Item::Problem(Problem::Empty));
    }
    (read, line)
}

/// Reads the rest of an input (from byte `read`, line `line`) with the stream reader.
fn rest_of<R: Read>(
    rest: R,
    limits: &Limits,
    (read, line): (u64, u64),
    witness: Option<&mut dyn Witness>,
    on: impl FnMut(Item) -> bool,
) -> (u64, u64) {
    let mut limits = *limits;
    limits.max_input = limits.max_input.saturating_sub(read);
    let s = Start {
        line,
        lines: Some(true),
    };
    read_witnessed(std::io::BufReader::new(rest), &limits, s, witness, on)
}

/// The witness for one read (a shorter borrow of it).
fn reborrow<'s>(w: &'s mut Option<&mut dyn Witness>) -> Option<&'s mut dyn Witness> {
    match w {
        Some(w) => Some(&mut **w),
        None => None,
    }
}

/// One block of whole lines, and where its lines go.
struct Block<'a, F> {
    limits: &'a Limits,
    search: Search<'a>,
    on: &'a mut F,
    items: &'a mut u64,
}

impl<F: FnMut(Item) -> bool> Block<'_, F> {
    /// Hands on the lines of `buf` (whole lines, its first one numbered `line`) that have
    /// something to look at, and counts the others. Returns the next line's number, or where
    /// (offset, line) a stop was asked for.
    fn lines(
        &mut self,
        buf: &[u8],
        mut line: u64,
        witness: &mut Option<&mut dyn Witness>,
    ) -> Result<u64, (usize, u64)> {
        let mut pos = 0;
        let mut passed = 0u64;
        while pos < buf.len() {
            let end = memchr::memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i);
            let text = buf[pos..end].trim_ascii();
            let next = (end + 1).min(buf.len());
            if text.is_empty() {
                // Blank lines are nothing.
            } else if self.looked_at(text) {
                if passed > 0 {
                    *self.items += 1;
                    (self.on)(Item::Passed(std::mem::take(&mut passed)));
                }
                let s = Start {
                    line,
                    lines: Some(true),
                };
                let mut go = true;
                let on = &mut *self.on;
                let items = &mut *self.items;
                read_witnessed(&buf[pos..next], self.limits, s, reborrow(witness), |i| {
                    *items += 1;
                    go &= on(i);
                    go
                });
                if !go {
                    return Err((next, line + 1));
                }
            } else {
                passed += 1;
            }
            line += 1;
            pos = next;
            // The search runs over what is left of the block once, not once per line.
            if let Some((skip, lines, records)) = self.skip(&buf[pos..]) {
                passed += records;
                line += lines;
                pos += skip;
            }
        }
        if passed > 0 {
            *self.items += 1;
            (self.on)(Item::Passed(passed));
        }
        Ok(line)
    }

    /// True when a line goes through the stream reader: the search finds something in it, it
    /// is not one object, or it names a container.
    fn looked_at(&self, text: &[u8]) -> bool {
        !(text.starts_with(b"{") && text.ends_with(b"}"))
            || (self.search)(text).is_some()
            || memchr::memmem::find(text, b"\"Records\"").is_some()
            || memchr::memmem::find(text, b"\"Events\"").is_some()
    }

    /// How many bytes of `rest` (whole lines) need no look: up to the start of the line of
    /// the search's next hit, or of the next line that looks wrong; with the lines and the
    /// records (lines not blank) in them (`None`: look at the next line now).
    fn skip(&self, rest: &[u8]) -> Option<(usize, u64, u64)> {
        let hit = (self.search)(rest).unwrap_or(rest.len());
        let mut upto = memchr::memrchr(b'\n', &rest[..hit]).map_or(0, |i| i + 1);
        if upto == 0 {
            return None;
        }
        // A line that names a container is looked at.
        let odd = memchr::memmem::find(&rest[..upto], b"\"Records\"")
            .into_iter()
            .chain(memchr::memmem::find(&rest[..upto], b"\"Events\""))
            .min();
        if let Some(at) = odd {
            upto = memchr::memrchr(b'\n', &rest[..at]).map_or(0, |i| i + 1);
        }
        // So is one that is not one object.
        let (mut s, mut lines, mut records) = (0, 0u64, 0u64);
        while s < upto {
            let e = memchr::memchr(b'\n', &rest[s..upto]).map_or(upto, |i| s + i);
            let t = rest[s..e].trim_ascii();
            if !t.is_empty() {
                if !(t.starts_with(b"{") && t.ends_with(b"}")) {
                    upto = s;
                    break;
                }
                records += 1;
            }
            lines += 1;
            s = e + 1;
        }
        (upto > 0).then_some((upto, lines, records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item of reading `input` with a search for `needle`.
    fn items(input: &[u8], needle: &'static [u8]) -> Vec<String> {
        let mut out = Vec::new();
        let search = |b: &[u8]| memchr::memmem::find(b, needle);
        let start = Start {
            line: 1,
            lines: Some(true),
        };
        read_lines(input, &Limits::default(), start, None, &search, |i| {
            out.push(match i {
                Item::Piece(p) => format!("piece {}: {}", p.place.line, p.text),
                Item::Problem(p) => format!("problem {}", p.show("f")),
                Item::Passed(n) => format!("passed {n}"),
            });
            true
        });
        out
    }

    #[test]
    fn only_lines_with_a_hit_or_a_wrong_look_are_read_the_others_counted() {
        let input = b"{\"a\":1}\n{\"a\":\"hit\"}\n\n{\"a\":2}\n{\"a\":3}\nnot json\n{\"Records\":5}\n{\"a\":4}\n";
        assert_eq!(
            items(input, b"hit"),
            [
                "passed 1",
                "piece 2: {\"a\":\"hit\"}",
                "passed 2",
                "problem f:6: not JSON, skipped",
                "piece 7: {\"Records\":5}",
                "passed 1",
            ]
        );
    }

    #[test]
    fn a_line_longer_than_a_block_is_read_by_the_stream_reader() {
        let long = format!("{{\"a\":\"{}hit\"}}\n", "x".repeat(BLOCK + 10));
        let input = format!("{{\"a\":1}}\n{long}{{\"a\":\"hit\"}}\n");
        let got = items(input.as_bytes(), b"hit");
        assert_eq!(
            got.len(),
            3,
            "{:?}",
            got.iter()
                .map(|s| &s[..20.min(s.len())])
                .collect::<Vec<_>>()
        );
        assert!(got[1].starts_with("piece 2:"));
        assert_eq!(got[2], "piece 3: {\"a\":\"hit\"}");
    }

    #[test]
    fn input_past_the_limit_is_said_and_not_read() {
        let limits = Limits {
            max_input: 16,
            ..Limits::default()
        };
        let start = Start {
            line: 1,
            lines: Some(true),
        };
        let search = |b: &[u8]| memchr::memmem::find(b, b"hit");
        let said = |input: &[u8]| {
            let mut out = Vec::new();
            let (read, _) = read_lines(input, &limits, start, None, &search, |i| {
                out.push(matches!(i, Item::Problem(Problem::TooLong { .. })));
                true
            });
            (read, out.contains(&true))
        };
        // Exactly the limit, in whole lines, with more behind it: said.
        assert_eq!(said(b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"), (16, true));
        // Exactly the limit and nothing more: all of it was read.
        assert_eq!(said(b"{\"a\":1}\n{\"a\":2}\n"), (16, false));
        // The limit inside a line: what comes before it is read, the rest said.
        assert_eq!(said(b"{\"a\":1}\n{\"a\":\"long\"}\n"), (8, true));
    }

    #[test]
    fn nothing_at_all_is_said() {
        assert_eq!(
            items(b"\n \n", b"hit"),
            ["problem f: empty (no JSON at all): not a CloudTrail file"]
        );
    }
}
