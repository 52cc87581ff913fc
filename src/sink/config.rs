//! A `[[sinks]]` entry: as written (keys of other kinds rejected, with file, line and column)
//! and validated with its defaults (`SinkSpec`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::email::EmailSpec;
use crate::config::location::{parse_entry, Entry};
use crate::config::{ConfigError, SourceText};
use crate::defaults;
use crate::delivery::template::Overrides;
use crate::secret::SecretRef;
use crate::severity::Severity;

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
    Email(EmailSpec),
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

impl SinkConfig {
    fn entry(&self) -> Entry<'_> {
        Entry {
            what: "sink",
            name: &self.name,
            kind: format!("{:?}", self.kind),
        }
    }

    fn dooray_keys(&self) -> [(bool, &'static str); 3] {
        [
            (self.url.is_some(), "url"),
            (self.bot_name.is_some(), "bot_name"),
            (self.bot_icon.is_some(), "bot_icon"),
        ]
    }

    fn email_keys(&self) -> [(bool, &'static str); 9] {
        [
            (self.smtp_host.is_some(), "smtp_host"),
            (self.smtp_port.is_some(), "smtp_port"),
            (self.tls.is_some(), "tls"),
            (self.username.is_some(), "username"),
            (self.password.is_some(), "password"),
            (self.from.is_some(), "from"),
            (self.reply_to.is_some(), "reply_to"),
            (!self.to.is_empty(), "to"),
            (self.ca_file.is_some(), "ca_file"),
        ]
    }

    fn need(&self, v: &Option<String>, key: &str) -> Result<String, String> {
        v.clone()
            .ok_or_else(|| format!("sink '{}': `{key}` is required", self.name))
    }

    fn dooray(&self) -> Result<SinkKind, String> {
        self.entry().not_for(&self.email_keys())?;
        Ok(SinkKind::Dooray {
            url: self
                .url
                .clone()
                .ok_or_else(|| format!("sink '{}': `url` is required", self.name))?,
            bot_name: self.bot_name.clone().unwrap_or_else(|| "trailwatch".into()),
            bot_icon: self.bot_icon.clone(),
        })
    }

    fn email(&self) -> Result<SinkKind, String> {
        let name = &self.name;
        self.entry().not_for(&self.dooray_keys())?;
        if self.to.is_empty() {
            return Err(format!("sink '{name}': `to` needs at least one address"));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(format!("sink '{name}': `password` needs `username`"));
        }
        let tls = self.tls.unwrap_or_default();
        let spec = EmailSpec {
            host: self.need(&self.smtp_host, "smtp_host")?,
            port: self.smtp_port.unwrap_or(match tls {
                TlsMode::Starttls => 587,
                TlsMode::Tls => 465,
                TlsMode::None => 25,
            }),
            tls,
            username: self.username.clone(),
            password: self.password.clone(),
            from: self.need(&self.from, "from")?,
            reply_to: self.reply_to.clone(),
            to: self.to.clone(),
            ca_file: self.ca_file.clone(),
        };
        spec.check().map_err(|e| format!("sink '{name}': {e}"))?;
        Ok(SinkKind::Email(spec))
    }

    fn console(&self) -> Result<SinkKind, String> {
        let entry = self.entry();
        entry.not_for(&self.dooray_keys())?;
        entry.not_for(&self.email_keys())?;
        Ok(SinkKind::Console)
    }

    fn duration(&self, v: &Option<String>, key: &str, d: Duration) -> Result<Duration, String> {
        self.entry().duration(v, key, d)
    }

    fn spec(self, kind: SinkKind) -> Result<SinkSpec, String> {
        let default_timeout = match self.kind {
            SinkType::Email => defaults::SMTP_TIMEOUT,
            _ => defaults::DOORAY_TIMEOUT,
        };
        Ok(SinkSpec {
            timeout: self.duration(&self.timeout, "timeout", default_timeout)?,
            retry_initial: self.duration(
                &self.retry_initial,
                "retry_initial",
                defaults::DELIVERY_RETRY_INITIAL,
            )?,
            min_severity: self.min_severity.unwrap_or(Severity::Info),
            templates: Overrides {
                subject: self.subject_template,
                body: self.template,
            },
            kind,
            name: self.name,
        })
    }
}

impl SinkSpec {
    /// Parses and validates one `[[sinks]]` table; errors point into the file.
    pub fn parse(t: &Spanned<toml::Table>, src: &SourceText) -> Result<SinkSpec, ConfigError> {
        let at = |m: String| src.error_at(t.span().start, m);
        let c: SinkConfig = parse_entry(t, src, "sink")?;
        let kind = match c.kind {
            SinkType::Dooray => c.dooray(),
            SinkType::Email => c.email(),
            SinkType::Console => c.console(),
        }
        .map_err(at)?;
        c.spec(kind).map_err(at)
    }

    /// True when a secret of this sink comes from the environment or a file.
    pub fn has_external_secret(&self) -> bool {
        match &self.kind {
            SinkKind::Dooray { url, .. } => url.is_external(),
            SinkKind::Email(e) => e.password.as_ref().is_some_and(|p| p.is_external()),
            SinkKind::Console => false,
        }
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
