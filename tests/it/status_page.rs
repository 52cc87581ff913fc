//! The status page on the operator endpoint, as a browser shows it (headless Chromium): every
//! configured source with the blind spots first, the alerts of each day, a record's markup
//! shown as text only, the alert pages; who may see it (the operator token beyond loopback);
//! and `report --format html`, one self-contained file.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::servers::{free_port, smtp, Receiver};
use crate::support::{
    chromium_dom, create_user, eventually, files_config, http_get, run, spawn_run, stdout, text, T0,
};

/// A CreateUser record whose caller's name, ARN and user agent hold script and markup.
fn hostile(id: &str, at: i64) -> String {
    let mut r: Value = serde_json::from_str(&create_user(id, at)).unwrap();
    r["userIdentity"]["userName"] = "<img src=x onerror=\"document.title='pwned'\">".into();
    r["userIdentity"]["arn"] = "arn:aws:iam::111122223333:user/<b>bold</b>".into();
    r["userAgent"] = "<script>document.title='pwned'</script>".into();
    r.to_string()
}

/// The whole answer to `GET path` with these extra header lines.
fn get_with(port: u16, path: &str, headers: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// How wide the page lays out in a frame 390 px wide (a phone).
fn width_at_390(html: &str, dir: &Path) -> u64 {
    let page = dir.join("phone.html");
    let srcdoc = html.replace('&', "&amp;").replace('"', "&quot;");
    std::fs::write(
        &page,
        format!(
            "<!DOCTYPE html><html><body style=\"margin:0\"><iframe id=\"f\" style=\"width:390px;height:3000px;border:0\" srcdoc=\"{srcdoc}\"></iframe>\
             <script>f.onload=()=>{{document.title='W'+f.contentDocument.documentElement.scrollWidth}}</script></body></html>"
        ),
    )
    .unwrap();
    let dom = chromium_dom(dir, &format!("file://{}", page.display()));
    dom.split("<title>W")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no width: {dom}"))
}

#[test]
fn the_status_page_shows_every_source_blind_spots_first_each_day_and_records_as_text_only() {
    let port = free_port();
    let hook = Receiver::start(0, vec![]);
    let now = jiff::Timestamp::now().as_millisecond();
    let (dir, cfg) = files_config(
        &[hostile("ev-1", now - 60_000), create_user("ev-2", T0)],
        &format!("metrics_address = \"127.0.0.1:{port}\"\ngroup_window = \"0s\"\nlanguage = \"en\"\ntimezone = \"UTC\""),
        &format!(
            "[[sources]]\nname = \"gone\"\ntype = \"files\"\npath = \"{}/no-such-folder\"\npoll_interval = \"1s\"\n\n[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nurl = \"{}\"\nmax_per_second = 0\nstorm_after = 0\n",
            "/nonexistent-trailwatch-test",
            hook.url
        ),
    );
    let (_d, mut logs) = spawn_run(&cfg);
    logs.until("trailwatch running", Duration::from_secs(20));
    assert!(
        hook.wait_for(|r| r.received().len() >= 2, Duration::from_secs(30)),
        "two alerts delivered"
    );
    // The folder that is not there is failing once its polls failed.
    let mut page = String::new();
    let failing = eventually(
        || {
            page = http_get(port, "/");
            page.contains("badge failing")
        },
        Duration::from_secs(20),
    );
    assert!(failing, "{page}");
    let head = page.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'; style-src 'sha256-"),
        "{head}"
    );
    assert!(!head.contains("script-src"), "no script is allowed: {head}");

    // As a browser builds it, from the daemon itself (its policy in force).
    let dom = chromium_dom(dir.path(), &format!("http://127.0.0.1:{port}/"));
    let rows: Vec<&str> = dom.split("<tr class=\"h-").skip(1).collect();
    assert_eq!(rows.len(), 2, "a row per configured source: {dom}");
    assert!(
        rows[0].starts_with("failing") && rows[0].contains("gone"),
        "the blind spot first: {}",
        rows[0]
    );
    assert!(
        rows[1].starts_with("ok") && rows[1].contains(">files <"),
        "{}",
        rows[1]
    );
    assert_eq!(dom.matches("<g class=\"day\"").count(), 14, "a bar per day");
    let today = jiff::Timestamp::now().strftime("%m-%d").to_string();
    assert!(
        dom.contains(&format!("data-date=\"{today}\" data-total=\"2\"")),
        "today's bar counts both alerts: {dom}"
    );
    assert!(dom.contains("iam-user-lifecycle"), "per rule");
    assert!(
        dom.contains("&lt;b&gt;bold&lt;/b&gt;"),
        "the principal as text: {dom}"
    );
    for markup in ["<script", "<img", "<b>bold", "pwned</title>"] {
        assert!(!dom.contains(markup), "{markup} in the page: {dom}");
    }

    // The alerts, filtered, and one alert with its record.
    let list = body(&http_get(
        port,
        "/alerts?rule=iam-user-lifecycle&status=delivered",
    ))
    .to_string();
    assert_eq!(list.matches("<a href=\"/alerts/").count(), 2, "{list}");
    let none = http_get(port, "/alerts?status=dead");
    assert!(none.contains("no alert in the history matches"), "{none}");
    let id = list
        .split("<a href=\"/alerts/")
        .nth(1)
        .and_then(|r| r.split_once('"'))
        .map(|(id, _)| id.to_string())
        .unwrap();
    let alert = chromium_dom(dir.path(), &format!("http://127.0.0.1:{port}/alerts/{id}"));
    assert!(alert.contains("hook</td><td>delivered at"), "{alert}");
    for markup in ["<script", "<img", "pwned</title>"] {
        assert!(
            !alert.contains(markup),
            "{markup} in the alert page: {alert}"
        );
    }
    let hostile_alert = (1..=2)
        .map(|i| chromium_dom(dir.path(), &format!("http://127.0.0.1:{port}/alerts/{i}")))
        .find(|d| d.contains("ev-1"))
        .expect("the hostile record's alert");
    assert!(
        hostile_alert.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "the user agent as text: {hostile_alert}"
    );
    assert!(
        hostile_alert.contains("\"eventID\": \"ev-1\""),
        "the record pretty-printed"
    );
    assert!(
        !hostile_alert.contains("<script") && !hostile_alert.contains("<img"),
        "{hostile_alert}"
    );
    let missing = http_get(port, "/alerts/999");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

    // Readable on a phone: nothing wider than 390 px.
    let w = width_at_390(body(&page), dir.path());
    assert!(w <= 390, "the page lays out {w} px wide at 390 px");
}

#[test]
fn beyond_loopback_the_pages_ask_for_the_operator_token_and_the_probes_do_not() {
    let port = free_port();
    let check = |top: &str| {
        let (_dir, cfg) = files_config(&[], top, "");
        run(&["check", "--config", cfg.to_str().unwrap()], None)
    };
    let open = check(&format!("metrics_address = \"0.0.0.0:{port}\""));
    assert!(!open.status.success());
    assert!(
        text(&open).contains("is reachable beyond this host")
            && text(&open).contains("operator_token"),
        "{}",
        text(&open)
    );
    let literal = check(&format!(
        "metrics_address = \"0.0.0.0:{port}\"\noperator_token = \"hunter2-literal\""
    ));
    assert!(!literal.status.success());
    assert!(
        text(&literal).contains("write where the token is read from")
            && !text(&literal).contains("hunter2-literal"),
        "{}",
        text(&literal)
    );

    let token_dir = tempfile::tempdir().unwrap();
    let token = token_dir.path().join("token");
    std::fs::write(&token, "s3cret-operator-token\n").unwrap();
    let (_dir, cfg) = files_config(
        &[create_user("ev-1", T0)],
        &format!(
            "metrics_address = \"0.0.0.0:{port}\"\noperator_token = \"file:{}\"",
            token.display()
        ),
        "",
    );
    let ok = run(&["check", "--config", cfg.to_str().unwrap()], None);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        stdout(&ok).contains(&format!(
            "operator endpoint: http://0.0.0.0:{port}/ (the status page)"
        )) && stdout(&ok).contains("the pages ask for operator_token (file "),
        "{}",
        text(&ok)
    );
    // A token that cannot be read stops the daemon: check says so first.
    let unread = check(&format!(
        "metrics_address = \"0.0.0.0:{port}\"\noperator_token = \"file:/nonexistent/operator-token\""
    ));
    assert!(!unread.status.success());
    assert!(
        text(&unread).contains("operator_token: "),
        "{}",
        text(&unread)
    );
    let (_d, mut logs) = spawn_run(&cfg);
    logs.until("trailwatch running", Duration::from_secs(20));
    for path in ["/", "/alerts", "/alerts/1"] {
        let none = get_with(port, path, "");
        assert!(none.starts_with("HTTP/1.1 401"), "{path}: {none}");
        assert!(
            none.to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{none}"
        );
        let wrong = get_with(port, path, "Authorization: Bearer s3cret-operator-toke\r\n");
        assert!(wrong.starts_with("HTTP/1.1 401"), "{path}: {wrong}");
    }
    let right = get_with(port, "/", "Authorization: Bearer s3cret-operator-token\r\n");
    assert!(
        right.starts_with("HTTP/1.1 200") && right.contains("<h1>trailwatch status</h1>"),
        "{right}"
    );
    for path in ["/metrics", "/healthz", "/readyz"] {
        let a = get_with(port, path, "");
        assert!(!a.starts_with("HTTP/1.1 401"), "{path} stays open: {a}");
    }
    assert!(get_with(port, "/healthz", "").starts_with("HTTP/1.1 200"));
}

#[test]
fn the_report_as_html_is_one_self_contained_file_with_the_chart() {
    let hook = Receiver::start(0, vec![]);
    let now = jiff::Timestamp::now().as_millisecond();
    let (dir, cfg) = files_config(
        &[hostile("ev-1", now - 60_000), create_user("ev-2", T0)],
        "group_window = \"0s\"\nlanguage = \"en\"\ntimezone = \"UTC\"",
        &format!(
            "[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nurl = \"{}\"\nmax_per_second = 0\nstorm_after = 0\n",
            hook.url
        ),
    );
    let c = cfg.to_str().unwrap();
    let once = run(&["run", "--once", "--config", c], None);
    assert!(once.status.success(), "{}", text(&once));
    let file = dir.path().join("report.html");
    let o = run(
        &[
            "report",
            "--config",
            c,
            "--since",
            "30d",
            "--format",
            "html",
            "-o",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).is_empty(), "the file, not standard output");
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src"));
    // Nothing loaded from anywhere: no script, no style sheet, image or frame from a URL.
    for outside in ["<script", "<link", "src=", "<iframe", "url(", "@import"] {
        assert!(!html.contains(outside), "{outside} in the report");
    }
    let urls: Vec<&str> = html
        .match_indices("http")
        .map(|(i, _)| &html[i..(i + 30).min(html.len())])
        .filter(|u| !u.starts_with("http://www.w3.org/2000/svg") && !u.starts_with("http-equiv"))
        .collect();
    assert!(urls.is_empty(), "{urls:?}");
    // A browser opening the file alone draws the chart: 30 days, two alerts today.
    let dom = chromium_dom(dir.path(), &format!("file://{}", file.display()));
    assert_eq!(dom.matches("<g class=\"day\"").count(), 31, "{dom}");
    let today = jiff::Timestamp::now().strftime("%m-%d").to_string();
    assert!(dom.contains(&format!("data-date=\"{today}\" data-total=\"2\"")));
    assert!(dom.contains(">files <"), "the source is named");
    assert!(!dom.contains("<script") && !dom.contains("<img"), "{dom}");
    // The text report is unchanged, and --json still works.
    let t = run(&["report", "--config", c, "--since", "30d"], None);
    assert!(stdout(&t).contains("alerts raised since"), "{}", text(&t));
    let j = run(&["report", "--config", c, "--json"], None);
    assert!(
        stdout(&j).contains("\"rule\":\"iam-user-lifecycle\""),
        "{}",
        text(&j)
    );
}

#[test]
fn report_send_mails_the_report_through_the_email_sinks_and_says_which_took_it() {
    let mail = smtp("reports", "smtp-pa55-report");
    let now = jiff::Timestamp::now().as_millisecond();
    let sinks = format!(
        "[[sinks]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"starttls\"\nusername = \"reports\"\npassword = \"env:SMTP_PW\"\nca_file = \"{}\"\nfrom = \"trailwatch@example.com\"\nto = [\"lead@example.com\"]\nmin_severity = \"critical\"\n\n[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
        mail.port,
        mail.cert.display()
    );
    let (dir, cfg) = files_config(
        &[hostile("ev-1", now - 60_000), create_user("ev-2", T0)],
        "group_window = \"0s\"\nlanguage = \"en\"\ntimezone = \"UTC\"",
        &sinks,
    );
    let c = cfg.to_str().unwrap();
    let tw = |args: &[&str]| {
        crate::support::bin()
            .args(args)
            .env("SMTP_PW", "smtp-pa55-report")
            .output()
            .unwrap()
    };
    let once = tw(&["run", "--once", "--config", c]);
    assert!(once.status.success(), "{}", text(&once));
    // The IAM alerts are below the mail sink's min_severity: the report is mailed anyway.
    assert!(mail.parsed().is_empty());
    let o = tw(&["report", "--config", c, "--since", "7d", "--send"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("sink 'mail': report sent"),
        "{}",
        text(&o)
    );
    assert!(!stdout(&o).contains("'out'"), "only email sinks mail it");
    let got = mail.parsed();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["defects"], serde_json::json!([]), "a well-formed mail");
    let subject = m["headers"]["Subject"].as_str().unwrap();
    assert!(subject.starts_with("trailwatch report since "), "{subject}");
    assert!(subject.contains(": 2 alerts"), "{subject}");
    let html = m["parts"]["text/html"].as_str().unwrap();
    assert!(html.contains("<h2>Coverage") && html.contains("<g class=\"day\""));
    assert!(
        !html.contains("<script") && html.contains("&lt;b&gt;bold"),
        "records as text"
    );
    assert!(m["parts"]["text/plain"]
        .as_str()
        .unwrap()
        .contains("delivered"));
    // A sink that is not an email sink, or none at all, is refused by name.
    let wrong = tw(&["report", "--config", c, "--send", "--sink", "out"]);
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("no email sink named 'out'"),
        "{}",
        text(&wrong)
    );
    drop(dir);
}
