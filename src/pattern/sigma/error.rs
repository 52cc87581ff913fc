//! Why a Sigma rule cannot be used: every refusal names what is wrong and where.

/// Why a Sigma rule cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SigmaError(pub String);

pub(super) fn err<T>(m: impl Into<String>) -> Result<T, SigmaError> {
    Err(SigmaError(m.into()))
}

/// The longest word of a rule an error repeats, and the longest error.
const LONGEST_WORD: usize = 80;
const LONGEST_ERROR: usize = 2000;

/// `m` fit to be said: each word longer than `LONGEST_WORD` cut (with its length), the whole
/// cut at `LONGEST_ERROR` (a rule may hold a 5 MB word; an error must not repeat it).
pub(super) fn shorten(m: &str) -> String {
    let mut out = String::new();
    let mut rest = m;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        if word.len() > LONGEST_WORD {
            let cut = word.floor_char_boundary(LONGEST_WORD / 2);
            out.push_str(&format!("{}…({} bytes)", &word[..cut], word.len()));
        } else {
            out.push_str(word);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    if out.len() > LONGEST_ERROR {
        let cut = out.floor_char_boundary(LONGEST_ERROR);
        let more = out.len() - cut;
        out.truncate(cut);
        out.push_str(&format!("… ({more} bytes more)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_never_repeats_a_huge_word_nor_grows_without_end() {
        let huge = "x".repeat(5_000_000);
        let s = shorten(&format!(
            "the condition names `{huge}`, which is not a search identifier"
        ));
        assert!(s.len() < 200, "{}", s.len());
        assert!(
            s.contains("(5000003 bytes)") && s.ends_with("which is not a search identifier"),
            "{s}"
        );
        let many = "word ".repeat(100_000);
        let s = shorten(&many);
        assert!(s.len() < 2100 && s.ends_with("bytes more)"), "{}", s.len());
        assert_eq!(shorten("short and sweet"), "short and sweet");
        // Cut on a character's boundary.
        let s = shorten(&"가".repeat(100));
        assert!(s.starts_with("가"), "{s}");
    }
}
