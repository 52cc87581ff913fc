//! Inputs that used to lose alerts without a word, through the `files` source and `scan`: a file
//! read while it is being written, records an attacker made hard to parse, bad bytes, a
//! decompression bomb and a huge record. Each ends in an alert, or in a loud, located note.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::support::fake_cloudtrail::record;
use crate::support::T0;
use jiff::Timestamp;
use trailwatch::alert::Kind;
use trailwatch::config::{Config, SourceText};
use trailwatch::poll::Judge;
use trailwatch::poll::{poll_folder, NoteKind, PollReport};
use trailwatch::rules::{Evaluator, RuleSet};
use trailwatch::source::files::Folder;
use trailwatch::source::SourceSpec;
use trailwatch::state::State;

struct Setup {
    _dir: tempfile::TempDir,
    trail: std::path::PathBuf,
    spec: Arc<SourceSpec>,
    folder: Folder,
    state: State,
    eval: Judge,
}

fn setup(extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    std::fs::create_dir_all(&trail).unwrap();
    let src = SourceText {
        name: "c.toml".into(),
        text: format!(
            "[[sources]]\nname = \"files\"\ntype = \"files\"\npath = \"{}\"\n{extra}\n",
            trail.display()
        ),
    };
    let cfg = Config::parse(&src).unwrap();
    let spec = Arc::new(SourceSpec::parse(&cfg.sources[0], &src).unwrap());
    let folder = Folder::new(trail.clone(), spec.limits);
    let state = State::open(&dir.path().join("state")).unwrap();
    let mut rules = RuleSet::default();
    rules.add_spec("default").unwrap();
    rules.add_config(&cfg, &src).unwrap();
    Setup {
        _dir: dir,
        trail,
        spec,
        folder,
        state,
        eval: Judge::every_sink(Evaluator::new(rules), &["out"]),
    }
}

impl Setup {
    fn look(&mut self) -> PollReport {
        poll_folder(
            &self.spec,
            &mut self.folder,
            &self.eval,
            &self.state,
            Timestamp::now(),
            &AtomicBool::new(false),
        )
        .unwrap()
    }

    fn outbox(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .state
            .outbox()
            .unwrap()
            .into_iter()
            .map(|(_, e)| e.alert.event_id)
            .collect();
        ids.sort();
        ids
    }
}

fn create_user(id: &str) -> String {
    crate::support::create_user(id, T0)
}

fn delivery(records: &[String]) -> String {
    crate::support::delivery_file(records)
}

fn write(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn a_file_seen_while_it_is_written_loses_nothing() {
    let mut s = setup("");
    let recs: Vec<String> = (0..4).map(|i| create_user(&format!("cu-{i}"))).collect();
    let whole = delivery(&recs);
    // The copy has written the first two records; its text ends in `}`.
    let cut = whole.find(&recs[2]).unwrap() - 1;
    assert!(whole[..cut].ends_with('}'));
    let path = s.trail.join("111122223333_CloudTrail_us-east-1_a.json");
    write(&path, &whole.as_bytes()[..cut]);
    assert_eq!(
        s.look().windows,
        0,
        "a file seen for the first time is not read yet"
    );
    write(&path, &whole.as_bytes()[cut..]);
    assert_eq!(s.look().windows, 0, "it changed since the last look");
    let rep = s.look();
    assert_eq!((rep.windows, rep.raised), (1, 4));
    assert_eq!(s.outbox(), ["cu-0", "cu-1", "cu-2", "cu-3"]);
    assert_eq!(s.look().windows, 0, "read once");
}

#[test]
fn a_file_that_stalls_half_written_is_read_again_when_it_completes() {
    let mut s = setup("");
    let recs: Vec<String> = (0..4).map(|i| create_user(&format!("cu-{i}"))).collect();
    let whole = delivery(&recs);
    let cut = whole.find(&recs[2]).unwrap() - 1;
    let path = s.trail.join("a.json");
    write(&path, &whole.as_bytes()[..cut]);
    s.look();
    // Unchanged at the next look: read, as far as it goes, and said to be incomplete.
    let rep = s.look();
    assert_eq!(rep.raised, 2);
    assert_eq!(rep.note_counts.get(&NoteKind::Unread), Some(&1));
    assert!(rep.notes[0].what.contains("incomplete"), "{:?}", rep.notes);
    assert_eq!(
        s.look().windows,
        0,
        "not read again while it does not change"
    );
    write(&path, &whole.as_bytes()[cut..]);
    s.look();
    let rep = s.look();
    assert_eq!((rep.raised, rep.repeated), (2, 2));
    assert_eq!(s.outbox().len(), 4);
}

#[test]
fn json_lines_are_read_as_they_grow_up_to_the_last_complete_line() {
    let mut s = setup("");
    let path = s.trail.join("stream.jsonl");
    write(
        &path,
        format!("{}\n{}", create_user("a"), &create_user("b")[..40]).as_bytes(),
    );
    let rep = s.look();
    assert_eq!(rep.raised, 1, "the complete line only");
    write(&path, format!("{}\n", &create_user("b")[40..]).as_bytes());
    let rep = s.look();
    assert_eq!((rep.raised, rep.repeated, rep.records), (1, 0, 1));
    write(&path, format!("{}\n", create_user("c")).as_bytes());
    assert_eq!(s.look().raised, 1);
    assert_eq!(s.outbox(), ["a", "b", "c"]);
}

#[test]
fn records_made_hard_to_parse_still_alert_and_are_said_with_their_place() {
    let mut s = setup("");
    // Nesting deeper than serde_json accepts (128), written by hand.
    let deep = create_user("deep").replace(
        "\"requestParameters\":{\"userName\":\"mallory\"}",
        &format!(
            "\"requestParameters\":{}1{}",
            "[".repeat(300),
            "]".repeat(300)
        ),
    );
    assert!(deep.contains("[[[["));
    let huge = create_user("huge").replace("\"eventVersion\":\"1.08\"", "\"eventVersion\":1e400");
    let no_id = create_user("x").replace("\"eventID\":\"x\",", "");
    let num_id = create_user("x").replace("\"eventID\":\"x\"", "\"eventID\":12345");
    let null_id = create_user("x").replace("\"eventID\":\"x\"", "\"eventID\":null");
    let obj_id = create_user("x").replace("\"eventID\":\"x\"", "\"eventID\":{\"a\":1}");
    let lines = [deep, huge, no_id, num_id, null_id, obj_id].join("\n");
    std::fs::write(s.trail.join("old.jsonl"), lines).unwrap();
    let mut rep = s.look();
    assert_eq!(
        rep.raised, 5,
        "the last line has no newline yet: {:?}",
        rep.notes
    );
    // Unchanged at the next look: the last line is complete.
    let last = s.look();
    assert_eq!(last.raised, 1);
    for (k, v) in last.note_counts {
        *rep.note_counts.entry(k).or_default() += v;
    }
    rep.notes.extend(last.notes);
    let ids = s.outbox();
    assert!(
        ids.contains(&"deep".to_string()) && ids.contains(&"huge".to_string()),
        "{ids:?}"
    );
    assert!(ids.contains(&"12345".to_string()), "{ids:?}");
    assert_eq!(
        ids.iter()
            .filter(|i| i.starts_with("trailwatch-noid-"))
            .count(),
        3,
        "{ids:?}"
    );
    assert_eq!(rep.note_counts.get(&NoteKind::NoEventId), Some(&4));
    assert_eq!(rep.note_counts.get(&NoteKind::Repaired), Some(&2));
    let places: Vec<&str> = rep.notes.iter().map(|n| n.place.as_str()).collect();
    assert!(
        places.iter().any(|p| p.ends_with("old.jsonl:1")),
        "{places:?}"
    );
    assert!(
        places.iter().any(|p| p.ends_with("old.jsonl:6")),
        "{places:?}"
    );
}

#[test]
fn an_unreadable_record_that_holds_a_rules_literals_is_a_possible_match() {
    let mut s = setup("");
    // A syntax error inside a record a rule would match.
    let broken = create_user("broken").replacen('{', "{\"x\":tru,", 1);
    std::fs::write(s.trail.join("b.jsonl"), format!("{broken}\n")).unwrap();
    let rep = s.look();
    assert_eq!(rep.raised, 1, "{:?}", rep.notes);
    assert_eq!(rep.note_counts.get(&NoteKind::Unreadable), Some(&1));
    assert_eq!(s.outbox(), ["broken"], "its eventID is read from the text");
    let e = &s.state.outbox().unwrap()[0].1;
    assert!(
        matches!(e.alert.kind, Kind::Possible { .. }),
        "{:?}",
        e.alert.kind
    );
    assert_eq!(e.alert.record, broken, "the record's text as read");
}

#[test]
fn a_byte_order_mark_and_a_bad_byte_keep_the_files_valid_matches() {
    let mut s = setup("");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    let bad = create_user("bad-byte").replace("aws-cli/2", "aws-cli/\u{1}2");
    let file =
        delivery(&[create_user("first"), bad, create_user("last")]).replace('\u{1}', "\u{7f}");
    let mut body = file.into_bytes();
    let at = body.iter().position(|b| *b == 0x7f).unwrap();
    body[at] = 0xff;
    bytes.extend_from_slice(&body);
    std::fs::write(s.trail.join("bom.json"), &bytes).unwrap();
    s.look();
    let rep = s.look();
    assert_eq!(rep.raised, 3, "{:?}", rep.notes);
    assert_eq!(s.outbox(), ["bad-byte", "first", "last"]);
    assert!(
        rep.notes.iter().any(|n| n.what.contains("invalid UTF-8")),
        "{:?}",
        rep.notes
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_decompression_bomb_is_read_up_to_the_limit_once_and_said() {
    let mut s = setup("max_file_bytes = 1_000_000");
    // 8 MB of records once inflated; the limit is 1 MB.
    let mut text = String::from("{\"Records\":[");
    text.push_str(&create_user("in-first-mb"));
    let noise = record("n", "DescribeInstances", T0, false).record;
    while text.len() < 8_000_000 {
        text.push(',');
        text.push_str(&noise);
    }
    text.push(',');
    text.push_str(&create_user("past-the-limit"));
    text.push_str("]}");
    let gz = gzip(text.as_bytes());
    assert!(gz.len() < 200_000);
    std::fs::write(s.trail.join("bomb.json.gz"), &gz).unwrap();
    // A truncated gzip beside it.
    std::fs::write(
        s.trail.join("cut.json.gz"),
        &gzip(delivery(&[create_user("cut")]).as_bytes())[..30],
    )
    .unwrap();
    s.look();
    let rep = s.look();
    assert_eq!(s.outbox(), ["in-first-mb"]);
    assert_eq!(
        rep.note_counts.get(&NoteKind::Unread),
        Some(&2),
        "{:?}",
        rep.notes
    );
    assert!(
        rep.notes
            .iter()
            .any(|n| n.what.contains("longer than 1000000 bytes")),
        "{:?}",
        rep.notes
    );
    assert!(
        rep.notes.iter().any(|n| n.place.ends_with("cut.json.gz")),
        "{:?}",
        rep.notes
    );
    assert!(rep.records < 3_000, "stopped at the limit: {}", rep.records);
    let again = s.look();
    assert_eq!(
        (again.windows, again.records),
        (0, 0),
        "neither is inflated again"
    );
}

#[test]
fn a_huge_record_is_reduced_alerted_and_kept_small_in_the_outbox() {
    let mut s = setup("max_record_bytes = 65536");
    let huge = create_user("huge").replace("aws-cli/2", &"A".repeat(5_000_000));
    std::fs::write(
        s.trail.join("h.json"),
        delivery(&[huge, create_user("after")]),
    )
    .unwrap();
    s.look();
    let rep = s.look();
    assert_eq!(s.outbox(), ["after", "huge"], "{:?}", rep.notes);
    let big = s
        .state
        .outbox()
        .unwrap()
        .into_iter()
        .find(|(_, e)| e.alert.event_id == "huge")
        .unwrap()
        .1;
    assert!(
        big.alert.record.len() < 70_000,
        "{} bytes in the outbox",
        big.alert.record.len()
    );
    assert!(big.alert.record.contains("elided"));
    assert_eq!(rep.note_counts.get(&NoteKind::Repaired), Some(&1));
}

#[test]
fn a_huge_record_whose_elided_part_holds_a_rules_literals_is_a_possible_match() {
    // The rule looks inside requestParameters; the attacker pads that member past the limits,
    // so it is elided from the record that is kept.
    let mut s = setup(
        "max_record_bytes = 65536\n\n[[rules]]\nname = \"admin-attached\"\nfilter = '{ $.requestParameters.policyArn = \"*AdministratorAccess*\" }'\n",
    );
    let rec = record("padded", "AttachUserPolicy", T0, false).record.replacen(
        "\"requestParameters\":",
        &format!(
            "\"requestParameters\":{{\"pad\":\"{}\",\"policyArn\":\"arn:aws:iam::aws:policy/AdministratorAccess\"}},\"was\":",
            "x".repeat(3_000_000)
        ),
        1,
    );
    assert!(
        rec.contains("AdministratorAccess"),
        "the record has requestParameters"
    );
    // A huge record without the literal is not a possible match.
    let plain = rec
        .replace("AdministratorAccess", "ReadOnlyAccess")
        .replace("padded", "plain");
    std::fs::write(s.trail.join("h.json"), delivery(&[rec, plain])).unwrap();
    s.look();
    let rep = s.look();
    let out = s.state.outbox().unwrap();
    let alerts: Vec<(&str, &str)> = out
        .iter()
        .map(|(_, e)| (e.alert.rule.as_str(), e.alert.event_id.as_str()))
        .collect();
    assert_eq!(alerts, [("admin-attached", "padded")], "{:?}", rep.notes);
    assert!(matches!(out[0].1.alert.kind, Kind::Possible { .. }));
    assert_eq!(rep.note_counts.get(&NoteKind::Unreadable), Some(&1));
    assert_eq!(rep.note_counts.get(&NoteKind::Repaired), Some(&2));
}

#[test]
fn scan_keeps_the_valid_matches_of_a_file_with_bad_bytes_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(
        delivery(&[
            create_user("a"),
            create_user("b").replace("aws-cli/2", "aws-cli/\u{7f}"),
        ])
        .as_bytes(),
    );
    let at = body.iter().position(|b| *b == 0x7f).unwrap();
    body[at] = 0xff;
    let f = dir.path().join("bad.json");
    std::fs::write(&f, &body).unwrap();
    let o = crate::support::run(&["scan", f.to_str().unwrap()], None);
    let ids: Vec<String> = crate::support::matches(&o)
        .iter()
        .map(|m| m["eventID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    let err = crate::support::stderr(&o);
    assert!(err.contains("invalid UTF-8"), "{err}");
    assert_eq!(
        o.status.code(),
        Some(1),
        "input that was not read as it was: exit 1"
    );
}

/// Files whose shape is not a delivery file: empty, `Records` an object, a string, null.
fn odd_shapes(dir: &Path) {
    let rec = create_user("inside-an-object");
    for (name, text) in [
        ("empty.json", String::new()),
        ("object.json", format!("{{\"Records\":{rec}}}")),
        ("string.json", "{\"Records\":\"AAAA\"}".to_string()),
        ("null.json", "{\"Records\":null}".to_string()),
    ] {
        crate::support::write_old(&dir.join(name), &text);
    }
}

#[test]
fn files_of_the_wrong_shape_are_said_counted_and_what_they_hold_judged() {
    let mut s = setup("");
    odd_shapes(&s.trail);
    let rep = s.look();
    assert_eq!(s.outbox(), ["inside-an-object"], "{:?}", rep.notes);
    let said: Vec<String> = rep
        .notes
        .iter()
        .map(|n| format!("{} {}", n.place, n.what))
        .collect();
    for f in ["empty.json", "object.json", "string.json", "null.json"] {
        assert!(
            said.iter().any(|n| n.contains(f)),
            "{f} not said: {said:#?}"
        );
    }
    assert!(said.iter().any(|n| n.contains("empty")), "{said:#?}");
    assert!(
        said.iter().any(|n| n.contains("`Records` is a string")),
        "{said:#?}"
    );
    assert_eq!(rep.note_counts.get(&NoteKind::Shape), Some(&3), "{said:#?}");
    assert_eq!(
        rep.note_counts.get(&NoteKind::Skipped),
        Some(&1),
        "{said:#?}"
    );
}

#[test]
fn scan_exits_1_naming_files_of_the_wrong_shape() {
    let dir = tempfile::tempdir().unwrap();
    odd_shapes(dir.path());
    let o = crate::support::run(&["scan", dir.path().to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1), "{}", crate::support::text(&o));
    let err = crate::support::stderr(&o);
    for f in ["empty.json", "object.json", "string.json", "null.json"] {
        assert!(err.contains(f), "{f} not named: {err}");
    }
    let ids: Vec<String> = crate::support::matches(&o)
        .iter()
        .map(|m| m["eventID"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(ids, ["inside-an-object"], "the record inside is judged");
}
