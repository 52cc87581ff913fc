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
    // A value that does not parse is judged as a record (the evaluator says why it cannot be
    // read, and which rules it might match).
    let Ok(probe) = serde_json::from_str::<Probe>(text) else {
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
    }
}
