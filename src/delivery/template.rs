//! Message templates (minijinja): the default texts in Korean and English, and the user's
//! overrides per rule and per sink. Each template has a format that decides its escaping:
//! `md` (Dooray's chat markup: markup characters are backslash-escaped), `html` (HTML-escaped)
//! and `txt` (plain; control characters were already made visible in `Fields`).

use minijinja::{AutoEscape, Environment, Value};

use crate::alert::fields::Fields;
use crate::language::Language;
use crate::text::escape_markup;

const KO_SUBJECT: &str = "{% if test %}[테스트] {% endif %}{{ subject }} 경보 발생하였습니다{% if more %} (외 {{ more }}건){% endif %}";
const EN_SUBJECT: &str = "{% if test %}[TEST] {% endif %}{{ subject }} alert{% if more %} (and {{ more }} more){% endif %}";

const KO_BODY: &str = "\
{% if test %}이것은 trailwatch notify-test 로 보낸 시험 경보입니다. AWS 에서 일어난 일이 아닙니다.\n{% endif %}\
[{{ severity | upper }}] {{ title }}
{% if detail %}내용: {{ detail }}
{% endif %}계정: {{ account }}{% if account_alias %} ({{ account_alias }}){% endif %}
리전: {{ region }}
시각: {{ time_utc }}{% if time_local %} / {{ time_local }}{% endif %}
이벤트: {{ event_name }} ({{ event_source }})
주체: {{ principal_type }} {{ principal_arn }}
출발지 IP: {{ source_ip }}
User agent: {{ user_agent }}
MFA 사용: {{ mfa or \"-\" }}
{% if error_code %}오류: {{ error_code }} {{ error_message }}
{% endif %}{% if target %}대상: {{ target }}
{% endif %}eventID: {{ event_id }}
{% if console_link %}콘솔: {{ console_link | safe }}
{% endif %}{% if threshold %}횟수: {{ threshold }}
{% endif %}{% if more %}같은 규칙·같은 주체의 경보 {{ more }}건이 더 있습니다.
{% endif %}{% if runbook %}대응: {{ runbook }}
{% endif %}";

const EN_BODY: &str = "\
{% if test %}This is a test alert sent by trailwatch notify-test. Nothing happened in AWS.\n{% endif %}\
[{{ severity | upper }}] {{ title }}
{% if detail %}Detail: {{ detail }}
{% endif %}Account: {{ account }}{% if account_alias %} ({{ account_alias }}){% endif %}
Region: {{ region }}
Time: {{ time_utc }}{% if time_local %} / {{ time_local }}{% endif %}
Event: {{ event_name }} ({{ event_source }})
Principal: {{ principal_type }} {{ principal_arn }}
Source IP: {{ source_ip }}
User agent: {{ user_agent }}
MFA used: {{ mfa or \"-\" }}
{% if error_code %}Error: {{ error_code }} {{ error_message }}
{% endif %}{% if target %}Target: {{ target }}
{% endif %}eventID: {{ event_id }}
{% if console_link %}Console: {{ console_link | safe }}
{% endif %}{% if threshold %}Count: {{ threshold }}
{% endif %}{% if more %}And {{ more }} more alerts of this rule by the same principal.
{% endif %}{% if runbook %}Runbook: {{ runbook }}
{% endif %}";

const HTML_WRAP_HEAD: &str =
    "<html><body><pre style=\"font-family:sans-serif;white-space:pre-wrap\">";
const HTML_WRAP_TAIL: &str =
    "</pre><h4>CloudTrail record</h4><pre>{{ record_pretty }}</pre></body></html>";
const TEXT_TAIL: &str = "\n--- CloudTrail record ---\n{{ record_pretty }}\n";

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

/// The default subject and body templates of a language.
fn defaults(language: Language) -> (&'static str, &'static str) {
    match language {
        Language::Ko => (KO_SUBJECT, KO_BODY),
        Language::En => (EN_SUBJECT, EN_BODY),
    }
}

impl Templates {
    /// The default templates in `language`.
    pub fn new(language: Language) -> Templates {
        let (subject, body) = defaults(language);
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| match name.rsplit('.').next() {
            Some("html") => AutoEscape::Html,
            Some("md") => AutoEscape::Custom("markup"),
            _ => AutoEscape::None,
        });
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Custom("markup") && !value.is_safe() {
                let s = value.to_string();
                out.write_str(&escape_markup(&s))?;
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        let mut t = Templates { env, language };
        t.add("default", subject, body)
            .expect("the default templates compile");
        t
    }

    fn add(&mut self, name: &str, subject: &str, body: &str) -> Result<(), String> {
        let mut put = |n: String, src: String| {
            self.env
                .add_template_owned(n.clone(), src)
                .map_err(|e| format!("template {n}: {e}"))
        };
        put(format!("{name}.subject"), subject.to_string())?;
        for format in ["md", "txt"] {
            put(format!("{name}.{format}"), body.to_string())?;
        }
        put(format!("{name}.mail.txt"), format!("{body}{TEXT_TAIL}"))?;
        put(
            format!("{name}.mail.html"),
            format!("{HTML_WRAP_HEAD}{body}{HTML_WRAP_TAIL}"),
        )?;
        Ok(())
    }

    /// Registers overrides under `name` (a rule's or sink's), falling back to the defaults
    /// for what they do not set. Errors name the template.
    pub fn add_overrides(&mut self, name: &str, o: &Overrides) -> Result<(), String> {
        let (s, b) = defaults(self.language);
        self.add(
            name,
            o.subject.as_deref().unwrap_or(s),
            o.body.as_deref().unwrap_or(b),
        )
    }

    /// Renders `which` (`subject`, `md`, `txt`, `mail.txt`, `mail.html`) with the first of
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
            subject: "root 계정".into(),
            title: "Root <script>alert(1)</script> [x](http://evil) *b*".into(),
            principal_arn: "arn:aws:iam::1:user/<img src=x>".into(),
            event_id: "e1".into(),
            record_pretty: "{\"a\": \"</pre><script>\"}".into(),
            ..Fields::default()
        }
    }

    #[test]
    fn korean_subject_and_escaping_per_format() {
        let t = Templates::new(Language::Ko);
        let f = hostile();
        assert_eq!(
            t.render(&[], "subject", &f),
            "root 계정 경보 발생하였습니다"
        );
        let md = t.render(&[], "md", &f);
        assert!(md.contains("\\[x\\](http://evil) \\*b\\*"), "{md}");
        assert!(!md.contains("<script>"), "{md}");
        let html = t.render(&[], "mail.html", &f);
        assert!(
            html.contains("&lt;script&gt;") && !html.contains("<script>"),
            "{html}"
        );
        assert!(!html.contains("</pre><script>"));
        let en = Templates::new(Language::En);
        let mut g = f.clone();
        g.more = 14;
        assert_eq!(
            en.render(&[], "subject", &g),
            "root 계정 alert (and 14 more)"
        );
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
        assert_eq!(t.render(&["other"], "subject", &f), " alert");
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
