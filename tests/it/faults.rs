//! Faults of a bad day in production, through the binary: a damaged or emptied state, power
//! loss (the flush must reach the disk), a full disk, old events, an SMTP server that hangs, a
//! rotated webhook, a reload or stop in the middle of work, alerts with nowhere to go, and
//! configurations `check` must refuse as `run` does. Each ends in delivered alerts or a loud,
//! specific error.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::fake_cloudtrail::record;
use crate::support::servers::{smtp_mode, Proc, Receiver};
use crate::support::{bin, create_user, files_config, signal, text, write_old, T0};

/// `files_config` with what these tests share: no grouping, English.
fn setup(records: &[String], sinks: &str, extra: &str) -> (tempfile::TempDir, PathBuf) {
    files_config(
        records,
        &format!("group_window = \"0s\"\nlanguage = \"en\"\n{extra}"),
        sinks,
    )
}

fn hook(url: &str) -> String {
    format!("[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{url}\"\nretry_initial = \"50ms\"\n")
}

fn once(cfg: &Path) -> Output {
    bin()
        .args(["run", "--once", "--config"])
        .arg(cfg)
        .output()
        .unwrap()
}

#[test]
fn an_emptied_or_damaged_state_is_refused_with_advice_not_taken_as_new() {
    let r = Receiver::start(0, vec![]);
    let (dir, cfg) = setup(&[create_user("a", T0)], &hook(&r.url), "");
    assert!(once(&cfg).status.success());
    assert_eq!(r.received().len(), 1);
    // The database's files deleted (its snapshot, its log): a fresh start would send every
    // alert again.
    let db = dir.path().join("state/db");
    for f in std::fs::read_dir(&db).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            std::fs::remove_file(p).unwrap();
        }
    }
    let o = once(&cfg);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o);
    assert!(
        err.contains("is empty, but it held data before") && err.contains("Restore"),
        "{err}"
    );
    assert_eq!(r.received().len(), 1, "nothing sent again");
    // Other damage: said once, with advice.
    std::fs::write(db.join("conf"), b"\x00garbage\xff").unwrap();
    std::fs::write(db.join("db"), vec![0xAB; 4096]).unwrap();
    let err = text(&once(&cfg));
    assert!(
        err.contains("may be damaged") && err.contains("move it aside"),
        "{err}"
    );
    let first = err
        .lines()
        .find(|l| l.contains("cannot open the state database"))
        .unwrap();
    let cause = first
        .split(": ")
        .nth(2)
        .unwrap_or("")
        .split(" — ")
        .next()
        .unwrap();
    assert_eq!(
        err.matches(cause).count(),
        1,
        "the cause is printed once: {err}"
    );
}

#[test]
fn a_flush_reaches_the_disk_not_only_the_page_cache() {
    // A shim logs every fsync/fdatasync/sync_file_range with the file it was for.
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("fsync_log.so");
    let c = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/fsync_log.c");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .arg("-ldl")
        .status()
        .expect("a C compiler (cc) is on the machine");
    assert!(built.success());
    let r = Receiver::start(0, vec![]);
    let (run_dir, cfg) = setup(&[create_user("a", T0)], &hook(&r.url), "");
    let log = dir.path().join("fsync.log");
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .env("LD_PRELOAD", &so)
        .env("FSYNC_LOG", &log)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let calls = std::fs::read_to_string(&log).unwrap();
    let db = run_dir.path().join("state/db");
    let fsynced = |p: &Path| {
        calls
            .lines()
            .any(|l| l.starts_with("fsync ") && l.ends_with(&format!(" {}", p.display())))
    };
    assert!(fsynced(&db.join("db")), "the log file is fsynced: {calls}");
    assert!(fsynced(&db), "its directory is fsynced: {calls}");
    assert!(
        fsynced(&run_dir.path().join("state")),
        "the manifest's directory is fsynced: {calls}"
    );
}

#[test]
fn a_full_disk_is_said_recovered_from_and_sends_nothing_twice() {
    let r = Receiver::start(0, vec![]);
    let port = crate::support::servers::free_port();
    let (dir, cfg) = setup(
        &[],
        &hook(&r.url),
        &format!("health_after = \"1s\"\nmetrics_address = \"127.0.0.1:{port}\""),
    );
    let mut d = Proc(
        bin()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut logs = crate::support::Logs::of(d.0.stderr.take().unwrap());
    logs.until("trailwatch running", Duration::from_secs(30));
    // The disk is full: no file of the process may grow past its current size (RLIMIT_FSIZE,
    // a real write error from the kernel, as ENOSPC would be).
    let db = dir.path().join("state/db/db");
    let size = std::fs::metadata(&db).unwrap().len();
    let pid = d.0.id().to_string();
    let limit = |soft: &str| {
        let ok = Command::new("prlimit")
            .args(["--pid", &pid, &format!("--fsize={soft}:unlimited")])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    limit(&size.to_string());
    // 400 alerts of 2 KB: more than the log's free room.
    let recs: Vec<String> = (0..400)
        .map(|i| create_user(&format!("cu-{i:03}"), T0 + i))
        .collect();
    write_old(
        &dir.path().join("trail/big.json"),
        &format!("{{\"Records\":[{}]}}", recs.join(",")),
    );
    let log = logs.until("cannot be written", Duration::from_secs(30));
    assert!(log.contains("File too large"), "{log}");
    let m = get(port);
    assert!(m.contains("trailwatch_state_writable 0"), "{m}");
    // The outage is told (the state's own health alert, sent directly while it is down),
    // although reopening the state works for a moment before the next write fails again.
    let told = |r: &Receiver| {
        r.received()
            .iter()
            .any(|g| g.body.contains("trailwatch: state database failing"))
    };
    assert!(
        r.wait_for(told, Duration::from_secs(30)),
        "{:?}",
        r.received()
    );
    // Space returns: the daemon opens the state again and everything goes out, once.
    limit("unlimited");
    logs.until("works again", Duration::from_secs(60));
    let all = |r: &Receiver| {
        r.event_ids()
            .iter()
            .filter(|i| i.starts_with("cu-"))
            .count()
            >= 400
    };
    assert!(
        r.wait_for(all, Duration::from_secs(60)),
        "{} delivered",
        r.received().len()
    );
    // "works again" is said once writes have worked for 10 s: the state is writable.
    assert!(get(port).contains("trailwatch_state_writable 1"));
    signal(&d.0, 15);
    assert!(d.0.wait().unwrap().success());
    let mut ids: Vec<String> = r
        .event_ids()
        .into_iter()
        .filter(|i| i.starts_with("cu-"))
        .collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((ids.len(), total), (400, 400), "every alert once");
}

fn get(port: u16) -> String {
    crate::support::http_get(port, "/metrics")
}

#[test]
fn old_events_are_not_alerted_again_after_their_keys_would_have_expired() {
    let r = Receiver::start(0, vec![]);
    // An event 180 days old, in a file and read by backfill --notify, twice.
    let old = T0 - 180 * 86_400_000;
    let (_dir, cfg) = setup(&[create_user("old-1", old)], &hook(&r.url), "");
    let backfill = || {
        let o = bin()
            .args(["backfill", "--since", "200d", "--notify", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    assert!(backfill().contains("1 new alerts"));
    // The daemon starts (its hourly expiry runs at once) and reads the file too.
    assert!(once(&cfg).status.success());
    let second = backfill();
    assert!(second.contains("0 new alerts"), "{second}");
    assert_eq!(r.received().len(), 1, "sent once");
}

#[test]
fn an_smtp_server_that_greets_then_hangs_is_a_timeout_not_a_hang() {
    let s = smtp_mode("u", "p", "hang");
    let sink = format!(
        "[[sinks]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"none\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\ntimeout = \"2s\"\n",
        s.port
    );
    let (_dir, cfg) = setup(&[], &sink, "");
    for args in [&["notify-test"][..], &["check", "--probe"][..]] {
        let t = std::time::Instant::now();
        let o = bin().args(args).arg("--config").arg(&cfg).output().unwrap();
        let took = t.elapsed();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("no answer within 2s"), "{}", text(&o));
        assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
    }
}

#[test]
fn a_rotated_webhook_is_a_failing_sink_and_its_dead_letters_can_be_sent_again() {
    // The webhook answers 404 (rotated): every alert is parked; the other sink hears about it.
    let rotated = Receiver::start(0, vec![(404, None), (404, None)]);
    let other = Receiver::start(0, vec![]);
    let sinks = format!(
        "{}\n[[sinks]]\nname = \"other\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{}\"\n\n[[rules]]\nname = \"iam-user-lifecycle\"\nevent_pattern = '{{\"detail\": {{\"eventName\": [\"CreateUser\"]}}}}'\nsinks = [\"hook\"]\n",
        hook(&rotated.url),
        other.url
    );
    let recs = [create_user("a", T0), create_user("b", T0 + 1)];
    let (_dir, cfg) = setup(&recs, &sinks, "health_after = \"1s\"");
    let mut d = Proc(
        bin()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(other.wait_ok(1, Duration::from_secs(30)), "no health alert");
    let health = other.received()[0].body.clone();
    assert!(
        health.contains("trailwatch: sink hook failing") && health.contains("HTTP 404"),
        "{health}"
    );
    assert!(health.contains("state redrive"), "{health}");
    signal(&d.0, 15);
    d.0.wait().unwrap();
    let show = |c: &Path| {
        let o = bin()
            .args(["state", "show", "--json", "--config"])
            .arg(c)
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    assert_eq!(show(&cfg)["dead_letters"], 2);
    // The webhook is fixed (the receiver now answers 200): the dead letters go out.
    let o = bin()
        .args(["state", "redrive", "--sink", "hook", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "asks for --yes");
    let o = bin()
        .args(["state", "redrive", "--sink", "hook", "--yes", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        text(&o).contains("2 dead letters back in the outbox"),
        "{}",
        text(&o)
    );
    assert!(once(&cfg).status.success());
    let ids: Vec<String> = rotated
        .event_ids()
        .into_iter()
        .filter(|i| i == "a" || i == "b")
        .collect();
    assert_eq!(
        ids,
        ["a", "b", "a", "b"],
        "refused twice, then delivered once each"
    );
    assert_eq!(show(&cfg)["dead_letters"], 0);
}

#[test]
fn a_rejected_smtp_login_is_a_failing_sink_told_through_the_others() {
    // The SMTP password was changed on the server: AUTH answers 535, every alert is parked.
    let s = crate::support::servers::smtp("alerts", "the-new-password");
    let other = Receiver::start(0, vec![]);
    let sinks = format!(
        "[[sinks]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"starttls\"\nusername = \"alerts\"\npassword = \"the-old-password\"\nca_file = \"{}\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n\n{}\n[[rules]]\nname = \"iam-user-lifecycle\"\nevent_pattern = '{{\"detail\": {{\"eventName\": [\"CreateUser\"]}}}}'\nsinks = [\"mail\"]\n",
        s.port,
        s.cert.display(),
        hook(&other.url),
    );
    let (_dir, cfg) = setup(&[create_user("a", T0)], &sinks, "health_after = \"1s\"");
    let mut d = Proc(
        bin()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let told = |r: &Receiver| {
        r.received()
            .iter()
            .any(|g| g.body.contains("trailwatch: sink mail failing"))
    };
    assert!(
        other.wait_for(told, Duration::from_secs(30)),
        "{:?}",
        other.received()
    );
    let health = other
        .received()
        .into_iter()
        .map(|g| g.body)
        .collect::<String>();
    assert!(
        health.contains("535"),
        "the server's answer is said: {health}"
    );
    assert!(!health.contains("the-old-password"), "{health}");
    signal(&d.0, 15);
    d.0.wait().unwrap();
    assert!(s.messages().is_empty());
}

#[test]
fn a_reload_in_the_middle_of_delivery_sends_nothing_twice() {
    // A slow webhook: each message takes 700 ms, so the reload lands mid-delivery.
    let r = Receiver::start_slow(0, vec![], Duration::from_millis(700));
    let recs: Vec<String> = (0..8)
        .map(|i| create_user(&format!("cu-{i}"), T0 + i))
        .collect();
    let (_dir, cfg) = setup(&recs, &hook(&r.url), "");
    let mut d = Proc(
        bin()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(d.0.stderr.take().unwrap()).lines();
    assert!(r.wait_ok(1, Duration::from_secs(30)));
    signal(&d.0, 1);
    for l in lines.by_ref() {
        if l.unwrap().contains("configuration reloaded") {
            break;
        }
    }
    assert!(r.wait_ok(8, Duration::from_secs(30)));
    signal(&d.0, 15);
    d.0.wait().unwrap();
    let ids = r.event_ids();
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!((ids.len(), distinct.len()), (8, 8), "{ids:?}");
}

#[test]
fn a_stop_while_a_large_file_is_read_is_prompt_and_the_file_is_read_later() {
    let r = Receiver::start(0, vec![]);
    let (dir, cfg) = setup(&[], &hook(&r.url), "");
    // 60 MB of JSON Lines, with one match at the very end.
    let noise = record("n", "DescribeInstances", T0, false).record;
    let mut big = String::with_capacity(61_000_000);
    while big.len() < 60_000_000 {
        big.push_str(&noise);
        big.push('\n');
    }
    big.push_str(&create_user("at-the-end", T0));
    big.push('\n');
    write_old(&dir.path().join("trail/big.jsonl"), &big);
    let mut d = Proc(
        bin()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(d.0.stderr.take().unwrap()).lines();
    for l in lines.by_ref() {
        if l.unwrap().contains("trailwatch running") {
            break;
        }
    }
    let t = std::time::Instant::now();
    signal(&d.0, 15);
    assert!(d.0.wait().unwrap().success());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        t.elapsed()
    );
    // The file was not marked as read: the next run reads it to its end.
    assert!(once(&cfg).status.success());
    assert_eq!(r.event_ids(), ["at-the-end"]);
}

#[test]
fn an_alert_with_nowhere_to_go_is_logged_loudly_with_its_facts() {
    for (sinks, why) in [
        ("", "no sinks"),
        (
            "[[sinks]]\nname = \"out\"\ntype = \"console\"\nmin_severity = \"critical\"\n",
            "below every sink's min_severity",
        ),
        (
            "[[sinks]]\nname = \"out\"\ntype = \"console\"\n\n[[rules]]\nname = \"iam-user-lifecycle\"\nevent_pattern = '{\"detail\": {\"eventName\": [\"CreateUser\"]}}'\nsinks = []\n",
            "a rule with sinks = []",
        ),
    ] {
        let (_dir, cfg) = setup(&[create_user("lost-1", T0)], sinks, "");
        let o = once(&cfg);
        let log = text(&o);
        assert!(o.status.success(), "{why}: {log}");
        assert!(
            log.contains("ALERT WITH NOWHERE TO GO") && log.contains("lost-1") && log.contains("CreateUser"),
            "{why}: {log}"
        );
    }
}

#[test]
fn check_refuses_what_run_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, "").unwrap();
    let cases = [
        (
            "",
            "url = \"env:TRAILWATCH_UNSET_HOOK\"",
            "environment variable TRAILWATCH_UNSET_HOOK is not set",
        ),
        (
            "",
            "url = \"file:/nonexistent/hook\"",
            "cannot read secret file /nonexistent/hook",
        ),
        ("", "url = \"ftp://hook.example.com/x\"", "must be https://"),
        ("", "url = \"not a url\"", "is not a valid URL"),
        (
            "",
            "url = \"https://hook.example.com:99999/x\"",
            "is not a valid URL",
        ),
        (
            &format!("state_dir = \"{}\"", a_file.display()),
            "url = \"https://h.example.com/x\"",
            "is not a directory",
        ),
        (
            "state_dir = \"/proc/trailwatch-state\"",
            "url = \"https://h.example.com/x\"",
            "cannot be written",
        ),
        (
            "max_delivery_age = \"0s\"",
            "url = \"https://h.example.com/x\"",
            "max_delivery_age: must be longer than 0s",
        ),
        (
            "log_level = \"loud\"",
            "url = \"https://h.example.com/x\"",
            "log_level: 'loud' is not a level",
        ),
    ];
    for (top, url, want) in cases {
        let cfg = dir.path().join("c.toml");
        let state = if top.starts_with("state_dir") {
            String::new()
        } else {
            format!("state_dir = \"{}/state\"\n", dir.path().display())
        };
        std::fs::write(
            &cfg,
            format!("{state}{top}\n[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\n{url}\n"),
        )
        .unwrap();
        let check = bin()
            .args(["check", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert_eq!(
            check.status.code(),
            Some(2),
            "{top} {url}: {}",
            text(&check)
        );
        assert!(text(&check).contains(want), "{want}: {}", text(&check));
        let run = once(&cfg);
        assert!(
            !run.status.success(),
            "run accepts what check refused: {top} {url}"
        );
    }
}

#[test]
fn a_reload_cannot_change_the_state_dir() {
    let r = Receiver::start(0, vec![]);
    let (dir, cfg) = setup(&[], &hook(&r.url), "");
    let mut d = Proc(
        bin()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(d.0.stderr.take().unwrap()).lines();
    for l in lines.by_ref() {
        if l.unwrap().contains("trailwatch running") {
            break;
        }
    }
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("{}/state", dir.path().display()),
        &format!("{}/other-state", dir.path().display()),
    );
    std::fs::write(&cfg, text).unwrap();
    signal(&d.0, 1);
    let mut log = String::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        log.push_str(&l);
        if l.contains("rejected") || l.contains("reloaded") {
            break;
        }
    }
    assert!(
        log.contains("state_dir changed") && log.contains("restart trailwatch"),
        "{log}"
    );
    signal(&d.0, 15);
    assert!(d.0.wait().unwrap().success());
}

#[test]
fn run_once_fails_loudly_when_a_stream_could_not_be_read() {
    // Nothing listens there: the stream's poll fails (cron must see it, not exit 0).
    let port = crate::support::servers::free_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}/state\"\n[[sources]]\nname = \"logs\"\ntype = \"cloudwatch_logs\"\nregion = \"us-east-1\"\nlog_group = \"trail\"\nendpoint_url = \"http://127.0.0.1:{port}\"\nretry_attempts = 0\n\n[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    crate::support::fake_cloudtrail::test_aws_env();
    let o = once(&cfg);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("1 stream could not be read in this run")
            && text(&o).contains("logs/trail: logs:FilterLogEvents"),
        "{}",
        text(&o)
    );
}
