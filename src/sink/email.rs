//! The `email` sink: SMTP through lettre, with implicit TLS, required STARTTLS (the default) or
//! plain SMTP for a localhost relay; AUTH with a secret password; several recipients; a
//! plain-text and an HTML part. Headers are built by lettre, which encodes non-ASCII subjects
//! (RFC 2047) and cannot be given raw header lines, so record values cannot inject headers.
//! Permanent SMTP errors (5xx) park the alert; everything else is retried.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message as Mail, Tokio1Executor};
use serde::Deserialize;

use super::kind::{Attempt, Kind, Opening, Outcome, Problem, Transport};
use super::message::{Format, Message};
use crate::secret::SecretRef;
use crate::text::{json_visible, visible};

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

/// A `type = "email"` sink's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    /// Default: 587 with STARTTLS, 465 with TLS, 25 without.
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    pub username: Option<String>,
    /// A secret (`env:NAME`, `file:PATH` or literal); needs `username`.
    pub password: Option<SecretRef>,
    pub from: String,
    pub reply_to: Option<String>,
    /// One address or more.
    pub to: Vec<String>,
    /// A PEM file of extra CA certificates to trust (a private relay's own CA).
    pub ca_file: Option<PathBuf>,
}

impl EmailConfig {
    fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.tls {
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        })
    }
}

fn mailbox(a: &str) -> Result<Mailbox, Problem> {
    a.parse::<Mailbox>().map_err(|e| Problem::Address {
        address: a.to_string(),
        error: e.to_string(),
    })
}

impl Kind for EmailConfig {
    fn kind(&self) -> &'static str {
        "email"
    }

    fn check(&self) -> Result<(), String> {
        if self.to.is_empty() {
            return Err("`to` needs at least one address".into());
        }
        if self.password.is_some() && self.username.is_none() {
            return Err("`password` needs `username`".into());
        }
        let addr = |a: &str, key: &str| {
            a.parse::<Mailbox>()
                .map(|_| ())
                .map_err(|e| format!("`{key}` address '{a}' is not valid: {e}"))
        };
        addr(&self.from, "from")?;
        if let Some(r) = &self.reply_to {
            addr(r, "reply_to")?;
        }
        self.to.iter().try_for_each(|t| addr(t, "to"))
    }

    fn describe(&self) -> String {
        format!(
            "email via {}:{} ({}) to {}",
            self.smtp_host,
            self.port(),
            match self.tls {
                TlsMode::Starttls => "STARTTLS",
                TlsMode::Tls => "TLS",
                TlsMode::None => "no TLS",
            },
            self.to.join(", ")
        )
    }

    fn secrets(&self) -> Vec<&SecretRef> {
        self.password.iter().collect()
    }

    fn default_timeout(&self) -> Duration {
        crate::defaults::SMTP_TIMEOUT
    }

    fn open(&self, o: &Opening) -> Result<Box<dyn Transport>, Problem> {
        let timeout = o.timeout;
        let mut tls = TlsParameters::builder(self.smtp_host.clone());
        if let Some(f) = &self.ca_file {
            let ca_err = |error: String| Problem::CaFile {
                path: f.clone(),
                error,
            };
            let pem = std::fs::read(f).map_err(|e| ca_err(e.to_string()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| ca_err(e.to_string()))?;
            tls = tls.add_root_certificate(cert);
        }
        let params = || {
            tls.clone()
                .build_rustls()
                .map_err(|e| Problem::Tls(e.to_string()))
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.smtp_host)
            .port(self.port())
            .timeout(Some(timeout))
            .tls(match self.tls {
                TlsMode::Starttls => Tls::Required(params()?),
                TlsMode::Tls => Tls::Wrapper(params()?),
                TlsMode::None => Tls::None,
            });
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            let pw = p.resolve()?;
            b = b.credentials(Credentials::new(u.clone(), pw.expose().to_string()));
        }
        Ok(Box::new(Email {
            transport: b.build(),
            from: mailbox(&self.from)?,
            reply_to: self.reply_to.as_deref().map(mailbox).transpose()?,
            to: self
                .to
                .iter()
                .map(|t| mailbox(t))
                .collect::<Result<_, _>>()?,
            describe: format!("{}:{}", self.smtp_host, self.port()),
        }))
    }
}

/// The record as an attachment: `event.json`, the whole record pretty-printed (characters
/// that change how text reads written as JSON escapes: the same JSON value); a record that
/// could not be read whole goes as `record.txt`, shown safe. `None` without a record.
fn attachment(record: &str) -> Option<(&'static str, &'static str, String)> {
    if record.is_empty() {
        return None;
    }
    Some(match serde_json::from_str::<serde_json::Value>(record) {
        Ok(v) => (
            "event.json",
            "application/json",
            json_visible(&serde_json::to_string_pretty(&v).unwrap_or_default()),
        ),
        Err(_) => ("record.txt", "text/plain; charset=utf-8", visible(record)),
    })
}

/// An SMTP sink.
pub(crate) struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    to: Vec<Mailbox>,
    describe: String,
}

impl Email {
    /// A Message-ID on From's domain (many relays do not add one, and Gmail refuses mail
    /// without).
    fn msg_id(&self, id: &str) -> String {
        let domain = self.from.email.domain();
        format!("<trailwatch.{id}@{domain}>")
    }

    /// The message as sent: a Message-ID (and the first message of its thread in
    /// `In-Reply-To` and `References`), a text and an HTML part, and the record as
    /// `event.json`.
    pub(crate) fn build(&self, m: &Message<'_>) -> Result<Mail, String> {
        // A subject is one line: control characters are shown, never passed through.
        let subject = visible(&m.subject());
        let mut b = Mail::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(self.msg_id(&m.id)));
        if let Some(first) = &m.thread {
            b = b
                .in_reply_to(self.msg_id(first))
                .references(self.msg_id(first));
        }
        if let Some(r) = &self.reply_to {
            b = b.reply_to(r.clone());
        }
        for t in &self.to {
            b = b.to(t.clone());
        }
        let body = MultiPart::alternative()
            .singlepart(SinglePart::plain(m.text(Format::MailText)))
            .singlepart(SinglePart::html(m.text(Format::MailHtml)));
        let mail = match attachment(m.record) {
            None => b.multipart(body),
            Some((name, ctype, content)) => {
                let ctype = ContentType::parse(ctype).expect("a content type");
                let a = Attachment::new(name.into()).body(content, ctype);
                b.multipart(MultiPart::mixed().multipart(body).singlepart(a))
            }
        };
        mail.map_err(|e| format!("cannot build the message: {e}"))
    }

    async fn deliver(&self, mail: Result<Mail, String>) -> Outcome {
        let mail = match mail {
            Ok(x) => x,
            Err(reason) => return Outcome::Park { reason },
        };
        match self.transport.send(mail).await {
            Ok(_) => Outcome::Delivered,
            Err(e) if e.is_permanent() => Outcome::Park {
                reason: format!("SMTP server {} refused the message: {e}", self.describe),
            },
            Err(e) => Outcome::Retry {
                reason: format!("SMTP via {} failed: {e}", self.describe),
                after: None,
            },
        }
    }

    /// Connects (and, where configured, negotiates TLS and logs in) without sending.
    async fn reach(&self) -> Result<String, String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(format!(
                "SMTP server {} accepted the connection",
                self.describe
            )),
            Ok(false) => Err(format!("SMTP server {} did not answer NOOP", self.describe)),
            Err(e) => Err(format!("SMTP server {}: {e}", self.describe)),
        }
    }
}

impl Transport for Email {
    fn send<'a>(&'a self, m: &'a Message<'a>) -> Attempt<'a, Outcome> {
        let mail = self.build(m);
        Box::pin(self.deliver(mail))
    }

    fn probe(&self) -> Attempt<'_, Result<String, String>> {
        Box::pin(self.reach())
    }
}
