//! Shared helpers for the integration tests: running the binary, finding the shared corpus.

#![allow(dead_code)]

pub mod fake_cloudtrail;
pub mod servers;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Sends a signal to a child process (15: SIGTERM, 1: SIGHUP, 9: SIGKILL).
pub fn signal(c: &std::process::Child, sig: i32) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    unsafe { kill(c.id() as i32, sig) };
}

/// The real CloudTrail corpus beside the repository (`../shared/corpus`).
pub fn corpus() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/invictus-aws-dataset");
    assert!(
        p.is_dir(),
        "the shared corpus is missing at {}: the tests need it",
        p.display()
    );
    p
}

/// Runs trailwatch with arguments and optional stdin.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trailwatch"));
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c.spawn().expect("trailwatch starts");
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The scan output lines, parsed.
pub fn matches(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect()
}

/// Every record of the corpus.
pub fn corpus_records() -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        out.extend(v["Records"].as_array().unwrap().iter().cloned());
    }
    out
}
