//! The language of messages and of trailwatch's own texts: Korean (the seed's) or English.

/// The language of the default message texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    Ko,
    En,
}

impl Language {
    /// The text in this language, of its English and Korean forms.
    pub fn pick(self, en: String, ko: String) -> String {
        match self {
            Language::En => en,
            Language::Ko => ko,
        }
    }

    /// `ko` or `en`, as the configuration writes them.
    pub fn parse(s: &str) -> Result<Language, String> {
        match s {
            "ko" => Ok(Language::Ko),
            "en" => Ok(Language::En),
            other => Err(format!("language '{other}' is not supported (ko, en)")),
        }
    }
}
