//! Where a configuration error is: the file's text, and errors that name its file, line and
//! column. Every part of the configuration (sources, sinks, rules) reports through these.

use toml::Spanned;

/// A configuration error located in its file.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A file's text, for turning byte offsets into line and column.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub name: String,
    pub text: String,
}

impl SourceText {
    /// An error at byte `offset` of the text.
    pub fn error_at(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ConfigError {
            file: self.name.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    /// Where `key = …` is written in the table whose header is at `span` (toml spans an
    /// array-of-tables entry by its header): searched from there to the next table header.
    pub fn key_offset(&self, span: std::ops::Range<usize>, key: &str) -> Option<usize> {
        let from = span.start.min(self.text.len());
        let mut at = from;
        for (i, line) in self.text[from..].split_inclusive('\n').enumerate() {
            let t = line.trim_start();
            if i > 0 && t.starts_with('[') {
                return None;
            }
            let quoted = [format!("\"{key}\""), format!("'{key}'")];
            let rest = t
                .strip_prefix(key)
                .or_else(|| quoted.iter().find_map(|q| t.strip_prefix(q.as_str())));
            if rest.is_some_and(|r| r.trim_start().starts_with('=')) {
                return Some(at + (line.len() - t.len()));
            }
            at += line.len();
        }
        None
    }

    /// An error about a top-level key, located at its first occurrence.
    pub fn error_at_key(&self, key: &str, message: impl std::fmt::Display) -> ConfigError {
        let off = self
            .text
            .find(&format!("{key} "))
            .or_else(|| self.text.find(key))
            .unwrap_or(0);
        self.error_at(off, format!("{key}: {message}"))
    }
}

/// Deserializes one `[[sources]]` or `[[sinks]]` table (`what`) into its typed form; errors
/// name the entry and point at the offending key's line (an unknown key), else at the table.
pub(crate) fn parse_entry<T: serde::de::DeserializeOwned>(
    t: &Spanned<toml::Table>,
    src: &SourceText,
    what: &str,
) -> Result<T, ConfigError> {
    toml::Value::Table(t.get_ref().clone())
        .try_into()
        .map_err(|e: toml::de::Error| {
            let name = t
                .get_ref()
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("?");
            let message = e.message().trim().to_string();
            let at = unknown_field(&message)
                .and_then(|k| src.key_offset(t.span(), k))
                .unwrap_or(t.span().start);
            src.error_at(at, format!("{what} '{name}': {message}"))
        })
}

/// The key serde names in "unknown field `key`, expected …".
pub(crate) fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
}

/// Refuses keys that an entry of one kind does not take: `(present, key)` pairs, each an error
/// "`key` does not apply to a `kind` `what`" when present.
pub(crate) struct Entry<'a> {
    pub what: &'static str,
    pub name: &'a str,
    pub kind: String,
}

impl Entry<'_> {
    /// The message for a key that does not apply.
    pub(crate) fn not_for(&self, keys: &[(bool, &str)]) -> Result<(), String> {
        match keys.iter().find(|(present, _)| *present) {
            Some((_, key)) => Err(format!(
                "{} '{}': `{key}` does not apply to a {} {}",
                self.what, self.name, self.kind, self.what
            )),
            None => Ok(()),
        }
    }

    /// A duration key of the entry (`d` when absent); the error names entry and key.
    pub(crate) fn duration(
        &self,
        v: &Option<String>,
        key: &str,
        d: std::time::Duration,
    ) -> Result<std::time::Duration, String> {
        match v {
            None => Ok(d),
            Some(s) => crate::when::duration(s)
                .map_err(|e| format!("{} '{}', {key}: {e}", self.what, self.name)),
        }
    }
}
