//! How fast serde_json merely parses a JSON Lines file, the baseline beside `trailwatch scan`
//! in BENCHMARKS.md: `cargo bench --bench parse_rate -- FILE`. Beside validation only and
//! `serde_json::Value` (what the rules read today), a tree that borrows its strings from the
//! text: what a borrowed record representation would cost to make (BENCHMARKS.md, "what a
//! borrowed parse would buy"). Each tree is dropped inside its timing.

use std::borrow::Cow;
use std::time::Instant;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value whose strings and member names borrow from the text when they hold no escape,
/// and whose objects are vectors of members: no allocation for a string, one per object.
#[allow(dead_code)] // made and dropped, never read: only its making is timed
enum Borrowed<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Text(Cow<'a, str>),
    Array(Vec<Borrowed<'a>>),
    Object(Vec<(Cow<'a, str>, Borrowed<'a>)>),
}

impl<'de> Deserialize<'de> for Borrowed<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Tree)
    }
}

/// A member name, borrowed when it holds no escape.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Tree).map(|v| match v {
            Borrowed::Text(t) => Name(t),
            _ => unreachable!("deserialize_str gives text"),
        })
    }
}

struct Tree;

impl<'de> Visitor<'de> for Tree {
    type Value = Borrowed<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Number(n as f64))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Number(n as f64))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Number(n))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Text(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Borrowed<'de>, E> {
        Ok(Borrowed::Text(Cow::Owned(s.to_owned())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Borrowed<'de>, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element()? {
            v.push(x);
        }
        Ok(Borrowed::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Borrowed<'de>, A::Error> {
        let mut v = Vec::new();
        while let Some(Name(k)) = a.next_key()? {
            v.push((k, a.next_value()?));
        }
        Ok(Borrowed::Object(v))
    }
}

fn best_of<F: FnMut() -> usize>(runs: usize, mut f: F) -> (f64, usize) {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            let n = f();
            (t.elapsed().as_secs_f64(), n)
        })
        .fold((f64::MAX, 0), |a, b| if b.0 < a.0 { b } else { a })
}

fn main() {
    let Some(path) = std::env::args().skip(1).find(|a| !a.starts_with('-')) else {
        eprintln!("usage: cargo bench --bench parse_rate -- FILE.jsonl");
        return;
    };
    let data = std::fs::read(&path).expect("readable file");
    let mb = data.len() as f64 / 1e6;
    let lines = || data.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let (t, n) = best_of(3, || {
        lines()
            .filter(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok())
            .count()
    });
    println!(
        "serde_json IgnoredAny (validate only), 1 thread: {n} records, {:.0} MB/s",
        mb / t
    );
    let (t, n) = best_of(3, || {
        lines()
            .filter(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok())
            .count()
    });
    println!(
        "serde_json Value (full tree), 1 thread: {n} records, {:.0} MB/s",
        mb / t
    );
    // `scan` parses a record's text once it is known to be UTF-8 (`from_str`: a borrowed
    // string needs no second check), so these two start from checked text.
    let texts: Vec<&str> = lines()
        .filter_map(|l| std::str::from_utf8(l).ok())
        .collect();
    let (t, n) = best_of(3, || {
        (texts.iter())
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
            .count()
    });
    println!(
        "serde_json Value from UTF-8 text, 1 thread: {n} records, {:.0} MB/s",
        mb / t
    );
    let (t, n) = best_of(3, || {
        (texts.iter())
            .filter(|l| serde_json::from_str::<Borrowed>(l).is_ok())
            .count()
    });
    println!(
        "borrowed tree (strings borrowed, objects as vectors) from UTF-8 text, 1 thread: \
         {n} records, {:.0} MB/s",
        mb / t
    );
}
