//! Shared helpers for the integration tests: running the binary, finding the shared corpus.

#![allow(dead_code)]

pub mod fake_cloudtrail;
pub mod moto_aws;
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

/// A child's log lines, read on a thread of their own (a pipe nobody reads fills, and the
/// child blocks on its next log line).
pub struct Logs {
    rx: std::sync::mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: String,
}

impl Logs {
    pub fn of(stderr: std::process::ChildStderr) -> Logs {
        use std::io::BufRead;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Logs {
            rx,
            seen: String::new(),
        }
    }

    /// Waits (at most `deadline`) for a line containing `what`; the lines read until then.
    pub fn until(&mut self, what: &str, deadline: std::time::Duration) -> String {
        let end = std::time::Instant::now() + deadline;
        let mut read = String::new();
        while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    read.push_str(&l);
                    read.push('\n');
                    self.seen.push_str(&l);
                    self.seen.push('\n');
                    if l.contains(what) {
                        return read;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("'{what}' never logged:\n{}", self.seen);
    }

    /// Every line until the child closed its stderr.
    pub fn rest(&mut self) -> String {
        for l in self.rx.iter() {
            self.seen.push_str(&l);
            self.seen.push('\n');
        }
        self.seen.clone()
    }
}

/// Waits until `cond` holds, asking it every 50 ms, at most `deadline`; true when it held.
/// (For state outside the test's reach, such as a queue's depth, that sends no event.)
pub fn eventually(mut cond: impl FnMut() -> bool, deadline: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
