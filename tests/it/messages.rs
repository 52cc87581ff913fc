//! Messages as the receiving services take them: Slack's block limits and escaping, a Teams
//! Adaptive Card's shape and size, PagerDuty's required fields, the webhook's signature checked
//! with its secret, Dooray's preview and inline code, and email read by a strict RFC 5322
//! parser with its HTML rendered by headless Chromium at a phone's width. A user name made of
//! `_`, `*`, `<b>`, `[x](http://evil.example)` and CRLF is shown exactly and harmlessly
//! everywhere; one event matching three rules is one message per sink; four events in a group
//! window are a first message and a summary naming three more; a storm is summed up.

use std::path::Path;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::servers::{smtp, Receiver, Smtp};
use crate::support::{bin, files_config, text, T0};

const SMTP_PASSWORD: &str = "smtp-pa55-msgs";
const HOOK_SECRET: &str = "hook-s3cret-9f2e";
const PD_KEY: &str = "R0UTINGKEY00000000000000000000AB";
const HOSTILE: &str = "svc_deploy*prod<b>[x](http://evil.example)\r\nBcc: x@example.com";

/// A root DeleteTrail (root-usage, the CIS trail-changes rule and the threats pack's
/// trail-stopped rule: three rules), and a DeleteTrail by a user with a hostile name.
fn records() -> Vec<String> {
    let at = |m: i64| {
        jiff::Timestamp::from_millisecond(T0 + m * 60_000)
            .unwrap()
            .to_string()
    };
    let base = |id: &str, m: i64, who: Value| {
        json!({
            "eventVersion": "1.09", "userIdentity": who, "eventTime": at(m),
            "eventSource": "cloudtrail.amazonaws.com", "eventName": "DeleteTrail",
            "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7",
            "userAgent": "aws-cli/2.15.0", "requestParameters": {"name": "main"},
            "responseElements": null, "eventID": id, "readOnly": false,
            "eventType": "AwsApiCall", "managementEvent": true,
            "recipientAccountId": "111122223333"
        })
        .to_string()
    };
    vec![
        base(
            "root-deletes-trail",
            1,
            json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root",
            "accountId": "111122223333", "principalId": "111122223333"}),
        ),
        base(
            "hostile-deletes-trail",
            2,
            json!({"type": "IAMUser",
            "arn": format!("arn:aws:iam::111122223333:user/{HOSTILE}"),
            "userName": HOSTILE, "accountId": "111122223333", "principalId": "AIDAEXAMPLE"}),
        ),
    ]
}

struct Sinks {
    dooray: Receiver,
    slack: Receiver,
    teams: Receiver,
    pager: Receiver,
    hook: Receiver,
    mail: Smtp,
}

impl Sinks {
    fn start() -> Sinks {
        Sinks {
            dooray: Receiver::start(0, vec![]),
            slack: Receiver::start(0, vec![]),
            teams: Receiver::start(0, vec![]),
            pager: Receiver::start(0, vec![]),
            hook: Receiver::start(0, vec![]),
            mail: smtp("alerts", SMTP_PASSWORD),
        }
    }

    fn config(&self) -> String {
        let fast = "max_per_second = 0\nstorm_after = 0\n";
        format!(
            "[[sinks]]\nname = \"dooray\"\ntype = \"dooray\"\nurl = \"{}/services/1/2/T\"\n{fast}\n\
             [[sinks]]\nname = \"slack\"\ntype = \"slack\"\nurl = \"{}/services/T0/B0/X\"\n{fast}\n\
             [[sinks]]\nname = \"teams\"\ntype = \"teams\"\nurl = \"{}/workflows/1?sig=X\"\n{fast}\n\
             [[sinks]]\nname = \"pager\"\ntype = \"pagerduty\"\nrouting_key = \"{PD_KEY}\"\nurl = \"{}/v2/enqueue\"\n{fast}\n\
             [[sinks]]\nname = \"siem\"\ntype = \"webhook\"\nurl = \"{}/hook\"\nsecret = \"env:HOOK_SECRET\"\nheaders = {{ \"X-Team\" = \"security\" }}\n\n\
             [[sinks]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"starttls\"\nusername = \"alerts\"\npassword = \"env:SMTP_PW\"\nca_file = \"{}\"\nfrom = \"trailwatch <alerts@example.com>\"\nto = [\"oncall@example.com\"]\n{fast}\n",
            self.dooray.url, self.slack.url, self.teams.url, self.pager.url, self.hook.url,
            self.mail.port,
            self.mail.cert.display()
        )
    }
}

fn run_once(cfg: &Path) {
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(cfg)
        .env("HOOK_SECRET", HOOK_SECRET)
        .env("SMTP_PW", SMTP_PASSWORD)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

fn bodies(r: &Receiver) -> Vec<Value> {
    r.received()
        .iter()
        .map(|g| serde_json::from_str(&g.body).unwrap())
        .collect()
}

/// The shown form of the hostile name: exactly as written, CR and LF made visible.
fn shown() -> String {
    HOSTILE.replace("\r\n", "\\u{d}\\u{a}")
}

/// Every string anywhere in a JSON value, with the path of keys that leads to it.
fn strings<'a>(v: &'a Value, path: &str, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) => out.push((path.to_string(), s)),
        Value::Array(a) => a.iter().for_each(|x| strings(x, path, out)),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| strings(x, &format!("{path}/{k}"), out)),
        _ => {}
    }
}

#[test]
fn every_sink_delivers_the_root_and_a_threats_alert_as_its_service_checks_it() {
    let s = Sinks::start();
    let top = "rule_packs = [\"default\", \"cis\", \"threats\"]\nlanguage = \"en\"\ngroup_window = \"0s\"";
    let (_dir, cfg) = files_config(&records(), top, &s.config());
    run_once(&cfg);
    // One event, one message: two events, two messages per sink.
    for (name, r) in [
        ("dooray", &s.dooray),
        ("slack", &s.slack),
        ("teams", &s.teams),
        ("pagerduty", &s.pager),
        ("webhook", &s.hook),
    ] {
        assert_eq!(r.received().len(), 2, "{name}: one message per event");
    }
    check_slack(&bodies(&s.slack));
    check_teams(&s.teams);
    check_pagerduty(&bodies(&s.pager));
    check_webhook(&s.hook);
    check_dooray(&bodies(&s.dooray));
    check_email(&s.mail);
}

fn check_slack(msgs: &[Value]) {
    for m in msgs {
        let blocks = m["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50, "{m}");
        for b in blocks {
            match b["type"].as_str().unwrap() {
                "header" => assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 150),
                "section" => {
                    if let Some(t) = b["text"]["text"].as_str() {
                        assert!(t.chars().count() <= 3000);
                    }
                    let fields = b["fields"].as_array().map_or(&[][..], Vec::as_slice);
                    assert!(fields.len() <= 10);
                    for f in fields {
                        assert_eq!(f["type"], "plain_text", "values as written: {f}");
                        assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
                    }
                }
                "actions" => {
                    let e = &b["elements"][0];
                    assert!(e["text"]["text"].as_str().unwrap().chars().count() <= 75);
                    assert!(e["url"]
                        .as_str()
                        .unwrap()
                        .starts_with("https://us-east-1.console.aws.amazon.com/"));
                }
                other => panic!("unexpected block {other}"),
            }
        }
        // mrkdwn (the fallback text, the runbook) never holds a raw `<`: no link can form.
        assert!(!m["text"].as_str().unwrap().contains('<'), "{m}");
        for b in blocks.iter().filter(|b| b["text"]["type"] == "mrkdwn") {
            assert!(!b["text"]["text"].as_str().unwrap().contains('<'), "{b}");
        }
    }
    // The hostile name, as written, in a plain_text field.
    let hostile = msgs
        .iter()
        .find(|m| m.to_string().contains("svc_deploy"))
        .unwrap();
    let mut all = Vec::new();
    strings(hostile, "", &mut all);
    assert!(
        all.iter()
            .any(|(p, t)| p.ends_with("fields/text") && t.contains(&shown())),
        "the name as written: {hostile}"
    );
}

fn check_teams(r: &Receiver) {
    for g in r.received() {
        assert!(g.body.len() < 28 * 1024, "{} bytes", g.body.len());
        let v: Value = serde_json::from_str(&g.body).unwrap();
        assert_eq!(v["type"], "message");
        let a = &v["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        let card = &a["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert!(["1.4", "1.5"].contains(&card["version"].as_str().unwrap()));
        assert!(card["body"].as_array().is_some_and(|b| !b.is_empty()));
        assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
        // Record values only in TextRuns (never read as Markdown), never in a TextBlock.
        let mut all = Vec::new();
        strings(card, "", &mut all);
        for (path, t) in all {
            if t.contains("svc_deploy") {
                assert!(
                    path.ends_with("/inlines/text"),
                    "a record value at {path}: {t}"
                );
            }
        }
    }
}

fn check_pagerduty(msgs: &[Value]) {
    for e in msgs {
        assert_eq!(e["routing_key"], PD_KEY);
        assert_eq!(e["event_action"], "trigger");
        let dedup = e["dedup_key"].as_str().unwrap();
        assert!(!dedup.is_empty() && dedup.len() <= 255);
        let p = &e["payload"];
        assert!(p["summary"].as_str().unwrap().chars().count() <= 1024);
        assert!(!p["source"].as_str().unwrap().is_empty());
        assert!(["critical", "error", "warning", "info"].contains(&p["severity"].as_str().unwrap()));
        assert!(p["custom_details"].is_object());
        assert!(e["links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("#/events/"));
    }
    let keys: std::collections::BTreeSet<&str> = msgs
        .iter()
        .map(|e| e["dedup_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "one incident per alert");
}

fn check_webhook(r: &Receiver) {
    for g in r.received() {
        let sig = g.header("x-trailwatch-signature").expect("signed");
        let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
        mac.update(g.body.as_bytes());
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sig, want, "the signature checks out with the secret");
        assert_eq!(g.header("x-team"), Some("security"));
        let v: Value = serde_json::from_str(&g.body).unwrap();
        assert_eq!(v["schema"], "trailwatch.alert/v1");
        assert_eq!(v["record"]["eventID"], v["facts"]["event_id"]);
        // The time of the attempt, signed with the rest: a replayed capture is told by it.
        let sent: jiff::Timestamp = v["sent_at"].as_str().unwrap().parse().unwrap();
        let age = jiff::Timestamp::now().duration_since(sent);
        assert!(age.as_secs() >= 0 && age.as_secs() < 120, "{age:?}");
    }
    let root = bodies(r)
        .into_iter()
        .find(|v| v["record"]["eventID"] == "root-deletes-trail")
        .unwrap();
    let rules: Vec<&str> = root["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(rules.len(), 3, "one message names every rule: {rules:?}");
    assert_eq!(root["severity"], "critical", "at the highest severity");
}

fn check_dooray(msgs: &[Value]) {
    let root = msgs
        .iter()
        .find(|m| m.to_string().contains("root-deletes-trail"))
        .unwrap();
    let preview = root["text"].as_str().unwrap();
    assert!(
        preview.starts_with("[CRITICAL] ")
            && preview.ends_with(" · `111122223333` · `root` · `us-east-1`"),
        "severity, what, account, principal, region: {preview}"
    );
    let text = root["attachments"][0]["text"].as_str().unwrap();
    assert!(text.contains("Also matched: "), "{text}");
    let hostile = msgs
        .iter()
        .find(|m| m.to_string().contains("svc_deploy"))
        .unwrap();
    let text = hostile["attachments"][0]["text"].as_str().unwrap();
    let line = format!(
        "Principal: `IAMUser` `arn:aws:iam::111122223333:user/{}`",
        shown()
    );
    assert!(
        text.lines().any(|l| l == line),
        "exactly, in inline code: {text}"
    );
    assert!(
        !text.contains("\\_") && !text.contains("\\*"),
        "no backslash escapes: {text}"
    );
    assert!(!text.contains("svc\\_deploy"), "{text}");
}

fn check_email(mail: &Smtp) {
    let mails = mail.parsed();
    assert_eq!(mails.len(), 2);
    for m in &mails {
        assert_eq!(m["defects"], json!([]));
        assert!(m["headers"]["Message-ID"]
            .as_str()
            .unwrap()
            .ends_with("@example.com>"));
        assert!(m["attachments"]["event.json"].is_string());
        assert_eq!(m["structure"][0], "multipart/mixed");
    }
    let subjects: Vec<&str> = mails
        .iter()
        .map(|m| m["headers"]["Subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("[CRITICAL] ")
                && s.ends_with(" · 111122223333 · root · us-east-1")),
        "{subjects:?}"
    );
    let hostile = mails
        .iter()
        .find(|m| {
            m["parts"]["text/plain"]
                .as_str()
                .unwrap()
                .contains("svc_deploy")
        })
        .unwrap();
    assert!(!hostile["headers"]
        .as_object()
        .unwrap()
        .keys()
        .any(|k| k.eq_ignore_ascii_case("bcc")));
    let html = hostile["parts"]["text/html"].as_str().unwrap();
    assert!(
        html.contains("&lt;b&gt;[x](http:") && !html.contains("<b>["),
        "{html}"
    );
}

/// The HTML part rendered by headless Chromium in a frame 390 px wide (a phone's viewport:
/// a desktop window cannot be made that narrow): how wide its page lays out, and how many
/// words of at most 25 characters in the facts' values are broken across two lines (a word
/// that fits a line of its own must not be cut: `signin.amazonaw` / `s.com`).
fn width_at_390(html: &str, dir: &Path) -> (u64, u64) {
    let page = dir.join("phone.html");
    let srcdoc = html.replace('&', "&amp;").replace('"', "&quot;");
    std::fs::write(
        &page,
        format!(
            "<!DOCTYPE html><html><body style=\"margin:0\"><iframe id=\"f\" style=\"width:390px;height:4000px;border:0\" srcdoc=\"{srcdoc}\"></iframe>\
             <script>f.onload=()=>{{const d=f.contentDocument;let b=0;\
             for(const td of d.querySelectorAll('td:nth-child(2)')){{const w=d.createTreeWalker(td,NodeFilter.SHOW_TEXT);let n;\
             while((n=w.nextNode())){{const re=/\\S+/g;let m;while((m=re.exec(n.data))){{if(m[0].length>25)continue;\
             const r=d.createRange();r.setStart(n,m.index);r.setEnd(n,m.index+m[0].length);\
             if(new Set([...r.getClientRects()].map(x=>Math.round(x.top))).size>1)b++;}}}}}}\
             document.title='W'+d.documentElement.scrollWidth+'B'+b}}</script></body></html>"
        ),
    )
    .unwrap();
    // TRAILWATCH_KEEP_HTML=DIR keeps the page, to look at it.
    if let Ok(keep) = std::env::var("TRAILWATCH_KEEP_HTML") {
        let _ = std::fs::copy(&page, Path::new(&keep).join("phone.html"));
    }
    let dom = crate::support::chromium_dom(dir, &format!("file://{}", page.display()));
    let t = dom
        .split("<title>W")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_else(|| panic!("no width: {dom}"));
    let (w, b) = t.split_once('B').unwrap();
    (w.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn the_email_html_fits_a_phone_without_sideways_scrolling() {
    let mail = smtp("alerts", SMTP_PASSWORD);
    let mut recs = records();
    // A record with long unbroken values: an ARN, a user agent, a policy document.
    let mut long: Value = serde_json::from_str(&recs[1]).unwrap();
    long["userAgent"] = "Mozilla/5.0-".repeat(40).into();
    long["requestParameters"]["policyDocument"] = "x".repeat(3000).into();
    recs[1] = long.to_string();
    let sink = format!(
        "[[sinks]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"starttls\"\nusername = \"alerts\"\npassword = \"env:SMTP_PW\"\nca_file = \"{}\"\nfrom = \"alerts@example.com\"\nto = [\"oncall@example.com\"]\nstorm_after = 0\n",
        mail.port,
        mail.cert.display()
    );
    let top = "rule_packs = [\"default\", \"cis\", \"threats\"]\nlanguage = \"en\"\ngroup_window = \"0s\"";
    let (dir, cfg) = files_config(&recs, top, &sink);
    run_once(&cfg);
    let mails = mail.parsed();
    assert_eq!(mails.len(), 2);
    for m in &mails {
        let html = m["parts"]["text/html"].as_str().unwrap();
        assert!(html.contains("name=\"viewport\""));
        assert!(
            html.contains("href=\"https://us-east-1.console.aws.amazon.com/"),
            "the console link is a link"
        );
        let (w, broken) = width_at_390(html, dir.path());
        assert!(w <= 390, "the page lays out {w} px wide at 390 px");
        assert_eq!(broken, 0, "short words cut across lines at 390 px");
    }
}

#[test]
fn four_events_in_a_group_window_are_a_first_message_and_a_summary_of_three_threaded() {
    let r = Receiver::start(0, vec![]);
    let mail = smtp("alerts", SMTP_PASSWORD);
    let recs: Vec<String> = (0..4)
        .map(|i| crate::support::create_user(&format!("ev-{i}"), T0 + i * 60_000))
        .collect();
    let sinks = format!(
        "[[sinks]]\nname = \"dooray\"\ntype = \"dooray\"\nurl = \"{}\"\nmax_per_second = 0\n\n[[sinks]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"starttls\"\nusername = \"alerts\"\npassword = \"env:SMTP_PW\"\nca_file = \"{}\"\nfrom = \"alerts@example.com\"\nto = [\"oncall@example.com\"]\n",
        r.url,
        mail.port,
        mail.cert.display()
    );
    let (_dir, cfg) = files_config(&recs, "language = \"en\"\ngroup_window = \"1s\"", &sinks);
    run_once(&cfg);
    let got = bodies(&r);
    assert_eq!(got.len(), 2, "a first message, then one summary");
    let summary = &got[1];
    assert!(
        summary["text"]
            .as_str()
            .unwrap()
            .ends_with("(+3 since the first)"),
        "{summary}"
    );
    let t = summary["attachments"][0]["text"].as_str().unwrap();
    assert!(t.contains("stands for 3 more alerts"), "{t}");
    for id in ["ev-1", "ev-2", "ev-3"] {
        assert!(t.contains(&format!("({id})")), "{id} named: {t}");
    }
    assert!(!t.contains("(ev-0)"), "the first is not counted again: {t}");
    // Email: the summary refers to the first message of its thread.
    let mails = mail.parsed();
    assert_eq!(mails.len(), 2);
    let first_id = mails[0]["headers"]["Message-ID"].as_str().unwrap();
    assert_eq!(mails[1]["headers"]["In-Reply-To"], first_id);
    assert_eq!(mails[1]["headers"]["References"], first_id);
    assert_ne!(mails[1]["headers"]["Message-ID"], first_id);
}

#[test]
fn a_storm_is_summed_up_and_chat_webhooks_are_paced() {
    let r = Receiver::start(0, vec![]);
    // 12 alerts of different principals (no grouping): 3 one by one, the rest summed up.
    let recs: Vec<String> = (0..12)
        .map(|i| {
            let mut v: Value = serde_json::from_str(&crate::support::create_user(
                &format!("s-{i:02}"),
                T0 + i * 1000,
            ))
            .unwrap();
            v["userIdentity"]["arn"] = format!("arn:aws:iam::111122223333:user/u{i}").into();
            v.to_string()
        })
        .collect();
    let sinks = format!(
        "[[sinks]]\nname = \"dooray\"\ntype = \"dooray\"\nurl = \"{}\"\nstorm_after = 3\n",
        r.url
    );
    let (_dir, cfg) = files_config(&recs, "language = \"en\"\ngroup_window = \"0s\"", &sinks);
    run_once(&cfg);
    let got = r.received();
    assert_eq!(got.len(), 4, "3 one by one, then one storm message");
    let storm: Value = serde_json::from_str(&got[3].body).unwrap();
    let t = storm.to_string();
    assert!(t.contains("9 more alerts"), "{t}");
    // Dooray takes about one message a second.
    for w in got.windows(2) {
        assert!(
            w[1].at.duration_since(w[0].at) >= Duration::from_millis(900),
            "paced"
        );
    }
}
