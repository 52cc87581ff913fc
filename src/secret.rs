//! Secret values (webhook URLs, SMTP passwords): read from the configuration, an environment
//! variable (`env:NAME`) or a file (`file:/run/credentials/...`), and never printed. `Debug`
//! and `Display` show only where the secret came from.

use std::fmt;

use serde::Deserialize;

/// A secret that cannot be read. The message names where it was looked for, never a value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    NotSet(String),
    #[error("cannot read secret file {path}: {error}")]
    Unreadable { path: String, error: String },
    #[error("the secret from {0} is empty")]
    Empty(String),
}

/// A secret as configured: a literal, `env:NAME` or `file:PATH`.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct SecretRef(String);

/// A resolved secret value.
#[derive(Clone, PartialEq)]
pub struct Secret(String);

impl SecretRef {
    pub fn new(s: impl Into<String>) -> Self {
        SecretRef(s.into())
    }

    /// True when the value comes from outside the configuration (`env:` or `file:`).
    pub fn is_external(&self) -> bool {
        self.0.starts_with("env:") || self.0.starts_with("file:")
    }

    /// Where the value comes from, safe to print.
    pub fn origin(&self) -> String {
        if let Some(n) = self.0.strip_prefix("env:") {
            format!("environment variable {n}")
        } else if let Some(p) = self.0.strip_prefix("file:") {
            format!("file {p}")
        } else {
            "the configuration file".into()
        }
    }

    /// Reads the value. Errors name the origin, never the value.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let v = if let Some(n) = self.0.strip_prefix("env:") {
            std::env::var(n).map_err(|_| SecretError::NotSet(n.to_string()))?
        } else if let Some(p) = self.0.strip_prefix("file:") {
            std::fs::read_to_string(p).map_err(|e| SecretError::Unreadable {
                path: p.to_string(),
                error: e.to_string(),
            })?
        } else {
            self.0.clone()
        };
        let v = v.trim().to_string();
        if v.is_empty() {
            return Err(SecretError::Empty(self.origin()));
        }
        Ok(Secret(v))
    }
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({})", self.origin())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A URL with everything after the host replaced, for logs: Dooray puts the token in the path.
pub(crate) fn redact_url(url: &str) -> String {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let host = rest[..host_end].rsplit('@').next().unwrap_or("");
            let tail = if host_end < rest.len() { "/***" } else { "" };
            format!("{}://{host}{tail}", &url[..i])
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = SecretRef::new("https://hook.dooray.com/services/1/2/TOKEN");
        assert!(!format!("{s:?}").contains("TOKEN"));
        let v = s.resolve().unwrap();
        assert_eq!(format!("{v:?} {v}"), "Secret(***) ***");
        assert_eq!(
            redact_url("https://user:pw@hook.dooray.com/services/1/2/TOKEN?x=1"),
            "https://hook.dooray.com/***"
        );
        std::env::set_var("TW_TEST_SECRET", " abc\n");
        assert_eq!(
            SecretRef::new("env:TW_TEST_SECRET")
                .resolve()
                .unwrap()
                .expose(),
            "abc"
        );
        let e = SecretRef::new("env:TW_NOPE_UNSET").resolve().unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable TW_NOPE_UNSET is not set"
        );
    }
}
