//! Delivery end to end, through the binary: a files source raises alerts, the Dooray sink
//! posts them to a local receiver with scripted failures, the email sink sends them to a real
//! SMTP server (aiosmtpd, STARTTLS + AUTH). Secrets must never appear in any output.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::fake_cloudtrail::record;
use crate::support::servers::{smtp, Receiver};
use crate::support::{bin, files_config, T0};

const TOKEN: &str = "SECRET-TOKEN-9f8e7d";
const SMTP_PASSWORD: &str = "smtp-pa55-7c1b";

/// A folder with one delivery file of these records, and a config over it (Korean, Seoul's
/// time, no grouping).
fn setup(records: &[String], sinks: &str) -> tempfile::TempDir {
    let top = "language = \"ko\"\ntimezone = \"Asia/Seoul\"\ngroup_window = \"0s\"\n";
    files_config(records, top, sinks).0
}

fn dooray_sink(url_env: &str) -> String {
    format!("[[sinks]]\nname = \"dooray\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"env:{url_env}\"\nbot_name = \"trailwatch\"\nretry_initial = \"50ms\"\n")
}

fn run_once(dir: &Path, url: &str) -> (String, String) {
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(dir.join("c.toml"))
        .env("HOOK", url)
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    );
    assert!(o.status.success(), "{err}");
    (out, err)
}

fn state_json(dir: &Path) -> serde_json::Value {
    let o = bin()
        .args(["state", "show", "--json", "--config"])
        .arg(dir.join("c.toml"))
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap()
}

fn att_color(body: &serde_json::Value) -> &str {
    body["attachments"][0]["color"].as_str().unwrap()
}

fn create_user(id: &str, minute: i64) -> String {
    crate::support::create_user(id, T0 + minute * 60_000)
}

#[test]
fn dooray_500_then_200_is_delivered_once_with_the_seed_payload() {
    let r = Receiver::start(0, vec![(500, None)]);
    let dir = setup(&[create_user("ev-1", 1)], &dooray_sink("HOOK"));
    let (out, err) = run_once(dir.path(), &r.url);
    let got = r.received();
    assert_eq!(got.iter().map(|g| g.status).collect::<Vec<_>>(), [500, 200]);
    let body: serde_json::Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(body["botName"], "trailwatch");
    // The push preview says what happened to whom, where and who; values as written, in
    // code.
    assert_eq!(
        body["text"],
        "[HIGH] IAM 사용자 mallory 생성됨 (admin) · `111122223333` · `admin` · `us-east-1`"
    );
    assert_eq!(att_color(&body), "orange");
    let att = &body["attachments"][0];
    // Every built-in text in the configured language (ko).
    assert_eq!(att["title"], "IAM 사용자 mallory 생성됨 (admin)");
    assert!(att["titleLink"].as_str().unwrap().contains("#/events/ev-1"));
    let text = att["text"].as_str().unwrap();
    for want in [
        "계정: `111122223333`",
        "이벤트: `CreateUser`",
        "출발지 IP: `203.0.113.7`",
        "대상: `userName=mallory`",
        "2026-11-22 09:01:00 KST",
        "2026-11-22 00:01:00 UTC",
    ] {
        assert!(text.contains(want), "{want} missing in {text}");
    }
    assert_eq!(state_json(dir.path())["outbox"], 0);
    assert!(
        !out.contains(TOKEN) && !err.contains(TOKEN),
        "the webhook token leaked:\n{out}\n{err}"
    );
    assert!(err.contains("HTTP 500"), "{err}");
}

#[test]
fn dooray_429_waits_for_retry_after() {
    let r = Receiver::start(0, vec![(429, Some("1"))]);
    let dir = setup(&[create_user("ev-1", 1)], &dooray_sink("HOOK"));
    run_once(dir.path(), &r.url);
    let got = r.received();
    assert_eq!(got.len(), 2);
    assert!(
        got[1].at.duration_since(got[0].at) >= Duration::from_secs(1),
        "Retry-After: 1 not honoured"
    );
}

#[test]
fn dooray_400_is_parked_not_retried() {
    let r = Receiver::start(0, vec![(400, None)]);
    let dir = setup(&[create_user("ev-1", 1)], &dooray_sink("HOOK"));
    let (out, err) = run_once(dir.path(), &r.url);
    assert_eq!(r.received().len(), 1);
    let s = state_json(dir.path());
    assert_eq!(
        (s["outbox"].as_u64(), s["dead_letters"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(err.contains("parked"), "{err}");
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN));
    // check prints the sink with its token redacted.
    let o = bin()
        .args(["check", "--config"])
        .arg(dir.path().join("c.toml"))
        .env("HOOK", &r.url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("dooray webhook http://127.0.0.1:") && text.contains("/***"),
        "{text}"
    );
    assert!(!text.contains(TOKEN));
}

#[test]
fn a_receiver_down_then_up_gets_everything_once_in_order() {
    let port = crate::support::servers::free_port();
    let recs: Vec<String> = (0..3).map(|i| create_user(&format!("ev-{i}"), i)).collect();
    let dir = setup(&recs, &dooray_sink("HOOK"));
    let url = format!("http://127.0.0.1:{port}/services/123/456/{TOKEN}");
    let mut d = crate::support::servers::Proc(
        bin()
            .args(["run", "--config"])
            .arg(dir.path().join("c.toml"))
            .env("HOOK", &url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(d.0.stderr.take().unwrap()).lines();
    let mut log = String::new();
    // Down: wait for the daemon's own report of a failed delivery.
    for l in lines.by_ref() {
        let l = l.unwrap();
        log.push_str(&l);
        log.push('\n');
        if l.contains("delivery failed") {
            break;
        }
    }
    let r = Receiver::start(port, vec![]);
    assert!(
        r.wait_ok(3, Duration::from_secs(60)),
        "not all delivered after the receiver came up"
    );
    // A clean stop on SIGTERM, well within 10 s.
    let t = std::time::Instant::now();
    unsafe { libc_kill(d.0.id() as i32, 15) };
    let status = d.0.wait().unwrap();
    assert!(
        status.success() && t.elapsed() < Duration::from_secs(10),
        "{status:?} after {:?}",
        t.elapsed()
    );
    for l in lines {
        log.push_str(&l.unwrap());
        log.push('\n');
    }
    let ids = r.event_ids();
    assert_eq!(ids, ["ev-0", "ev-1", "ev-2"]);
    assert!(!log.contains(TOKEN), "token leaked in logs");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn hostile_values_cannot_inject_markup_headers_or_html() {
    let mut v: serde_json::Value = serde_json::from_str(&create_user("ev-x", 1)).unwrap();
    v["requestParameters"]["userName"] = "eve\r\nBcc: victim@example.com\r\n\r\n<script>alert(1)</script> [click](http://evil.example) \u{1b}[31m".into();
    v["userAgent"] = "x".repeat(1_000_000).into();
    v["eventName"] = "CreateUser".into();
    let r = Receiver::start(0, vec![]);
    let s = smtp("alerts", SMTP_PASSWORD);
    let sinks = format!(
        "{}\n[[sinks]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"starttls\"\nusername = \"alerts\"\npassword = \"env:SMTP_PW\"\nca_file = \"{}\"\nfrom = \"trailwatch <alerts@example.com>\"\nreply_to = \"secops@example.com\"\nto = [\"a@example.com\", \"b@example.com\"]\n",
        dooray_sink("HOOK"),
        s.port,
        s.cert.display()
    );
    // A lone UTF-16 surrogate escape is valid JSON syntax that strict decoders refuse: the
    // record must still be read and alerted, not skipped as malformed.
    let surrogate = create_user("ev-s", 2).replace(
        "\"userAgent\":\"aws-cli/2\"",
        "\"userAgent\":\"\\ud800<b>x\"",
    );
    assert!(surrogate.contains("\\ud800"));
    let dir = setup(
        &[
            v.to_string(),
            record("root-1", "ConsoleLogin", 1_795_305_660_000, true).record,
            surrogate,
        ],
        &sinks,
    );
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(dir.path().join("c.toml"))
        .env("HOOK", &r.url)
        .env("SMTP_PW", SMTP_PASSWORD)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{all}");
    assert!(
        !all.contains(TOKEN) && !all.contains(SMTP_PASSWORD),
        "a secret leaked: {all}"
    );
    // Dooray: values in inline code as written, control characters visible, length bounded.
    let bodies: Vec<String> = r.received().into_iter().map(|g| g.body).collect();
    let hostile = bodies.iter().find(|b| b.contains("ev-x")).unwrap();
    let lone = bodies
        .iter()
        .find(|b| b.contains("ev-s"))
        .expect("the record with a lone surrogate is alerted");
    assert!(lone.contains("User agent: `\u{fffd}<b>x`"), "{lone}");
    let text = serde_json::from_str::<serde_json::Value>(hostile).unwrap()["attachments"][0]
        ["text"]
        .as_str()
        .unwrap()
        .to_string();
    let target = text.lines().find(|l| l.starts_with("대상: ")).unwrap();
    assert_eq!(
        target,
        "대상: `userName=eve\\u{d}\\u{a}Bcc: victim@example.com\\u{d}\\u{a}\\u{d}\\u{a}<script>alert(1)</script> [click](http://evil.example) \\u{1b}[31m`",
        "shown as written, inside inline code, controls visible"
    );
    assert!(!text.contains('\r') && !text.contains('\u{1b}'));
    assert!(text.chars().count() <= 3501);
    // Email, read by a strict RFC 5322 parser: three messages; headers intact, a
    // Message-ID on From's domain, a text and an HTML part, the record attached.
    let mails = s.parsed();
    assert_eq!(mails.len(), 3, "{mails:?}");
    for m in &mails {
        assert_eq!(m["defects"], serde_json::json!([]), "{m}");
        let id = m["headers"]["Message-ID"].as_str().unwrap();
        assert!(
            id.starts_with("<trailwatch.") && id.ends_with("@example.com>"),
            "{id}"
        );
    }
    let text_of = |m: &serde_json::Value| m["parts"]["text/plain"].as_str().unwrap().to_string();
    let root = mails
        .iter()
        .find(|m| text_of(m).contains("root-1"))
        .unwrap();
    assert_eq!(
        root["headers"]["Subject"],
        "[CRITICAL] root 계정 사용 · 111122223333 · root · us-east-1"
    );
    assert_eq!(root["headers"]["Reply-To"], "secops@example.com");
    assert_eq!(root["headers"]["To"], "a@example.com, b@example.com");
    assert!(text_of(root).contains("\"eventName\": \"ConsoleLogin\""));
    let bad = mails.iter().find(|m| text_of(m).contains("ev-x")).unwrap();
    assert!(
        !bad["headers"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.eq_ignore_ascii_case("bcc")),
        "header injected: {}",
        bad["headers"]
    );
    let html = bad["parts"]["text/html"].as_str().unwrap();
    assert!(!html.contains("<script>"), "HTML injected: {html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "{html}");
    assert!(
        text_of(bad).contains("userName=eve\\u{d}\\u{a}Bcc: victim@example.com"),
        "{}",
        text_of(bad)
    );
    let attached: serde_json::Value =
        serde_json::from_str(bad["attachments"]["event.json"].as_str().unwrap()).unwrap();
    assert_eq!(attached["eventID"], "ev-x", "the record, as event.json");
}

#[test]
fn notify_test_reports_per_sink() {
    let r = Receiver::start(0, vec![]);
    let dir = setup(&[], &dooray_sink("HOOK"));
    let o = bin()
        .args(["notify-test", "--config"])
        .arg(dir.path().join("c.toml"))
        .env("HOOK", &r.url)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "sink 'dooray': delivered"
    );
    let body: serde_json::Value = serde_json::from_str(&r.received()[0].body).unwrap();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("[테스트] [INFO]"),
        "{body}"
    );
    // The made-up event is not linked: the console button opens the event history.
    let text = body.to_string();
    assert!(
        text.contains("cloudtrailv2/home?region=us-east-1#/events)")
            || text.contains("cloudtrailv2/home?region=us-east-1#/events\""),
        "{text}"
    );
    assert!(!text.contains("#/events/00000000"), "{text}");
}

#[test]
fn repeats_are_grouped_and_the_first_is_not_delayed() {
    let r = Receiver::start(0, vec![]);
    let recs: Vec<String> = (0..15)
        .map(|i| create_user(&format!("ev-{i:02}"), i))
        .collect();
    let dir = setup(&recs, &dooray_sink("HOOK"));
    let cfg = dir.path().join("c.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("group_window = \"0s\"", "group_window = \"1s\"");
    std::fs::write(&cfg, text).unwrap();
    run_once(dir.path(), &r.url);
    let got = r.received();
    assert_eq!(got.len(), 2, "one message, then one summary");
    let first: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    let subject =
        "[HIGH] IAM 사용자 mallory 생성됨 (admin) · `111122223333` · `admin` · `us-east-1`";
    assert_eq!(first["text"], subject);
    assert!(first["attachments"][0]["text"]
        .as_str()
        .unwrap()
        .contains("eventID: `ev-00`"));
    // The summary stands for the 14 others, counts them right, and names each.
    let second: serde_json::Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(second["text"], format!("{subject} (첫 경보 이후 14건 더)"));
    let text = second["attachments"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("경보 14건을 이 메시지가 대신합니다"),
        "{text}"
    );
    for i in 1..15 {
        assert!(
            text.contains(&format!("(ev-{i:02})")),
            "ev-{i:02} not named: {text}"
        );
    }
    assert!(
        got[1].at.duration_since(got[0].at) >= Duration::from_millis(900),
        "the summary waits for the window"
    );
    assert_eq!(state_json(dir.path())["outbox"], 0);
}

#[test]
fn rules_route_to_their_sinks_and_sinks_filter_by_severity() {
    let a = Receiver::start(0, vec![]);
    let b = Receiver::start(0, vec![]);
    let sinks = "[[sinks]]\nname = \"a\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"env:HOOK\"\n\n[[sinks]]\nname = \"b\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"env:HOOK_B\"\nmin_severity = \"critical\"\n\n[[rules]]\nname = \"iam-user-lifecycle\"\nevent_pattern = '{\"detail\": {\"eventName\": [\"CreateUser\"]}}'\nseverity = \"high\"\nsinks = [\"a\"]\n";
    let root = record("root-1", "ConsoleLogin", 1_795_305_660_000, true).record;
    let dir = setup(&[create_user("ev-1", 1), root], sinks);
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(dir.path().join("c.toml"))
        .env("HOOK", &a.url)
        .env("HOOK_B", &b.url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let subjects = |r: &Receiver| -> Vec<String> {
        r.received()
            .iter()
            .map(|g| {
                serde_json::from_str::<serde_json::Value>(&g.body).unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    // a: everything (root-usage names no sink; the IAM rule names a). b: critical only.
    assert_eq!(subjects(&a).len(), 2);
    assert_eq!(
        subjects(&b),
        ["[CRITICAL] root 계정 사용 · `111122223333` · `root` · `us-east-1`"]
    );
}

#[test]
fn an_alert_undelivered_past_max_age_goes_to_the_dead_letters() {
    // Nothing listens on this port: every attempt fails with a connection error.
    let port = crate::support::servers::free_port();
    let dir = setup(&[create_user("ev-1", 1)], &dooray_sink("HOOK"));
    let cfg = dir.path().join("c.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "group_window = \"0s\"",
        "group_window = \"0s\"\nmax_delivery_age = \"1s\"",
    );
    std::fs::write(&cfg, text).unwrap();
    let (_, err) = run_once(
        dir.path(),
        &format!("http://127.0.0.1:{port}/services/1/2/{TOKEN}"),
    );
    let s = state_json(dir.path());
    assert_eq!(
        (s["outbox"].as_u64(), s["dead_letters"].as_u64()),
        (Some(0), Some(1)),
        "{err}"
    );
    assert!(err.contains("moved to the dead letters"), "{err}");
    assert!(err.contains("request failed"), "{err}");
    assert!(!err.contains(TOKEN), "the token leaked: {err}");
}

#[test]
fn the_demo_prints_its_three_alerts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let demo = std::fs::read_to_string(root.join("examples/demo.toml"))
        .unwrap()
        .replace(
            "state_dir = \"./state\"",
            &format!("state_dir = \"{}\"", dir.path().display()),
        );
    std::fs::write(dir.path().join("demo.toml"), demo).unwrap();
    let o = bin()
        .current_dir(root)
        .args(["run", "--once", "--config"])
        .arg(dir.path().join("demo.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let ids: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("eventID: "))
        .collect();
    assert_eq!(
        ids,
        [
            "e0000001-0000-4000-8000-000000000002",
            "e0000001-0000-4000-8000-000000000004",
            "e0000002-0000-4000-8000-000000000002"
        ],
        "{out}"
    );
    // language = "en": the built-in rule speaks English too.
    assert!(
        out.contains("== [CRITICAL] Root account usage · 111122223333 · root · us-east-1 =="),
        "{out}"
    );
    assert!(
        !out.contains('계'),
        "no Korean text in an English message: {out}"
    );
    assert!(
        out.contains("Time: 2026-11-22 01:05:10 UTC / 2026-11-22 10:05:10 KST"),
        "{out}"
    );
}

#[test]
fn email_over_implicit_tls_is_delivered() {
    let s = crate::support::servers::smtp_mode("alerts", SMTP_PASSWORD, "tls");
    // Implicit TLS: the connection is TLS from the first byte (port 465 style).
    let sink = |pw: &str| {
        format!(
            "[[sinks]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"tls\"\nusername = \"alerts\"\npassword = \"{pw}\"\nca_file = \"{}\"\nfrom = \"alerts@example.com\"\nto = [\"a@example.com\"]\n",
            s.port,
            s.cert.display()
        )
    };
    let dir = setup(&[], &sink(SMTP_PASSWORD));
    let o = bin()
        .args(["notify-test", "--config"])
        .arg(dir.path().join("c.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let mails = s.parsed();
    assert_eq!(mails.len(), 1);
    let subject = mails[0]["headers"]["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with("[테스트] [INFO] trailwatch notify-test"),
        "{subject}"
    );
}

/// Characters that reorder or hide text (Trojan source): bidi overrides and isolates,
/// the Arabic letter mark, zero-width characters, a byte-order mark inside text.
const DECEPTIVE: [char; 9] = [
    '\u{202e}', '\u{2066}', '\u{2069}', '\u{061c}', '\u{200b}', '\u{200c}', '\u{200d}', '\u{feff}',
    '\u{2028}',
];

#[test]
fn characters_that_reorder_or_hide_text_reach_no_message() {
    let mut v: serde_json::Value = serde_json::from_str(&create_user("ev-bidi", 1)).unwrap();
    let sneaky: String = DECEPTIVE.iter().map(|c| format!("adm{c}in")).collect();
    v["requestParameters"]["userName"] = sneaky.clone().into();
    v["userIdentity"]["arn"] = format!("arn:aws:iam::111122223333:user/{sneaky}").into();
    v["userAgent"] = format!("exe.{}txt", '\u{202e}').into();
    let r = Receiver::start(0, vec![]);
    let s = smtp("alerts", SMTP_PASSWORD);
    let sinks = format!(
        "{}\n[[sinks]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"starttls\"\nusername = \"alerts\"\npassword = \"env:SMTP_PW\"\nca_file = \"{}\"\nfrom = \"trailwatch <alerts@example.com>\"\nto = [\"a@example.com\"]\n",
        dooray_sink("HOOK"),
        s.port,
        s.cert.display()
    );
    let dir = setup(&[v.to_string()], &sinks);
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(dir.path().join("c.toml"))
        .env("HOOK", &r.url)
        .env("SMTP_PW", SMTP_PASSWORD)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::support::text(&o));
    let raw = |t: &str| DECEPTIVE.iter().find(|c| t.contains(**c)).copied();
    let got = r.received();
    assert_eq!(got.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    for t in [
        &body["text"],
        &body["attachments"][0]["text"],
        &body["attachments"][0]["title"],
    ] {
        let t = t.as_str().unwrap();
        assert_eq!(raw(t), None, "raw in Dooray: {t:?}");
    }
    assert!(
        body["attachments"][0]["text"]
            .as_str()
            .unwrap()
            .contains("\\u{202e}"),
        "shown escaped: {body}"
    );
    let mails = s.parsed();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    for (what, t) in [
        ("subject", &m["headers"]["Subject"]),
        ("text", &m["parts"]["text/plain"]),
        ("html", &m["parts"]["text/html"]),
        ("event.json", &m["attachments"]["event.json"]),
    ] {
        let t = t.as_str().unwrap();
        assert_eq!(raw(t), None, "raw in the email's {what}: {t:?}");
    }
    let record_copy = m["attachments"]["event.json"].as_str().unwrap();
    assert!(
        record_copy.contains("\\u202e"),
        "the record keeps it as a JSON escape"
    );
    let back: serde_json::Value = serde_json::from_str(record_copy).unwrap();
    assert!(
        back["userAgent"].as_str().unwrap().contains('\u{202e}'),
        "the same value"
    );
}

#[test]
fn an_iam_user_deleted_is_said_as_deleted_to_whom_by_whom_with_a_runbook_that_fits() {
    let r = Receiver::start(0, vec![]);
    let t = T0 + 60_000;
    let deleted = crate::support::fake_cloudtrail::record("del-1", "DeleteUser", t, false)
        .record
        .replace("\"mallory\"", "\"old-contractor\"");
    let created = crate::support::create_user("cre-1", t + 60_000);
    let dir = setup(&[deleted, created], &dooray_sink("HOOK"));
    run_once(dir.path(), &r.url);
    let bodies: Vec<serde_json::Value> = r
        .received()
        .iter()
        .map(|g| serde_json::from_str(&g.body).unwrap())
        .collect();
    let of = |id: &str| {
        bodies
            .iter()
            .find(|b| b.to_string().contains(id))
            .unwrap_or_else(|| panic!("{id}: {bodies:?}"))
            .clone()
    };
    let del = of("del-1");
    assert_eq!(
        del["attachments"][0]["title"],
        "IAM 사용자 old-contractor 삭제됨 (admin)"
    );
    let text = del["attachments"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("삭제된 사용자는") && !text.contains("새 IAM 사용자는"),
        "{text}"
    );
    let cre = of("cre-1");
    assert_eq!(
        cre["attachments"][0]["title"],
        "IAM 사용자 mallory 생성됨 (admin)"
    );
    let text = cre["attachments"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("새 IAM 사용자는") && !text.contains("삭제된 사용자는"),
        "{text}"
    );
    // scan says it the same way.
    let o = crate::support::run(&["scan", dir.path().join("trail").to_str().unwrap()], None);
    assert!(
        crate::support::stdout(&o)
            .contains("\"title\":\"IAM user old-contractor deleted by admin\""),
        "{}",
        crate::support::stdout(&o)
    );
}

/// A webhook endpoint that answers 200 with its body in a second write (a proxy, a slow
/// server), counting connections and requests; its URL.
fn split_answers() -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let (conns, reqs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c, r) = (conns.clone(), reqs.clone());
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            c.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut rd = BufReader::new(s);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if rd.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    rd.read_exact(&mut body).unwrap();
                    r.fetch_add(1, Ordering::SeqCst);
                    let _ = w.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\n",
                    );
                    let _ = w.flush();
                    // The body comes a little later, in a write of its own.
                    std::thread::sleep(Duration::from_millis(20));
                    let _ = w.write_all(b"ok");
                }
            });
        }
    });
    (url, conns, reqs)
}

#[test]
fn an_answer_whose_body_comes_later_is_read_and_its_connection_kept() {
    use std::sync::atomic::Ordering;
    let (url, conns, reqs) = split_answers();
    let recs: Vec<String> = (0..20)
        .map(|i| crate::support::create_user(&format!("k-{i:02}"), T0 + i * 60_000))
        .collect();
    let sink = format!(
        "[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nurl = \"{url}\"\nmax_per_second = 0\nstorm_after = 0\n"
    );
    let (_dir, cfg) = files_config(&recs, "group_window = \"0s\"", &sink);
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(reqs.load(Ordering::SeqCst), 20);
    let n = conns.load(Ordering::SeqCst);
    assert!(n <= 2, "{n} connections for 20 messages");
}
