//! The HTML of the status page, the report file and the alert pages: minijinja templates
//! (`templates/`) with HTML escaping on for every value, one style sheet whose hash is the
//! only style the Content-Security-Policy allows, no script, nothing loaded from anywhere.

use std::sync::OnceLock;

use base64::Engine as _;
use minijinja::{context, Environment};
use sha2::Digest as _;

use super::alerts::{Detail, Filter, Row};
use super::chart;
use super::facts::{Facts, DAYS};

/// The page's only style.
const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
header{background:#1d2330;color:#fff;padding:8px 16px;display:flex;flex-wrap:wrap;gap:12px;align-items:baseline}\
header a{color:#cfe0ff}header .muted{color:#aab}\
main{padding:8px 16px;max-width:1200px}\
h1{font-size:20px;margin:12px 0}h2{font-size:17px;margin:20px 0 6px}h3{font-size:15px;margin:8px 0 4px}\
table{border-collapse:collapse;background:#fff;width:100%}\
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e6eb;vertical-align:top}\
th{font-weight:600;background:#eef0f4}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
.scroll{overflow-x:auto;max-width:100%}\
.wrap,pre{overflow-wrap:anywhere;word-break:break-word}\
pre{white-space:pre-wrap;background:#fff;padding:8px;border:1px solid #e3e6eb;font-size:12px}\
.muted{color:#667}.bad{color:#b3261e;font-weight:600}.good{color:#1e7d32}\
.badge,.sev{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;background:#dde}\
.badge.failing,.sev.critical{background:#d03b3b;color:#fff}.badge.stale,.sev.high{background:#f2994a}\
.badge.waiting,.sev.medium{background:#f2c94c}.badge.ok{background:#cdeccf}.sev.low{background:#cfe0ff}\
tr.h-failing td{background:#fdecea}tr.h-stale td{background:#fff4e5}\
.chart{width:100%;max-width:700px;height:auto;display:block}.legend{font-size:12px}\
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:16px}\
form{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}input,select{max-width:100%}\
.facts th{width:9em}";

/// The policy of every page: nothing but the one style sheet, no script, no frame, forms to
/// itself only.
pub(crate) fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash =
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE.as_bytes()));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; base-uri 'none'; form-action 'self'"
        )
    })
}

/// The templates, built once.
fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut e = Environment::new();
        for (name, text) in [
            ("base.html", include_str!("templates/base.html")),
            ("overview.html", include_str!("templates/overview.html")),
            ("alerts.html", include_str!("templates/alerts.html")),
            ("alert.html", include_str!("templates/alert.html")),
            ("notice.html", include_str!("templates/notice.html")),
        ] {
            e.add_template(name, text)
                .expect("the page templates parse");
        }
        e
    })
}

fn render(name: &str, ctx: minijinja::Value) -> String {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            // The templates are ours: an error is a bug, said on the page and in the log.
            tracing::error!("status page {name}: {e:#}");
            format!("<!DOCTYPE html><p>trailwatch could not render this page ({name}); the log says why.</p>")
        })
}

/// The status page (`live`: served by the daemon, with links to the alert pages) or the
/// report file (self-contained: its policy is in the page).
pub(crate) fn overview(facts: &Facts, title: &str) -> String {
    render(
        "overview.html",
        context! {
            title,
            facts,
            live => facts.live,
            csp_meta => !facts.live,
            csp => csp(),
            style => STYLE,
            generated => format!("as of {}", facts.generated),
            generated_zone => facts.generated.rsplit(' ').next().unwrap_or("UTC"),
            days => DAYS,
            chart => chart::bars(&facts.days),
        },
    )
}

/// The latest alerts, filtered.
pub(crate) fn alerts(rows: &[Row], filter: &Filter, limit: usize, generated: &str) -> String {
    render(
        "alerts.html",
        context! {
            title => "trailwatch alerts",
            rows,
            filter,
            limit,
            full => rows.len() >= limit,
            statuses => super::alerts::STATUSES,
            live => true,
            style => STYLE,
            generated,
        },
    )
}

/// One alert.
pub(crate) fn alert(a: &Detail, generated: &str) -> String {
    render(
        "alert.html",
        context! {
            title => format!("trailwatch alert {}", a.id),
            a,
            live => true,
            style => STYLE,
            generated,
        },
    )
}

/// A page that is not there, and why.
pub(crate) fn missing(what: &str, generated: &str) -> String {
    notice("Not found", &[what.to_string()], true, generated)
}

/// A short page of a few lines (a standby's, a page that is not there).
pub(crate) fn notice(heading: &str, lines: &[String], link: bool, generated: &str) -> String {
    render(
        "notice.html",
        context! {
            title => format!("trailwatch: {heading}"),
            heading,
            lines,
            link,
            live => true,
            style => STYLE,
            generated,
        },
    )
}

/// Text made safe inside HTML (for the few lines written without a template).
pub(crate) fn escape(s: &str) -> String {
    minijinja::HtmlEscape(s).to_string()
}
