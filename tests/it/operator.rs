//! What an operator touches besides alerts: the HTTP endpoint (/healthz, /readyz, /metrics,
//! served by a real HTTP server: HEAD, query strings, requests split across segments), the
//! command line's hygiene (broken pipes, no colours in pipes, examples that fit, completions
//! and manual pages, `rules list --config`, `pattern test` on a CloudTrail record).

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use crate::support::servers::{free_port, Receiver};
use crate::support::{
    bin, create_user, eventually, files_config, http_get, http_request, run, spawn_run, stderr,
    stdout, T0,
};

/// The body of a whole HTTP answer.
fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn the_endpoint_says_live_ready_or_why_not_and_serves_metrics() {
    let port = free_port();
    // The webhook refuses the first three deliveries: the sink fails, then heals.
    let r = Receiver::start(0, vec![(500, None); 3]);
    let (_dir, cfg) = files_config(
        &[create_user("cu-1", T0)],
        &format!("metrics_address = \"127.0.0.1:{port}\"\ngroup_window = \"0s\""),
        &format!(
            "[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nurl = \"{}\"\nretry_initial = \"1s\"\nmax_per_second = 0\nstorm_after = 0\n",
            r.url
        ),
    );
    let (_d, mut logs) = spawn_run(&cfg);
    logs.until("trailwatch running", Duration::from_secs(20));
    let health = http_get(port, "/healthz");
    assert!(
        health.starts_with("HTTP/1.1 200") && body(&health) == "ok\n",
        "{health}"
    );
    // While the webhook refuses: not ready, naming the sink and why (never its URL's token).
    let mut last = String::new();
    let failing = eventually(
        || {
            last = http_get(port, "/readyz");
            last.starts_with("HTTP/1.1 503") && last.contains("sink 'hook': failing for")
        },
        Duration::from_secs(20),
    );
    assert!(failing, "{last}");
    assert!(
        last.contains("HTTP 500") && !last.contains("SECRET-TOKEN"),
        "{last}"
    );
    // Once a delivery goes through and the folder is polled: ready.
    let ready = eventually(
        || {
            last = http_get(port, "/readyz");
            last.starts_with("HTTP/1.1 200")
        },
        Duration::from_secs(30),
    );
    assert!(ready && body(&last) == "ready\n", "{last}");
    let m = http_get(port, "/metrics?from=prometheus");
    assert!(
        m.starts_with("HTTP/1.1 200"),
        "a query string is ignored: {m}"
    );
    for want in [
        "content-type: application/openmetrics-text",
        &format!(
            "trailwatch_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
        "trailwatch_records_read_total{source=\"files\",stream=\"\"} 1",
        "trailwatch_messages_sent_total{sink=\"hook\"} 1",
        "trailwatch_delivery_failures_total{sink=\"hook\"} 3",
        "# EOF",
    ] {
        assert!(m.contains(want), "{want} missing:\n{m}");
    }
    // HEAD: the headers, no body.
    let head = http_request(port, "HEAD", "/metrics");
    assert!(
        head.starts_with("HTTP/1.1 200") && body(&head).is_empty(),
        "{head}"
    );
    assert_eq!(
        http_request(port, "POST", "/readyz").lines().next(),
        Some("HTTP/1.1 405 Method Not Allowed")
    );
    assert!(http_get(port, "/nope").starts_with("HTTP/1.1 404"));
    // A request in two segments: nothing is answered until it is whole, then it is answered.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(b"GET /hea").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut early = [0u8; 64];
    assert!(
        s.read(&mut early).is_err(),
        "answered before the request was whole"
    );
    s.write_all(b"lthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut split = String::new();
    let _ = s.read_to_string(&mut split);
    assert!(
        split.starts_with("HTTP/1.1 200") && body(&split) == "ok\n",
        "{split}"
    );
}

#[test]
fn an_address_in_use_stops_the_start_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (_dir, cfg) = files_config(
        &[],
        &format!("metrics_address = \"127.0.0.1:{port}\""),
        "[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
    );
    let mut d = crate::support::servers::Proc(
        bin()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut status = None;
    let ended = eventually(
        || {
            status = d.0.try_wait().unwrap();
            status.is_some()
        },
        Duration::from_secs(20),
    );
    assert!(ended, "the daemon went on without its endpoint");
    let mut err = String::new();
    d.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.unwrap().code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("metrics_address 127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn a_reader_that_stops_early_ends_a_command_quietly() {
    // A pipe whose reading end is closed before the command writes: every write fails.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = bin()
        .args(["rules", "list", "--rules", "default,cis,threats"])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(stderr(&o), "", "no panic, no message");
    assert_eq!(o.status.signal(), Some(13), "ended by SIGPIPE, as `cat` is");
}

#[test]
fn logs_carry_no_colour_codes_into_a_pipe() {
    let (_dir, cfg) = files_config(
        &[create_user("cu-1", T0)],
        "",
        "[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
    );
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(err.contains("INFO"), "info lines are logged: {err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

#[test]
fn help_examples_fit_the_terminal_without_wrapping_a_command() {
    for cmd in ["scan", "run", "backfill", "completions", "rules list"] {
        let args: Vec<&str> = cmd.split(' ').chain(["--help"]).collect();
        let o = run(&args, None);
        let help = stdout(&o);
        let examples = help
            .split_once("Examples:\n")
            .unwrap_or_else(|| panic!("{cmd}: no examples:\n{help}"))
            .1;
        let mut continued = false;
        for line in examples.lines() {
            assert!(line.len() <= 100, "{cmd}: too long: {line}");
            let starts_command = ["  trailwatch ", "  aws ", "  cargo "]
                .iter()
                .any(|p| line.starts_with(p));
            assert!(
                starts_command || (continued && line.starts_with("    ")),
                "{cmd}: a command was wrapped: {line:?}\n{examples}"
            );
            continued = line.ends_with('\\');
        }
    }
}

#[test]
fn completions_and_manual_pages_come_from_the_command_line() {
    for (shell, marker) in [
        ("bash", "_trailwatch()"),
        ("zsh", "#compdef trailwatch"),
        ("fish", "complete -c trailwatch"),
    ] {
        let o = run(&["completions", shell], None);
        let s = stdout(&o);
        assert!(o.status.success() && s.contains(marker), "{shell}: {s}");
        assert!(
            s.contains("notify-test") && s.contains("backfill"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["man", "--out", dir.path().to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(dir.path().join("trailwatch.1")).unwrap();
    assert!(page.contains(".TH trailwatch 1") && page.contains("trailwatch\\-run(1)"));
    assert!(
        page.contains(".SH FILES")
            && page.contains("/etc/trailwatch/config.toml")
            && page.contains(".SH SEE ALSO"),
        "{page}"
    );
    // A rule's name is not a file: its completion offers none.
    let bash = stdout(&run(&["completions", "bash"], None));
    let case = bash
        .split("--rule)")
        .nth(1)
        .unwrap()
        .split(";;")
        .next()
        .unwrap();
    assert!(!case.contains("compgen -f"), "{case}");
    let run_page = std::fs::read_to_string(dir.path().join("trailwatch-run.1")).unwrap();
    assert!(run_page.contains("SIGHUP"), "{run_page}");
    assert!(dir.path().join("trailwatch-rules-list.1").exists());
}

#[test]
fn rules_list_shows_what_a_configuration_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "rule_packs = [\"default\"]\n[vars]\nadmins = [\"arn:aws:iam::111122223333:user/ops\"]\n\n[[rules]]\nname = \"root-usage\"\nenabled = false\n\n[[rules]]\nname = \"admin-keys\"\nevent_pattern = '{\"detail\":{\"eventName\":[\"CreateAccessKey\"],\"userIdentity\":{\"arn\":[\"${admins}\"]}}}'\n",
    )
    .unwrap();
    let o = run(&["rules", "list", "--config", cfg.to_str().unwrap()], None);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .to_string()
    };
    assert!(line("root-usage").contains("disabled"), "{text}");
    assert!(line("iam-user-lifecycle").contains("enabled"), "{text}");
    assert!(line("admin-keys").contains("c.toml"), "{text}");
    assert!(
        text.contains(r#""arn":["arn:aws:iam::111122223333:user/ops"]"#),
        "the variable is filled in: {text}"
    );
    // The configuration every other command reads (TRAILWATCH_CONFIG) is the one listed
    // without --config, and it is said; --rules still lists a pack alone.
    let o = bin()
        .env("TRAILWATCH_CONFIG", &cfg)
        .args(["rules", "list"])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("admin-keys "), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!("the rules of {}", cfg.display())),
        "{}",
        stderr(&o)
    );
    let o = bin()
        .env("TRAILWATCH_CONFIG", &cfg)
        .args(["rules", "list", "--rules", "default"])
        .output()
        .unwrap();
    assert!(!stdout(&o).contains("admin-keys "), "{}", stdout(&o));
}

#[test]
fn pattern_test_puts_a_cloudtrail_record_in_its_envelope_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("record.json");
    std::fs::write(&rec, create_user("cu-1", T0)).unwrap();
    let pattern = r#"{"source":["aws.iam"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventName":["CreateUser"]}}"#;
    let o = run(
        &[
            "pattern",
            "test",
            "--event-pattern",
            pattern,
            rec.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "match\n"));
    assert!(
        stderr(&o).contains("tested inside the EventBridge envelope"),
        "{}",
        stderr(&o)
    );
    // As `scan` judges it.
    let o = run(
        &["scan", "--event-pattern", pattern, rec.to_str().unwrap()],
        None,
    );
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stderr(&o));
    let o = run(
        &[
            "pattern",
            "test",
            "--raw",
            "--event-pattern",
            pattern,
            rec.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(1), "no match\n"),
        "--raw: the record as given has no source"
    );
}

#[test]
fn idle_connections_held_open_by_anyone_do_not_starve_the_daemon() {
    use std::os::unix::net::UnixStream;
    let port = free_port();
    let r = Receiver::start(0, vec![]);
    let (dir, cfg) = files_config(
        &[create_user("before", T0)],
        &format!("metrics_address = \"127.0.0.1:{port}\"\ngroup_window = \"0s\""),
        &format!(
            "[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nurl = \"{}\"\nmax_per_second = 0\nstorm_after = 0\n",
            r.url
        ),
    );
    // Under a limit of 256 descriptors (systemd's default is 1,024), with a thousand
    // connections held open to the endpoint and a hundred to the control socket.
    let mut d = crate::support::servers::Proc(
        std::process::Command::new("prlimit")
            .args(["--nofile=256:256", "--", &crate::support::exe()])
            .args(["run", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .env_remove("TRAILWATCH_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut logs = crate::support::Logs::of(d.0.stderr.take().unwrap());
    logs.until("trailwatch running", Duration::from_secs(20));
    assert!(r.wait_for(|r| r.event_ids() == ["before"], Duration::from_secs(20)));
    let held: Vec<_> = (0..1000)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    let socket = dir.path().join("state/control.sock");
    let control: Vec<_> = (0..100)
        .filter_map(|_| UnixStream::connect(&socket).ok())
        .collect();
    assert!(held.len() > 300 && !control.is_empty(), "{}", held.len());
    // The folder is still read, and the alert goes out.
    crate::support::write_old(
        &dir.path().join("trail/f2.json"),
        &crate::support::delivery_file(&[create_user("during", T0 + 1000)]),
    );
    let got = r.wait_for(
        |r| r.event_ids().iter().any(|i| i == "during"),
        Duration::from_secs(20),
    );
    let seen = logs.rest_now();
    assert!(got, "{seen}");
    assert!(!seen.contains("Too many open files"), "{seen}");
    assert!(
        seen.contains("connections are open"),
        "the refusals are said: {seen}"
    );
    // Once they are gone, the endpoint answers again.
    drop(held);
    drop(control);
    let mut health = String::new();
    assert!(
        eventually(
            || {
                health = http_get(port, "/healthz");
                health.starts_with("HTTP/1.1 200")
            },
            Duration::from_secs(20)
        ),
        "{health}"
    );
}

#[test]
fn a_symbolic_link_in_a_folder_is_said_once_counted_and_never_followed() {
    let port = free_port();
    let r = Receiver::start(0, vec![]);
    let (dir, cfg) = files_config(
        &[create_user("real", T0)],
        &format!("metrics_address = \"127.0.0.1:{port}\"\ngroup_window = \"0s\""),
        &format!(
            "[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nurl = \"{}\"\nmax_per_second = 0\nstorm_after = 0\n",
            r.url
        ),
    );
    // A link to a file outside the folder that would alert if it were read.
    let outside = dir.path().join("outside.json");
    crate::support::write_old(
        &outside,
        &crate::support::delivery_file(&[create_user("linked", T0)]),
    );
    std::os::unix::fs::symlink(&outside, dir.path().join("trail/link.json")).unwrap();
    let (_d, mut logs) = spawn_run(&cfg);
    logs.until("trailwatch running", Duration::from_secs(20));
    let want = "trailwatch_files_links_skipped_total{source=\"files\"} 1";
    let mut m = String::new();
    assert!(
        eventually(
            || {
                m = http_get(port, "/metrics");
                m.contains(want)
                    && m.contains("trailwatch_records_read_total{source=\"files\",stream=\"\"} 1")
            },
            Duration::from_secs(20)
        ),
        "{m}"
    );
    // A later poll (a new file read): said once, still counted once, the target never read.
    crate::support::write_old(
        &dir.path().join("trail/f2.json"),
        &crate::support::delivery_file(&[create_user("later", T0 + 1000)]),
    );
    assert!(
        r.wait_for(
            |r| r.event_ids() == ["real", "later"],
            Duration::from_secs(20)
        ),
        "{:?}",
        r.event_ids()
    );
    let seen = logs.rest_now();
    assert_eq!(
        seen.matches("is a symbolic link: not followed").count(),
        1,
        "{seen}"
    );
    assert!(http_get(port, "/metrics").contains(want));
    let o = run(&["scan", dir.path().join("trail").to_str().unwrap()], None);
    assert!(
        stderr(&o).contains("link.json: a symbolic link, not followed"),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("linked"), "{}", stdout(&o));
}

#[test]
fn scan_says_it_reads_standard_input_when_that_is_a_terminal() {
    // A terminal (script(1) gives the command one), and nothing typed.
    let o = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} scan", crate::support::exe()),
            "/dev/null",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("reading CloudTrail records from standard input (Ctrl-D ends it"),
        "{said}"
    );
    // From a pipe: nothing to say.
    let o = run(&["scan"], Some(b"{\"Records\":[]}"));
    assert!(!stderr(&o).contains("standard input"), "{}", stderr(&o));
}
