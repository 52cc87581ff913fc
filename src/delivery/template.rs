//! Message templates (minijinja): the default texts in Korean and English, and the user's
//! overrides per rule and per sink. The defaults are built from one table of facts (`FACTS`)
//! for every format, so the plain text, the chat markup and the HTML say the same things.
//!
//! Each format escapes what it shows: `md` (chat markup: Dooray) puts every value that is not
//! marked safe in inline code, exactly as written, so that whether or not a room renders
//! Markdown no value can become a link or formatting; `html` escapes HTML; `txt` is plain
//! (characters that change how text reads were already made visible in `Fields`).

use minijinja::{AutoEscape, Environment, Value};

use crate::alert::fields::Fields;
use crate::language::Language;

/// One fact of the message: its label in English and Korean, its value (a template
/// expression) and when it is shown.
struct Fact {
    en: &'static str,
    ko: &'static str,
    value: &'static str,
    when: &'static str,
}

const FACTS: &[Fact] = &[
    Fact {
        en: "Detail",
        ko: "내용",
        value: "{{ detail }}",
        when: "detail",
    },
    Fact {
        en: "New",
        ko: "처음 보는 것",
        value: "{{ novelty }}",
        when: "novelty",
    },
    Fact {
        en: "Also matched",
        ko: "함께 걸린 규칙",
        value: "{{ also | safe }}",
        when: "also",
    },
    Fact {
        en: "Account",
        ko: "계정",
        value: "{{ account }}{% if account_alias %} ({{ account_alias }}){% endif %}",
        when: "account",
    },
    Fact {
        en: "Region",
        ko: "리전",
        value: "{{ region }}",
        when: "region",
    },
    Fact {
        en: "Time",
        ko: "시각",
        value: "{{ time_utc | safe }}{% if time_local %} / {{ time_local | safe }}{% endif %}",
        when: "time_utc",
    },
    Fact {
        en: "Event",
        ko: "이벤트",
        value: "{{ event_name }}{% if event_source %} ({{ event_source }}){% endif %}",
        when: "event_name",
    },
    Fact {
        en: "Principal",
        ko: "주체",
        value: "{% if principal_type %}{{ principal_type }} {% endif %}{{ principal_arn }}",
        when: "principal_arn",
    },
    Fact {
        en: "Source IP",
        ko: "출발지 IP",
        value: "{{ source_ip }}",
        when: "source_ip",
    },
    Fact {
        en: "User agent",
        ko: "User agent",
        value: "{{ user_agent }}",
        when: "user_agent",
    },
    Fact {
        en: "MFA used",
        ko: "MFA 사용",
        value: "{{ mfa }}",
        when: "mfa",
    },
    Fact {
        en: "Error",
        ko: "오류",
        value: "{{ error_code }} {{ error_message }}",
        when: "error_code",
    },
    Fact {
        en: "Target",
        ko: "대상",
        value: "{{ target }}",
        when: "target",
    },
    Fact {
        en: "eventID",
        ko: "eventID",
        value: "{{ event_id }}",
        when: "event_id",
    },
    Fact {
        en: "Count",
        ko: "횟수",
        value: "{{ threshold }}",
        when: "threshold",
    },
];

/// Texts of one language.
struct Words {
    test: &'static str,
    test_note: &'static str,
    more: &'static str,
    console: &'static str,
    runbook: &'static str,
    record: &'static str,
    summary: &'static str,
}

const EN: Words = Words {
    test: "[TEST] ",
    test_note: "This is a test alert sent by trailwatch notify-test. Nothing happened in AWS.",
    more: " (+{{ more | safe }} since the first)",
    console: "Open the event in the CloudTrail console",
    runbook: "Runbook",
    record: "CloudTrail record",
    summary: "This message stands for {{ more | safe }} more alerts of this rule by the same principal since the first was sent:",
};

const KO: Words = Words {
    test: "[테스트] ",
    test_note:
        "이것은 trailwatch notify-test 로 보낸 시험 경보입니다. AWS 에서 일어난 일이 아닙니다.",
    more: " (첫 경보 이후 {{ more | safe }}건 더)",
    console: "CloudTrail 콘솔에서 이벤트 보기",
    runbook: "대응",
    record: "CloudTrail 레코드",
    summary:
        "첫 경보 이후 같은 규칙·같은 주체의 경보 {{ more | safe }}건을 이 메시지가 대신합니다:",
};

fn words(language: Language) -> &'static Words {
    match language {
        Language::En => &EN,
        Language::Ko => &KO,
    }
}

fn label(f: &Fact, language: Language) -> &'static str {
    match language {
        Language::En => f.en,
        Language::Ko => f.ko,
    }
}

/// `[SEVERITY] title · account · principal · region`, the parts that are known.
fn subject(language: Language) -> String {
    let w = words(language);
    format!(
        "{{% if test %}}{}{{% endif %}}[{{{{ severity | upper | safe }}}}] {{{{ title | safe }}}}\
{{% for part in [account_label, principal_name, region] %}}{{% if part %}} · {{{{ part }}}}{{% endif %}}{{% endfor %}}\
{{% if more %}}{}{{% endif %}}",
        w.test, w.more
    )
}

/// The body as lines of `label: value`, for plain text and chat markup.
fn body(language: Language) -> String {
    let w = words(language);
    let mut b = format!(
        "{{% if test %}}{}\n{{% endif %}}[{{{{ severity | upper | safe }}}}] {{{{ title | safe }}}}\n",
        w.test_note
    );
    for f in FACTS {
        b.push_str(&format!(
            "{{% if {} %}}{}: {}\n{{% endif %}}",
            f.when,
            label(f, language),
            f.value
        ));
    }
    b.push_str(&format!(
        "{{% if console_link %}}{}: {{{{ console_link | safe }}}}\n{{% endif %}}\
{{% if more %}}{}\n{{% for line in held %}}- {{{{ line }}}}\n{{% endfor %}}{{% endif %}}\
{{% if runbook %}}{}: {{{{ runbook | safe }}}}\n{{% endif %}}",
        match language {
            Language::En => "Console",
            Language::Ko => "콘솔",
        },
        w.summary,
        w.runbook
    ));
    b
}

/// The designed HTML part: a severity band, the facts as a two-column table, the console
/// link as a button, the runbook and the record, all wrapping within a phone's width.
fn html(language: Language) -> String {
    let w = words(language);
    let cell = "padding:6px 8px;border-top:1px solid #d8dee4;vertical-align:top;";
    let mut rows = String::new();
    for f in FACTS {
        rows.push_str(&format!(
            "{{% if {} %}}<tr><td style=\"{cell}width:30%;color:#57606a;\">{}</td><td style=\"{cell}overflow-wrap:anywhere;\">{}</td></tr>{{% endif %}}\n",
            f.when,
            label(f, language),
            f.value
        ));
    }
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{{{ title }}}}</title></head>
<body style="margin:0;padding:0;background:#f6f8fa;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1f2328;">
<div style="max-width:640px;margin:0 auto;padding:8px;">
<div style="background:#ffffff;border-left:6px solid {{{{ color | safe }}}};padding:12px;">
{{% if test %}}<p style="margin:0 0 8px 0;font-weight:bold;">{test_note}</p>{{% endif %}}
<div style="font-size:12px;font-weight:bold;letter-spacing:0.05em;color:{{{{ color | safe }}}};">{{{{ severity | upper }}}}</div>
<h1 style="font-size:18px;line-height:1.3;margin:4px 0 10px 0;word-break:break-word;">{{{{ title }}}}</h1>
<table role="presentation" style="width:100%;border-collapse:collapse;table-layout:fixed;font-size:14px;">
{rows}</table>
{{% if console_link %}}<p style="margin:14px 0;"><a href="{{{{ console_link | safe }}}}" style="display:inline-block;background:#0969da;color:#ffffff;padding:10px 14px;border-radius:6px;text-decoration:none;font-weight:bold;">{console}</a></p>{{% endif %}}
{{% if more %}}<p style="margin:12px 0 4px 0;">{summary}</p><ul style="margin:0;padding-left:20px;overflow-wrap:anywhere;">{{% for line in held %}}<li>{{{{ line }}}}</li>{{% endfor %}}</ul>{{% endif %}}
{{% if runbook %}}<h2 style="font-size:15px;margin:16px 0 4px 0;">{runbook}</h2><p style="margin:0;white-space:pre-wrap;word-break:break-word;">{{{{ runbook }}}}</p>{{% endif %}}
{{% if record_pretty %}}<h2 style="font-size:15px;margin:16px 0 4px 0;">{record}</h2><pre style="margin:0;white-space:pre-wrap;overflow-wrap:anywhere;font-size:12px;background:#f6f8fa;padding:8px;">{{{{ record_pretty }}}}</pre>{{% endif %}}
</div></div></body></html>
"#,
        test_note = w.test_note,
        console = w.console,
        summary = w.summary,
        runbook = w.runbook,
        record = w.record,
    )
}

const TEXT_TAIL: &str =
    "{% if record_pretty %}\n--- CloudTrail record ---\n{{ record_pretty }}\n{% endif %}";
const HTML_WRAP_HEAD: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body><pre style=\"font-family:sans-serif;white-space:pre-wrap;overflow-wrap:anywhere;\">";
const HTML_WRAP_TAIL: &str = "</pre><pre style=\"white-space:pre-wrap;overflow-wrap:anywhere;\">{{ record_pretty }}</pre></body></html>";

/// Inline code for chat markup: the value exactly as written, fenced with more backticks than
/// it holds in a row (and padded when it starts or ends with one), as CommonMark reads it.
pub(crate) fn code_span(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Overrides of one rule or sink: templates for the subject and the body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub subject: Option<String>,
    pub body: Option<String>,
}

/// Compiled templates.
#[derive(Clone)]
pub struct Templates {
    env: Environment<'static>,
    language: Language,
}

impl Templates {
    /// The default templates in `language`.
    pub fn new(language: Language) -> Templates {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| match name.rsplit('.').next() {
            Some("html") => AutoEscape::Html,
            Some("md") => AutoEscape::Custom("code"),
            _ => AutoEscape::None,
        });
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Custom("code") && !value.is_safe() {
                out.write_str(&code_span(&value.to_string()))?;
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        let mut t = Templates { env, language };
        let body = body(language);
        t.put("default.subject", subject(language))
            .and_then(|_| t.put("default.subject.md", subject(language)))
            .and_then(|_| t.put("default.txt", body.clone()))
            .and_then(|_| t.put("default.md", body.clone()))
            .and_then(|_| t.put("default.mail.txt", format!("{body}{TEXT_TAIL}")))
            .and_then(|_| t.put("default.mail.html", html(language)))
            .expect("the default templates compile");
        t
    }

    fn put(&mut self, name: &str, src: String) -> Result<(), String> {
        self.env
            .add_template_owned(name.to_string(), src)
            .map_err(|e| format!("template {name}: {e}"))
    }

    /// Registers overrides under `name` (a rule's or sink's): a subject, and a body used for
    /// plain text, chat markup and the email (in HTML as preformatted text). What they do not
    /// set falls back to the defaults. Errors name the template.
    pub fn add_overrides(&mut self, name: &str, o: &Overrides) -> Result<(), String> {
        if let Some(s) = &o.subject {
            self.put(&format!("{name}.subject"), s.clone())?;
            self.put(&format!("{name}.subject.md"), s.clone())?;
        }
        if let Some(b) = &o.body {
            for format in ["md", "txt"] {
                self.put(&format!("{name}.{format}"), b.clone())?;
            }
            self.put(&format!("{name}.mail.txt"), format!("{b}{TEXT_TAIL}"))?;
            self.put(
                &format!("{name}.mail.html"),
                format!("{HTML_WRAP_HEAD}{b}{HTML_WRAP_TAIL}"),
            )?;
        }
        Ok(())
    }

    /// The language of the defaults.
    pub fn language(&self) -> Language {
        self.language
    }

    /// Renders `which` (`subject`, `subject.md`, `md`, `txt`, `mail.txt`, `mail.html`) with the first of
    /// `names` that has templates (rule, then sink, then `default`).
    pub fn render(&self, names: &[&str], which: &str, f: &Fields) -> String {
        let ctx = Value::from_serialize(f);
        for n in names.iter().chain(std::iter::once(&"default")) {
            if let Ok(t) = self.env.get_template(&format!("{n}.{which}")) {
                match t.render(&ctx) {
                    Ok(s) => return s,
                    Err(e) => {
                        tracing::error!("template {n}.{which} failed ({e}); using the default");
                    }
                }
            }
        }
        let t = self
            .env
            .get_template(&format!("default.{which}"))
            .expect("default templates exist");
        t.render(&ctx)
            .unwrap_or_else(|e| format!("(template error: {e})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hostile() -> Fields {
        Fields {
            title: "Root used".into(),
            severity: "high".into(),
            account: "111122223333".into(),
            account_label: "prod".into(),
            account_alias: "prod".into(),
            principal_name: "svc_deploy*prod".into(),
            principal_arn: "arn:aws:iam::1:user/<img src=x> [x](http://evil) `tick`".into(),
            region: "us-east-1".into(),
            event_id: "e1".into(),
            record_pretty: "{\"a\": \"</pre><script>\"}".into(),
            color: "#d9480f".into(),
            ..Fields::default()
        }
    }

    #[test]
    fn subjects_say_severity_title_account_principal_and_region() {
        let f = hostile();
        let en = Templates::new(Language::En);
        assert_eq!(
            en.render(&[], "subject", &f),
            "[HIGH] Root used · prod · svc_deploy*prod · us-east-1"
        );
        let mut g = f.clone();
        g.more = 3;
        g.region.clear();
        assert_eq!(
            en.render(&[], "subject", &g),
            "[HIGH] Root used · prod · svc_deploy*prod (+3 since the first)"
        );
        let ko = Templates::new(Language::Ko);
        assert!(ko
            .render(&[], "subject", &g)
            .ends_with("(첫 경보 이후 3건 더)"));
    }

    #[test]
    fn markup_shows_values_as_written_in_code_and_html_escapes() {
        let t = Templates::new(Language::En);
        let f = hostile();
        let md = t.render(&[], "md", &f);
        assert!(
            md.contains("Principal: `` arn:aws:iam::1:user/<img src=x> [x](http://evil) `tick` ``"),
            "{md}"
        );
        assert!(
            md.contains("[HIGH] Root used\n"),
            "trusted text is not code: {md}"
        );
        assert!(!md.contains('\\'), "no backslash escapes: {md}");
        let html = t.render(&[], "mail.html", &f);
        assert!(
            html.contains("&lt;img src=x&gt;") && !html.contains("<img src"),
            "{html}"
        );
        assert!(!html.contains("</pre><script>"));
        assert!(html.contains("name=\"viewport\""));
    }

    #[test]
    fn code_spans_hold_any_backticks() {
        assert_eq!(code_span("a"), "`a`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(code_span(""), "");
    }

    #[test]
    fn overrides_apply_per_name_and_fall_back() {
        let mut t = Templates::new(Language::En);
        t.add_overrides(
            "rule-a",
            &Overrides {
                subject: Some("ALERT {{ rule }}".into()),
                body: None,
            },
        )
        .unwrap();
        let f = Fields {
            rule: "rule-a".into(),
            ..Fields::default()
        };
        assert_eq!(t.render(&["rule-a", "sink"], "subject", &f), "ALERT rule-a");
        assert_eq!(t.render(&["other"], "subject", &f), "[] ");
        assert!(t
            .add_overrides(
                "bad",
                &Overrides {
                    subject: Some("{{".into()),
                    body: None
                },
            )
            .unwrap_err()
            .starts_with("template bad.subject"));
    }
}
