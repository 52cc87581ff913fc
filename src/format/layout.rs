//! How a buffer lays out its JSON values (one per line, or any sequence of values), and the
//! one walk over them that the `files` source and `scan` share.

/// How a document lays out its JSON values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// One JSON object per line (JSON Lines, or a one-line delivery file).
    Lines,
    /// Any other sequence of JSON values (pretty-printed records, arrays).
    Document,
}

/// Chooses the layout from the first non-blank line: a whole object on one line means lines.
pub(crate) fn layout(buf: &[u8]) -> Layout {
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

/// A value found in a buffer, or why a part of it could not be read.
pub(crate) enum Value<'a> {
    /// A JSON value's text and its location (`name:line`).
    Text(&'a str, String),
    /// A part of the buffer that is not readable JSON, as `location: reason`.
    Bad(String),
}

/// Calls `on` with every JSON value of `buf` (named `name` in locations), in order: each
/// non-blank line of JSON Lines, or each value of a document. A document with a syntax error is
/// read up to the error.
pub(crate) fn for_each_value(buf: &[u8], name: &str, mut on: impl FnMut(Value<'_>)) {
    match layout(buf) {
        Layout::Lines => {
            for (i, line) in buf.split(|b| *b == b'\n').enumerate() {
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                let loc = format!("{name}:{}", i + 1);
                match std::str::from_utf8(line) {
                    Ok(t) => on(Value::Text(t, loc)),
                    Err(_) => on(Value::Bad(format!("{loc}: not valid UTF-8"))),
                }
            }
        }
        Layout::Document => document_values(buf, name, on),
    }
}

fn document_values(buf: &[u8], name: &str, mut on: impl FnMut(Value<'_>)) {
    let text = match std::str::from_utf8(buf) {
        Ok(t) => t,
        Err(e) => {
            return on(Value::Bad(format!(
                "{name}: not valid UTF-8 at byte {}",
                e.valid_up_to()
            )))
        }
    };
    let mut stream =
        serde_json::Deserializer::from_str(text).into_iter::<&serde_json::value::RawValue>();
    loop {
        let offset = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(v)) => {
                let start = offset + text[offset..].len() - text[offset..].trim_start().len();
                let line = text[..start].matches('\n').count() + 1;
                on(Value::Text(v.get(), format!("{name}:{line}")));
            }
            Some(Err(e)) => {
                on(Value::Bad(format!(
                    "{name}:{}:{}: malformed JSON, rest of file skipped: {e}",
                    e.line(),
                    e.column()
                )));
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(layout(b"\n {\"a\":1}\n{\"a\":2}\n"), Layout::Lines);
        assert_eq!(layout(b"{\"Records\":[]}"), Layout::Lines);
        assert_eq!(layout(b"{\n  \"a\": 1\n}\n"), Layout::Document);
        assert_eq!(layout(b"[{\"a\":1}]"), Layout::Document);
    }
}
