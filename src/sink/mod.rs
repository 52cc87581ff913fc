//! Where alerts go. Each `[[sinks]]` entry is one sink: `dooray` (incoming webhook), `email`
//! (SMTP through lettre) or `console` (standard output). A sink renders a message and makes one
//! delivery attempt; the delivery worker decides about retries, so every sink reports the same
//! three outcomes.

pub mod console;
pub mod dooray;
pub mod email;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{ConfigError, SourceText};
use crate::delivery::template::Overrides;
use crate::secret::SecretRef;
use crate::severity::Severity;
use crate::when;

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Worth trying again (408, 429, 5xx, timeouts, connection errors), not before `after`
    /// when the receiver said so (`Retry-After`).
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Trying again cannot help (other 4xx, a rejected address): the alert is parked.
    Park {
        reason: String,
    },
}

/// The kinds of sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkType {
    Dooray,
    Email,
    Console,
}

/// SMTP connection security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// STARTTLS, required (refuses a server that does not offer it).
    #[default]
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
    /// Plain SMTP, for a relay on localhost.
    None,
}

/// A `[[sinks]]` entry as written; keys of other sink types are rejected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SinkConfig {
    name: String,
    #[serde(rename = "type")]
    kind: SinkType,
    min_severity: Option<Severity>,
    subject_template: Option<String>,
    template: Option<String>,
    timeout: Option<String>,
    /// First wait before a failed delivery is tried again (doubles up to 5 minutes).
    retry_initial: Option<String>,
    // dooray
    url: Option<SecretRef>,
    bot_name: Option<String>,
    bot_icon: Option<String>,
    // email
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    tls: Option<TlsMode>,
    username: Option<String>,
    password: Option<SecretRef>,
    from: Option<String>,
    reply_to: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    /// A PEM file of extra CA certificates to trust (a private relay's own CA).
    ca_file: Option<PathBuf>,
}

/// What a sink is, per kind.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkKind {
    Dooray {
        url: SecretRef,
        bot_name: String,
        bot_icon: Option<String>,
    },
    Email(email::EmailSpec),
    Console,
}

/// A validated sink.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSpec {
    pub name: String,
    pub kind: SinkKind,
    /// Alerts below this severity are not sent here.
    pub min_severity: Severity,
    pub templates: Overrides,
    pub timeout: Duration,
    pub retry_initial: Duration,
}

/// Default per-attempt timeouts.
pub const DOORAY_TIMEOUT: Duration = Duration::from_secs(5);
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

impl SinkSpec {
    pub fn parse(t: &Spanned<toml::Table>, src: &SourceText) -> Result<SinkSpec, ConfigError> {
        let at = |m: String| src.error_at(t.span().start, m);
        let c: SinkConfig = crate::config::location::parse_entry(t, src, "sink")?;
        let name = c.name.clone();
        let need = |v: Option<String>, key: &str| {
            v.ok_or_else(|| at(format!("sink '{name}': `{key}` is required")))
        };
        let not_for = |present: bool, key: &str| {
            crate::config::location::Entry {
                what: "sink",
                name: &name,
                kind: format!("{:?}", c.kind),
            }
            .not_for(&[(present, key)])
            .map_err(at)
        };
        let dooray_keys = [
            (c.url.is_some(), "url"),
            (c.bot_name.is_some(), "bot_name"),
            (c.bot_icon.is_some(), "bot_icon"),
        ];
        let email_keys = [
            (c.smtp_host.is_some(), "smtp_host"),
            (c.smtp_port.is_some(), "smtp_port"),
            (c.tls.is_some(), "tls"),
            (c.username.is_some(), "username"),
            (c.password.is_some(), "password"),
            (c.from.is_some(), "from"),
            (c.reply_to.is_some(), "reply_to"),
            (!c.to.is_empty(), "to"),
            (c.ca_file.is_some(), "ca_file"),
        ];
        let kind = match c.kind {
            SinkType::Dooray => {
                for (p, k) in email_keys {
                    not_for(p, k)?;
                }
                SinkKind::Dooray {
                    url: c
                        .url
                        .clone()
                        .ok_or_else(|| at(format!("sink '{name}': `url` is required")))?,
                    bot_name: c.bot_name.clone().unwrap_or_else(|| "trailwatch".into()),
                    bot_icon: c.bot_icon.clone(),
                }
            }
            SinkType::Email => {
                for (p, k) in dooray_keys {
                    not_for(p, k)?;
                }
                if c.to.is_empty() {
                    return Err(at(format!(
                        "sink '{name}': `to` needs at least one address"
                    )));
                }
                if c.password.is_some() && c.username.is_none() {
                    return Err(at(format!("sink '{name}': `password` needs `username`")));
                }
                let tls = c.tls.unwrap_or_default();
                let spec = email::EmailSpec {
                    host: need(c.smtp_host.clone(), "smtp_host")?,
                    port: c.smtp_port.unwrap_or(match tls {
                        TlsMode::Starttls => 587,
                        TlsMode::Tls => 465,
                        TlsMode::None => 25,
                    }),
                    tls,
                    username: c.username.clone(),
                    password: c.password.clone(),
                    from: need(c.from.clone(), "from")?,
                    reply_to: c.reply_to.clone(),
                    to: c.to.clone(),
                    ca_file: c.ca_file.clone(),
                };
                spec.check()
                    .map_err(|e| at(format!("sink '{name}': {e}")))?;
                SinkKind::Email(spec)
            }
            SinkType::Console => {
                for (p, k) in dooray_keys.into_iter().chain(email_keys) {
                    not_for(p, k)?;
                }
                SinkKind::Console
            }
        };
        let timeout = match &c.timeout {
            Some(s) => when::duration(s).map_err(|e| at(format!("sink '{name}', timeout: {e}")))?,
            None if c.kind == SinkType::Email => SMTP_TIMEOUT,
            None => DOORAY_TIMEOUT,
        };
        let retry_initial = match &c.retry_initial {
            Some(s) => {
                when::duration(s).map_err(|e| at(format!("sink '{name}', retry_initial: {e}")))?
            }
            None => crate::defaults::DELIVERY_RETRY_INITIAL,
        };
        Ok(SinkSpec {
            retry_initial,
            min_severity: c.min_severity.unwrap_or(Severity::Info),
            templates: Overrides {
                subject: c.subject_template,
                body: c.template,
            },
            timeout,
            kind,
            name,
        })
    }

    /// The sink's address for logs and `check`, with secrets redacted.
    pub fn describe(&self) -> String {
        match &self.kind {
            SinkKind::Dooray { url, .. } => match url.resolve() {
                Ok(u) => format!("dooray webhook {}", crate::secret::redact_url(u.expose())),
                Err(e) => format!("dooray webhook (url from {}: {e})", url.origin()),
            },
            SinkKind::Email(e) => format!(
                "email via {}:{} ({:?}) to {}",
                e.host,
                e.port,
                e.tls,
                e.to.join(", ")
            ),
            SinkKind::Console => "console (standard output)".into(),
        }
    }
}

/// A sink ready to send.
pub enum Sink {
    Dooray(dooray::Dooray),
    Email(Box<email::Email>),
    Console(console::Console),
}

impl Sink {
    /// Opens a sink: resolves its secrets and builds its client.
    pub fn open(spec: &SinkSpec) -> Result<Sink, String> {
        Ok(match &spec.kind {
            SinkKind::Dooray {
                url,
                bot_name,
                bot_icon,
            } => Sink::Dooray(dooray::Dooray::new(
                url.resolve()
                    .map_err(|e| format!("sink '{}': {e}", spec.name))?,
                bot_name.clone(),
                bot_icon.clone(),
                spec.timeout,
            )?),
            SinkKind::Email(e) => Sink::Email(Box::new(
                email::Email::new(e, spec.timeout)
                    .map_err(|m| format!("sink '{}': {m}", spec.name))?,
            )),
            SinkKind::Console => Sink::Console(console::Console),
        })
    }

    /// One delivery attempt of a rendered message.
    pub async fn send(&self, m: &Message) -> Outcome {
        match self {
            Sink::Dooray(d) => d.send(m).await,
            Sink::Email(e) => e.send(m).await,
            Sink::Console(c) => c.send(m),
        }
    }

    /// Checks that the sink can be reached, without sending anything.
    pub async fn probe(&self) -> Result<String, String> {
        match self {
            Sink::Dooray(d) => d.probe().await,
            Sink::Email(e) => e.probe().await,
            Sink::Console(_) => Ok("standard output".into()),
        }
    }
}

/// A rendered message, in every form a sink may use.
#[derive(Debug, Clone)]
pub struct Message {
    pub subject: String,
    /// The chat form (markup escaped).
    pub markup: String,
    /// The plain-text forms: short (console) and with the record (email).
    pub text: String,
    pub mail_text: String,
    pub mail_html: String,
    pub title: String,
    pub link: String,
    pub severity: Severity,
}
