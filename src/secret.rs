//! Secret values (webhook URLs, SMTP passwords): read from the configuration, an environment
//! variable (`env:NAME`), a file (`file:/path`) or a systemd credential (`credential:NAME`),
//! and never printed. `Debug` and `Display` show only where the secret came from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

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
    #[error("credential {name}: {why}")]
    Credential { name: String, why: String },
}

/// The folder `credential:NAME` falls back to outside systemd: `credentials` beside the
/// configuration file (set when a configuration is loaded).
static BESIDE_CONFIG: RwLock<Option<PathBuf>> = RwLock::new(None);

/// Makes `credential:NAME` fall back to the folder `credentials` beside `config` when
/// `$CREDENTIALS_DIRECTORY` is not set (a command run by hand, outside the service).
pub(crate) fn credentials_beside(config: &Path) {
    let dir = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("credentials");
    if let Ok(mut b) = BESIDE_CONFIG.write() {
        *b = Some(dir);
    }
}

/// Where the systemd credential `name` is read: `$CREDENTIALS_DIRECTORY/name`, the folder
/// systemd's `LoadCredential=` fills for the service; outside systemd, the folder
/// `credentials` beside the configuration file (/etc/trailwatch/credentials for the package's).
pub(crate) fn credential_path(name: &str) -> Result<PathBuf, SecretError> {
    let bad = |why: &str| SecretError::Credential {
        name: name.to_string(),
        why: why.to_string(),
    };
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(bad(
            "a credential name is a file name (letters, digits, - and _)",
        ));
    }
    if let Some(d) = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
        return Ok(Path::new(&d).join(name));
    }
    match BESIDE_CONFIG.read().ok().and_then(|b| b.clone()) {
        Some(d) => Ok(d.join(name)),
        None => Err(bad(
            "$CREDENTIALS_DIRECTORY is not set (systemd's LoadCredential= sets it for the service)",
        )),
    }
}

/// A secret as configured: a literal, `env:NAME`, `file:PATH` or `credential:NAME`.
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

    /// True when the value comes from outside the configuration (`env:`, `file:` or
    /// `credential:`).
    pub fn is_external(&self) -> bool {
        ["env:", "file:", "credential:"]
            .iter()
            .any(|p| self.0.starts_with(p))
    }

    /// The systemd credential it is read from (`credential:NAME`), if it is one.
    pub fn credential(&self) -> Option<&str> {
        self.0.strip_prefix("credential:")
    }

    /// Where the value comes from, safe to print.
    pub fn origin(&self) -> String {
        if let Some(n) = self.0.strip_prefix("env:") {
            format!("environment variable {n}")
        } else if let Some(p) = self.0.strip_prefix("file:") {
            format!("file {p}")
        } else if let Some(n) = self.0.strip_prefix("credential:") {
            match credential_path(n) {
                Ok(p) => format!("credential {n} ({})", p.display()),
                Err(_) => format!("credential {n}"),
            }
        } else {
            "the configuration file".into()
        }
    }

    /// Reads the value. Errors name the origin, never the value.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let v = if let Some(n) = self.0.strip_prefix("env:") {
            std::env::var(n).map_err(|_| SecretError::NotSet(n.to_string()))?
        } else if let Some(p) = self.0.strip_prefix("file:") {
            read(Path::new(p))?
        } else if let Some(n) = self.0.strip_prefix("credential:") {
            read(&credential_path(n)?).map_err(|e| SecretError::Credential {
                name: n.to_string(),
                why: e.to_string(),
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

/// A secret file's text; the error names the path.
fn read(path: &Path) -> Result<String, SecretError> {
    std::fs::read_to_string(path).map_err(|e| SecretError::Unreadable {
        path: path.display().to_string(),
        error: e.to_string(),
    })
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

    #[test]
    fn credentials_come_from_systemds_folder_else_beside_the_configuration() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("credentials")).unwrap();
        std::fs::write(d.path().join("credentials/hook"), "https://h/TOKEN\n").unwrap();
        let r = SecretRef::new("credential:hook");
        assert!(r.is_external());
        // Outside systemd (this test never sets CREDENTIALS_DIRECTORY): beside the config.
        assert!(std::env::var_os("CREDENTIALS_DIRECTORY").is_none());
        credentials_beside(&d.path().join("config.toml"));
        assert_eq!(r.resolve().unwrap().expose(), "https://h/TOKEN");
        assert!(!format!("{r:?}").contains("TOKEN"));
        let missing = SecretRef::new("credential:nope").resolve().unwrap_err();
        assert!(
            missing.to_string().contains("credentials/nope"),
            "{missing}"
        );
        let bad = SecretRef::new("credential:../x").resolve().unwrap_err();
        assert!(bad.to_string().contains("a file name"), "{bad}");
    }
}
