//! A CloudTrail record as the rules see it: its JSON text (what a filter pattern reads, as
//! CloudWatch reads a log message), its parsed value (without the large members no rule reads:
//! `Unread`), and its EventBridge view (the envelope EventBridge wraps around it, derived on
//! demand without copying the record).

use std::borrow::Cow;

use serde_json::Value;

use crate::pattern::reads::Reads;

/// One CloudTrail record.
#[derive(Debug)]
pub struct Record<'a> {
    /// The record's JSON text.
    pub text: Cow<'a, str>,
    /// The record, parsed.
    pub value: Value,
    /// The EventBridge event the record arrived in, when the input held events.
    pub event: Option<Value>,
}

/// Members of a record that are large, or that few rules read: a record's parse leaves them
/// out when none of the rules judging it reads them (see `Unread`). Nothing else that reads a
/// matched record's value (its summary line, principal, time, ID, network, first-seen account)
/// reads one of these; alerts carry the record's text, whole.
const LEFT_OUT_WHEN_UNREAD: &[&str] = &[
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "resources",
    "tlsDetails",
    "userAgent",
    "requestID",
    "errorMessage",
];

/// The members a record's parse leaves out: those of `LEFT_OUT_WHEN_UNREAD` no rule reads.
/// Their text is still read through (a record malformed there is still malformed), but no
/// value is made of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unread(Vec<&'static str>);

impl Unread {
    /// What a parse may leave out for rules that read `reads`.
    pub fn beside(reads: &Reads) -> Unread {
        Unread(
            (LEFT_OUT_WHEN_UNREAD.iter().copied())
                .filter(|m| !reads.reads(m))
                .collect(),
        )
    }

    /// The members left out.
    pub fn members(&self) -> &[&'static str] {
        &self.0
    }

    /// Every `Unread`, by what is read: entry `m` leaves out each member a parse may leave out
    /// unless `m` has its bit (`bits_read`). The evaluator makes it once and picks one per
    /// record, for the rules that record may match.
    pub fn every() -> Vec<Unread> {
        (0..1usize << LEFT_OUT_WHEN_UNREAD.len())
            .map(|m| {
                let kept = |i: usize| m & (1 << i) != 0;
                Unread(
                    (LEFT_OUT_WHEN_UNREAD.iter().enumerate())
                        .filter(|(i, _)| !kept(*i))
                        .map(|(_, n)| *n)
                        .collect(),
                )
            })
            .collect()
    }

    /// The bits of the members a parse may leave out that `reads` reads (an index of `every`).
    pub fn bits_read(reads: &Reads) -> usize {
        (LEFT_OUT_WHEN_UNREAD.iter().enumerate())
            .filter(|(_, m)| reads.reads(m))
            .fold(0, |bits, (i, _)| bits | 1 << i)
    }

    fn parse(&self, text: &str) -> Result<Value, serde_json::Error> {
        if self.0.is_empty() || !text.trim_start().starts_with('{') {
            return serde_json::from_str(text);
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let v = serde::Deserializer::deserialize_map(&mut de, self)?;
        de.end()?;
        Ok(v)
    }
}

/// A record's members, made into a value but for those left out.
impl<'de> serde::de::Visitor<'de> for &Unread {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = m.next_key_seed(KeyOf(self))? {
            match key {
                Some(k) => {
                    out.insert(k, m.next_value()?);
                }
                None => {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// A member's name, `None` when the member is left out (no copy is made of it).
struct KeyOf<'u>(&'u Unread);

impl<'de> serde::de::DeserializeSeed<'de> for KeyOf<'_> {
    type Value = Option<String>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyOf<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Self::Value, E> {
        Ok((!self.0 .0.contains(&k)).then(|| k.to_string()))
    }
}

/// Parses JSON text into a `Value`. A `\uD800`-style escape of a lone UTF-16 surrogate is valid
/// JSON syntax that serde_json refuses to decode; CloudTrail fields are attacker-controlled, so
/// such a record must not become unreadable (and so invisible to the rules): lone surrogates are
/// decoded as U+FFFD instead.
pub(crate) fn parse_value(text: &str) -> Result<Value, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(e) => repaired(text, e, &Unread::default()).map(|(v, _)| v),
    }
}

/// What was changed in a record's text so that it could be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Lone UTF-16 surrogate escapes decoded as U+FFFD.
    LoneSurrogate,
    /// Numbers out of a double's range (`1e400`) kept as strings.
    HugeNumber,
}

impl std::fmt::Display for Repair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Repair::LoneSurrogate => "lone UTF-16 surrogate escapes were read as U+FFFD",
            Repair::HugeNumber => "numbers too large for a double were kept as strings",
        })
    }
}

/// Parses a record, repairing what an attacker can put in a value and strict parsers refuse,
/// and leaving out the members `unread` names; says what was repaired.
fn parse_leaving_out(
    text: &str,
    unread: &Unread,
) -> Result<(Value, Vec<Repair>), serde_json::Error> {
    match unread.parse(text) {
        Ok(v) => Ok((v, Vec::new())),
        Err(e) => repaired(text, e, unread),
    }
}

fn repaired(
    text: &str,
    first: serde_json::Error,
    unread: &Unread,
) -> Result<(Value, Vec<Repair>), serde_json::Error> {
    let mut repairs = Vec::new();
    let mut fixed = std::borrow::Cow::Borrowed(text);
    let mut err = first;
    for _ in 0..64 {
        let msg = err.to_string();
        let next = if msg.contains("number out of range") {
            quote_number_at(&fixed, err.line(), err.column()).map(|t| (t, Repair::HugeNumber))
        } else if fixed.contains("\\u") && !repairs.contains(&Repair::LoneSurrogate) {
            replace_lone_surrogates(&fixed).map(|t| (t, Repair::LoneSurrogate))
        } else {
            None
        };
        let Some((t, r)) = next else {
            return Err(err);
        };
        if !repairs.contains(&r) {
            repairs.push(r);
        }
        fixed = std::borrow::Cow::Owned(t);
        match unread.parse(&fixed) {
            Ok(v) => return Ok((v, repairs)),
            Err(e) => err = e,
        }
    }
    Err(err)
}

/// The text with the number that ends at `line`:`column` (serde_json's error position) put in
/// quotes.
fn quote_number_at(text: &str, line: usize, column: usize) -> Option<String> {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let at = (line_start + column).min(text.len());
    let b = text.as_bytes();
    let is_num = |c: u8| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-');
    let mut start = at.min(b.len());
    while start > 0 && is_num(b[start - 1]) {
        start -= 1;
    }
    let mut end = at.min(b.len());
    while end < b.len() && is_num(b[end]) {
        end += 1;
    }
    if start == end {
        return None;
    }
    Some(format!(
        "{}\"{}\"{}",
        &text[..start],
        &text[start..end],
        &text[end..]
    ))
}

fn hex4(b: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(b.get(..4)?).ok()?;
    u16::from_str_radix(s, 16).ok()
}

/// The text with every lone-surrogate escape replaced by `\uFFFD`; `None` when there is none.
fn replace_lone_surrogates(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        if b.get(i + 1) != Some(&b'u') {
            out.extend_from_slice(&b[i..(i + 2).min(b.len())]);
            i += 2;
            continue;
        }
        let Some(unit) = hex4(&b[i + 2..]) else {
            out.extend_from_slice(&b[i..(i + 2).min(b.len())]);
            i += 2;
            continue;
        };
        let low_follows = || {
            b.get(i + 6) == Some(&b'\\')
                && b.get(i + 7) == Some(&b'u')
                && hex4(&b[(i + 8).min(b.len())..]).is_some_and(|u| (0xDC00..0xE000).contains(&u))
        };
        match unit {
            0xD800..=0xDBFF if low_follows() => {
                out.extend_from_slice(&b[i..i + 12]);
                i += 12;
            }
            0xD800..=0xDFFF => {
                out.extend_from_slice(b"\\uFFFD");
                changed = true;
                i += 6;
            }
            _ => {
                out.extend_from_slice(&b[i..i + 6]);
                i += 6;
            }
        }
    }
    changed.then(|| String::from_utf8(out).expect("only ASCII escapes were replaced"))
}

/// What an event pattern reads of a CloudTrail record, given what it reads of the event
/// (`EventPattern::reads`): `detail` is the record; `id`, `detail-type`, `source`, `account`,
/// `time` and `region` are made from one member each (see `Record::envelope_member`).
pub(crate) fn reads_through_envelope(event: &[(String, Reads)]) -> Reads {
    Reads::all(event.iter().map(|(top, below)| match top.as_str() {
        "detail" => below.clone(),
        "id" => Reads::members(["eventID"]),
        "detail-type" => Reads::members(["eventType"]),
        "source" => Reads::members(["eventSource"]),
        "account" => Reads::members(["recipientAccountId"]),
        "time" => Reads::members(["eventTime"]),
        "region" => Reads::members(["awsRegion"]),
        _ => Reads::nothing(),
    }))
}

/// EventBridge `source` values that do not follow the `aws.` + service-prefix rule.
const SOURCE_OVERRIDES: &[(&str, &str)] = &[];

/// EventBridge's `source` for a CloudTrail `eventSource`: `iam.amazonaws.com` → `aws.iam`.
pub(crate) fn eventbridge_source(event_source: &str) -> String {
    if let Some((_, s)) = SOURCE_OVERRIDES.iter().find(|(k, _)| *k == event_source) {
        return s.to_string();
    }
    let service = event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source);
    format!("aws.{service}")
}

/// EventBridge's `detail-type` for a CloudTrail `eventType`, when AWS documents one.
pub(crate) fn eventbridge_detail_type(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "AwsApiCall" => "AWS API Call via CloudTrail",
        "AwsConsoleSignIn" => "AWS Console Sign In via CloudTrail",
        "AwsServiceEvent" => "AWS Service Event via CloudTrail",
        "AwsConsoleAction" => "AWS Console Action via CloudTrail",
        "AwsCloudTrailInsight" => "AWS Insight via CloudTrail",
        _ => return None,
    })
}

impl<'a> Record<'a> {
    /// Parses a record from its JSON text (see `parse_leaving_out`).
    pub fn parse(text: Cow<'a, str>) -> Result<Record<'a>, serde_json::Error> {
        Self::parse_noting(text).map(|(r, _)| r)
    }

    /// Parses a record, saying what had to be repaired.
    pub fn parse_noting(
        text: Cow<'a, str>,
    ) -> Result<(Record<'a>, Vec<Repair>), serde_json::Error> {
        Self::parse_leaving_out(text, &Unread::default())
    }

    /// Parses a record as `parse_noting` does, its value without the members `unread` names
    /// (which the rules judging it do not read).
    pub fn parse_leaving_out(
        text: Cow<'a, str>,
        unread: &Unread,
    ) -> Result<(Record<'a>, Vec<Repair>), serde_json::Error> {
        let (value, repairs) = parse_leaving_out(&text, unread)?;
        Ok((
            Record {
                text,
                value,
                event: None,
            },
            repairs,
        ))
    }

    /// A string member of the record, by path (`["userIdentity", "arn"]`).
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        path.iter().try_fold(&self.value, |v, k| v.get(k))?.as_str()
    }

    /// A top-level member of the record as a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.value.get(key)?.as_str()
    }

    /// The principal's ARN, or the service that acted for it.
    pub fn principal_arn(&self) -> Option<&str> {
        self.str_at(&["userIdentity", "arn"])
            .or_else(|| self.str_at(&["userIdentity", "invokedBy"]))
    }

    /// A member of the EventBridge event for this record: the real one when the record came in
    /// an event, else the envelope EventBridge would build (`detail` is the record itself).
    pub fn envelope_member(&self, key: &str) -> Option<Cow<'_, Value>> {
        if let Some(ev) = &self.event {
            return ev.get(key).map(Cow::Borrowed);
        }
        let s = |v: Option<&str>| v.map(|v| Cow::Owned(Value::String(v.to_string())));
        match key {
            "detail" => Some(Cow::Borrowed(&self.value)),
            "version" => Some(Cow::Owned(Value::String("0".into()))),
            "id" => s(self.get_str("eventID")),
            "detail-type" => s(self.get_str("eventType").and_then(eventbridge_detail_type)),
            "source" => self
                .get_str("eventSource")
                .map(|e| Cow::Owned(Value::String(eventbridge_source(e)))),
            "account" => s(self.get_str("recipientAccountId")),
            "time" => s(self.get_str("eventTime")),
            "region" => s(self.get_str("awsRegion")),
            "resources" => Some(Cow::Owned(Value::Array(Vec::new()))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_do_not_make_a_record_unreadable() {
        let v = parse_value(r#"{"a":"x\ud800y","b":"\\ud800","c":"\ud83d\ude00","d":"\udc00"}"#)
            .unwrap();
        assert_eq!(v["a"], "x\u{fffd}y");
        assert_eq!(v["b"], "\\ud800", "an escaped backslash is not an escape");
        assert_eq!(v["c"], "😀", "a valid pair stays");
        assert_eq!(v["d"], "\u{fffd}");
        assert!(parse_value("{\"a\": }").is_err());
    }

    fn parse_repaired(text: &str) -> Result<(Value, Vec<Repair>), serde_json::Error> {
        parse_leaving_out(text, &Unread::default())
    }

    #[test]
    fn every_unread_is_the_one_its_reads_make() {
        // The evaluator picks a record's parse from `every` by the bits of what its candidate
        // rules read: each must be what `beside` makes of those reads.
        let every = Unread::every();
        assert_eq!(every.len(), 1 << LEFT_OUT_WHEN_UNREAD.len());
        let reads = [
            Reads::members(Vec::<&str>::new()),
            Reads::members(["requestParameters"]),
            Reads::members(["userAgent", "errorMessage", "eventName"]),
            Reads::members(LEFT_OUT_WHEN_UNREAD.iter().copied()),
            Reads::Anything,
        ];
        for r in &reads {
            assert_eq!(every[Unread::bits_read(r)], Unread::beside(r), "{r:?}");
        }
        // Two rules' reads together: the union of their bits.
        let (a, b) = (&reads[1], &reads[2]);
        let both = Reads::all([a.clone(), b.clone()]);
        let bits = Unread::bits_read(a) | Unread::bits_read(b);
        assert_eq!(every[bits], Unread::beside(&both));
        assert_eq!(every[bits].members().len(), LEFT_OUT_WHEN_UNREAD.len() - 3);
    }

    #[test]
    fn a_parse_leaves_out_only_the_members_no_rule_reads_and_still_reads_their_text() {
        let text = r#"{"eventName":"PutObject","requestParameters":{"bucketName":"b","k":[1,{"x":null}]},
            "tlsDetails":{"tlsVersion":"TLSv1.3"},"userAgent":"aws-cli","eventName":"GetObject",
            "userIdentity":{"type":"IAMUser","requestParameters":"kept: not at the top"}}"#;
        let whole: Value = serde_json::from_str(text).unwrap();
        let reads = Reads::members(["requestParameters", "eventName"]);
        let unread = Unread::beside(&reads);
        assert!(unread.members().contains(&"tlsDetails"));
        assert!(!unread.members().contains(&"requestParameters"));
        let (v, repairs) = parse_leaving_out(text, &unread).unwrap();
        assert!(repairs.is_empty());
        let mut want = whole.clone();
        for m in ["tlsDetails", "userAgent"] {
            want.as_object_mut().unwrap().remove(m);
        }
        assert_eq!(
            v, want,
            "the last of a repeated member wins, as in a whole parse"
        );
        assert_eq!(v["eventName"], "GetObject");
        // A rule that reads anything leaves nothing out.
        let all = Unread::beside(&Reads::Anything);
        assert_eq!(parse_leaving_out(text, &all).unwrap().0, whole);
        // Bad JSON in a member left out is still bad; repairs elsewhere are still made.
        assert!(parse_leaving_out(r#"{"tlsDetails":{"a":tru},"b":1}"#, &unread).is_err());
        assert!(parse_leaving_out(r#"{"tlsDetails":1} x"#, &unread).is_err());
        let odd = r#"{"tlsDetails":"\ud800","eventName":"\ud800","n":1e999}"#;
        let (v, r) = parse_leaving_out(odd, &unread).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"eventName": "\u{fffd}", "n": "1e999"})
        );
        assert_eq!(r, [Repair::LoneSurrogate, Repair::HugeNumber]);
        // Not an object: parsed whole, as before (the evaluator refuses it).
        let list = parse_leaving_out("[1]", &unread).unwrap().0;
        assert_eq!(list, serde_json::json!([1]));
    }

    #[test]
    fn numbers_out_of_range_are_kept_as_strings() {
        let (v, r) =
            parse_repaired(r#"{"a":1e400,"b":{"c":[-2E+999,3]},"eventName":"CreateUser"}"#)
                .unwrap();
        assert_eq!(v["a"], "1e400");
        assert_eq!(v["b"]["c"][0], "-2E+999");
        assert_eq!(v["b"]["c"][1], 3);
        assert_eq!(v["eventName"], "CreateUser");
        assert_eq!(r, [Repair::HugeNumber]);
        let (_, r) = parse_repaired("{\"a\":\"\\ud800\",\"n\":1e999}").unwrap();
        assert_eq!(r, [Repair::LoneSurrogate, Repair::HugeNumber]);
        assert!(parse_repaired("{\"a\": tru}").is_err());
    }

    #[test]
    fn envelope_is_derived() {
        let r = Record::parse(Cow::Borrowed(
            r#"{"eventSource":"iam.amazonaws.com","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333","awsRegion":"us-east-1","eventTime":"2024-01-01T00:00:00Z","eventID":"e1"}"#,
        ))
        .unwrap();
        assert_eq!(
            r.envelope_member("source").unwrap().as_str(),
            Some("aws.iam")
        );
        assert_eq!(
            r.envelope_member("detail-type").unwrap().as_str(),
            Some("AWS Console Sign In via CloudTrail")
        );
        assert_eq!(
            r.envelope_member("account").unwrap().as_str(),
            Some("111122223333")
        );
        assert_eq!(
            r.envelope_member("region").unwrap().as_str(),
            Some("us-east-1")
        );
        assert_eq!(r.envelope_member("version").unwrap().as_str(), Some("0"));
        assert_eq!(
            r.envelope_member("detail").unwrap().get("eventID").unwrap(),
            "e1"
        );
        assert!(r.envelope_member("nope").is_none());
        // Each envelope member is made from the member its reads name, and from no other.
        for key in [
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "version",
        ] {
            let Reads::Members(from) = reads_through_envelope(&[(key.into(), Reads::Anything)])
            else {
                panic!("{key} reads a few members")
            };
            for m in r.value.as_object().unwrap().keys() {
                let mut without = r.value.clone();
                without.as_object_mut().unwrap().remove(m);
                let other = Record {
                    text: Cow::Borrowed(""),
                    value: without,
                    event: None,
                };
                let changed = other.envelope_member(key) != r.envelope_member(key);
                assert_eq!(changed, from.contains(m), "{key} without {m}");
            }
        }
        assert_eq!(
            eventbridge_source("cloudtrail-data.amazonaws.com"),
            "aws.cloudtrail-data"
        );
    }
}
