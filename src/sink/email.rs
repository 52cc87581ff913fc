//! The `email` sink: SMTP through lettre, with implicit TLS, required STARTTLS (the default) or
//! plain SMTP for a localhost relay; AUTH with a secret password; several recipients; a
//! plain-text and an HTML part. Headers are built by lettre, which encodes non-ASCII subjects
//! (RFC 2047) and cannot be given raw header lines, so record values cannot inject headers.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message as Mail, Tokio1Executor};

use super::{Outcome, Problem, TlsMode};
use crate::alert::fields::visible;
use crate::delivery::Message;
use crate::secret::SecretRef;

/// An email sink's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailSpec {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    pub from: String,
    pub reply_to: Option<String>,
    pub to: Vec<String>,
    pub ca_file: Option<PathBuf>,
}

impl EmailSpec {
    /// Checks the addresses.
    pub fn check(&self) -> Result<(), String> {
        let addr = |a: &str, key: &str| {
            a.parse::<Mailbox>()
                .map(|_| ())
                .map_err(|e| format!("`{key}` address '{a}' is not valid: {e}"))
        };
        addr(&self.from, "from")?;
        if let Some(r) = &self.reply_to {
            addr(r, "reply_to")?;
        }
        for t in &self.to {
            addr(t, "to")?;
        }
        Ok(())
    }
}

/// An SMTP sink.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    to: Vec<Mailbox>,
    describe: String,
}

impl Email {
    pub fn new(s: &EmailSpec, timeout: Duration) -> Result<Email, Problem> {
        let mut tls = TlsParameters::builder(s.host.clone());
        if let Some(f) = &s.ca_file {
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
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
            .port(s.port)
            .timeout(Some(timeout))
            .tls(match s.tls {
                TlsMode::Starttls => Tls::Required(params()?),
                TlsMode::Tls => Tls::Wrapper(params()?),
                TlsMode::None => Tls::None,
            });
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            let pw = p.resolve()?;
            b = b.credentials(Credentials::new(u.clone(), pw.expose().to_string()));
        }
        let parse = |a: &str| {
            a.parse::<Mailbox>().map_err(|e| Problem::Address {
                address: a.to_string(),
                error: e.to_string(),
            })
        };
        Ok(Email {
            transport: b.build(),
            from: parse(&s.from)?,
            reply_to: s.reply_to.as_deref().map(parse).transpose()?,
            to: s.to.iter().map(|t| parse(t)).collect::<Result<_, _>>()?,
            describe: format!("{}:{}", s.host, s.port),
        })
    }

    /// The message as sent.
    pub fn build(&self, m: &Message) -> Result<Mail, String> {
        // A subject is one line: control characters are shown, never passed through.
        let subject = visible(&m.subject);
        let mut b = Mail::builder().from(self.from.clone()).subject(subject);
        if let Some(r) = &self.reply_to {
            b = b.reply_to(r.clone());
        }
        for t in &self.to {
            b = b.to(t.clone());
        }
        b.multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(m.mail_text.clone()))
                .singlepart(SinglePart::html(m.mail_html.clone())),
        )
        .map_err(|e| format!("cannot build the message: {e}"))
    }

    pub async fn send(&self, m: &Message) -> Outcome {
        let mail = match self.build(m) {
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
    pub async fn probe(&self) -> Result<String, String> {
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
