//! The shapes CloudTrail data comes in, and the records each holds: S3 delivery files
//! (`{"Records":[…]}`), single records, arrays, EventBridge events (the record is `detail`),
//! and the output of `aws cloudtrail lookup-events` (`{"Events":[{"CloudTrailEvent":"…"}]}`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// One record found in a JSON value.
#[derive(Debug)]
pub struct RawRecord<'a> {
    /// The record's JSON text.
    pub text: Cow<'a, str>,
    /// The EventBridge event around it, when the input held events.
    pub event: Option<&'a str>,
    /// Its index in a `Records`/`Events`/array container.
    pub index: Option<usize>,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<&'a RawValue>>,
    #[serde(rename = "Events", default)]
    events: Option<Vec<LookupEvent>>,
    #[serde(rename = "detail-type", borrow, default)]
    detail_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct LookupEvent {
    #[serde(rename = "CloudTrailEvent")]
    cloudtrail_event: Option<String>,
}

/// A `Records` or `Events` member of any type (the shapes CloudTrail does not deliver).
#[derive(Deserialize)]
struct OddProbe<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<&'a RawValue>,
    #[serde(rename = "Events", borrow, default)]
    events: Option<&'a RawValue>,
}

/// The records of a value whose `Records` (or `Events`) is not a list: the one record of
/// `{"Records": {…}}` is judged (`odd_container` says what is wrong); a string, a number or a
/// boolean holds none. `None` when the value is not of that shape.
fn odd_records(text: &str) -> Option<Vec<RawRecord<'_>>> {
    let probe: OddProbe = serde_json::from_str(text).ok()?;
    if let Some(r) = probe.records {
        return Some(match r.get().trim_start().as_bytes().first() {
            Some(b'{') => vec![RawRecord {
                text: Cow::Borrowed(r.get()),
                event: None,
                index: Some(0),
            }],
            _ => Vec::new(),
        });
    }
    let e = probe.events?;
    let Ok(one) = serde_json::from_str::<LookupEvent>(e.get()) else {
        return Some(Vec::new());
    };
    Some(
        one.cloudtrail_event
            .map(|s| RawRecord {
                text: Cow::Owned(s),
                event: None,
                index: Some(0),
            })
            .into_iter()
            .collect(),
    )
}

/// What is odd about the shape of a JSON value that names a `Records` or `Events` container
/// whose value is not a list (`{"Records": {…}}`, `{"Records": null}`), if anything: such a file
/// is not what CloudTrail delivers, and must be said. Cheap for the common shapes (a delivery
/// file that starts with `{"Records":[`, a record that names no container).
pub(crate) fn odd_container(text: &str) -> Option<String> {
    let t = text.trim_start();
    let fast = t
        .strip_prefix('{')
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix("\"Records\""))
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix(':'))
        .is_some_and(|r| r.trim_start().starts_with('['));
    if fast || !(t.contains("\"Records\"") || t.contains("\"Events\"")) {
        return None;
    }
    // Every member, so that a `null` is told from an absent member.
    let members: std::collections::HashMap<String, &RawValue> = serde_json::from_str(t).ok()?;
    let say = |name: &str, v: &RawValue| {
        let what = match v.get().trim_start().as_bytes().first() {
            Some(b'[') => return None,
            Some(b'{') => "an object (judged as one record)",
            Some(b'"') => "a string",
            Some(b'n') => "null",
            Some(b't' | b'f') => "a boolean",
            _ => "a number",
        };
        Some(format!(
            "`{name}` is {what}, not a list of records: not the shape CloudTrail delivers"
        ))
    };
    members
        .get("Records")
        .and_then(|r| say("Records", r))
        .or_else(|| members.get("Events").and_then(|e| say("Events", e)))
}

/// The elements of a container, as records numbered by their index.
fn indexed(items: Vec<&RawValue>) -> Vec<RawRecord<'_>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, r)| RawRecord {
            text: Cow::Borrowed(r.get()),
            event: None,
            index: Some(i),
        })
        .collect()
}

/// The records held by one JSON value, whatever its shape. Syntax errors are returned with
/// serde_json's line and column, relative to `text`.
pub(crate) fn records(text: &str) -> Result<Vec<RawRecord<'_>>, String> {
    let first = text.trim_start().as_bytes().first().copied();
    if first == Some(b'[') {
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        return Ok(indexed(items));
    }
    if first != Some(b'{') {
        return Err("not a JSON object".into());
    }
    // A text that names no container and no event member (not even escaped) is one record:
    // most are, and the probe below is a pass over the whole text.
    // The finders are made once: making one costs more than searching a record with it.
    static NAMES: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 4]> =
        std::sync::LazyLock::new(|| {
            ["Records", "Events", "detail", "\\u"].map(memchr::memmem::Finder::new)
        });
    if !NAMES.iter().any(|f| f.find(text.as_bytes()).is_some()) {
        return Ok(vec![RawRecord {
            text: Cow::Borrowed(text),
            event: None,
            index: None,
        }]);
    }
    // A value that does not parse is judged as a record (the evaluator says why it cannot be
    // read, and which rules it might match).
    let Ok(probe) = serde_json::from_str::<Probe>(text) else {
        if let Some(inner) = odd_records(text) {
            return Ok(inner);
        }
        return Ok(vec![RawRecord {
            text: Cow::Borrowed(text),
            event: None,
            index: None,
        }]);
    };
    if let Some(recs) = probe.records {
        return Ok(indexed(recs));
    }
    if let Some(events) = probe.events {
        return events
            .into_iter()
            .enumerate()
            .map(|(i, e)| match e.cloudtrail_event {
                Some(s) => Ok(RawRecord {
                    text: Cow::Owned(s),
                    event: None,
                    index: Some(i),
                }),
                None => Err(format!("Events[{i}] has no CloudTrailEvent")),
            })
            .collect();
    }
    if let (Some(_), Some(detail)) = (probe.detail_type, probe.detail) {
        return Ok(vec![RawRecord {
            text: Cow::Borrowed(detail.get()),
            event: Some(text),
            index: None,
        }]);
    }
    Ok(vec![RawRecord {
        text: Cow::Borrowed(text),
        event: None,
        index: None,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let r = records(r#"{"Records":[{"eventID":"a"},{"eventID":"b"}]}"#).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].text, r#"{"eventID":"b"}"#);
        let r = records(r#"{"Events":[{"EventId":"x","CloudTrailEvent":"{\"eventID\":\"x\"}"}]}"#)
            .unwrap();
        assert_eq!(r[0].text, r#"{"eventID":"x"}"#);
        let ev = r#"{"detail-type":"AWS API Call via CloudTrail","source":"aws.iam","detail":{"eventID":"y"}}"#;
        let r = records(ev).unwrap();
        assert_eq!(r[0].text, r#"{"eventID":"y"}"#);
        assert_eq!(r[0].event, Some(ev));
        let r = records(r#"{"eventID":"z","detail":1}"#).unwrap();
        assert_eq!(
            r[0].event, None,
            "a record with a detail member is not an event"
        );
        assert_eq!(records("[{},{}]").unwrap().len(), 2);
        assert_eq!(
            records(r#"{"eventID":"#).unwrap().len(),
            1,
            "judged, and refused, as a record"
        );
        assert!(records("5").is_err());
        // A plain record is taken as it is; an escaped member name is still a container.
        let plain = r#"{"eventID":"p","eventName":"GetObject"}"#;
        assert_eq!(records(plain).unwrap()[0].text, plain);
        let escaped = r#"{"\u0052ecords":[{"eventID":"a"},{"eventID":"b"}]}"#;
        assert_eq!(records(escaped).unwrap().len(), 2);
        let event = r#"{"detail-type":"x","det\u0061il":{"eventID":"y"}}"#;
        assert_eq!(records(event).unwrap()[0].text, r#"{"eventID":"y"}"#);
    }

    #[test]
    fn containers_of_the_wrong_shape_are_said_and_their_record_judged() {
        assert_eq!(odd_container(r#"{"Records":[{"eventID":"a"}]}"#), None);
        assert_eq!(odd_container(r#"{"eventID":"a","eventName":"x"}"#), None);
        let one = r#"{"Records":{"eventID":"a","eventName":"CreateUser"}}"#;
        assert!(odd_container(one)
            .unwrap()
            .contains("`Records` is an object"));
        let r = records(one).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].text, r#"{"eventID":"a","eventName":"CreateUser"}"#);
        for (text, what) in [
            (r#"{"Records":"x"}"#, "a string"),
            (r#"{"Records":5}"#, "a number"),
            (r#"{ "Events" : true }"#, "a boolean"),
        ] {
            assert!(odd_container(text).unwrap().contains(what), "{text}");
            assert!(records(text).unwrap().is_empty(), "{text}");
        }
        // null reads as no container: judged as itself (it matches nothing), and said.
        assert!(odd_container(r#"{"Records":null}"#)
            .unwrap()
            .contains("null"));
    }
}
