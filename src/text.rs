//! Attacker-controlled text made safe to show: CloudTrail fields are written by whoever made
//! the call (a user name, a user agent, a bucket name). Here: cutting a value at a character
//! boundary, and showing every character that changes how text reads — controls (CR, LF, ESC),
//! bidirectional overrides and isolates (Trojan-source reordering), zero-width and other
//! invisible characters — as a visible escape, in plain text and inside JSON text alike.

/// True for a character that changes how the text around it reads, or cannot be seen: shown
/// escaped wherever a CloudTrail value is shown.
pub(crate) fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional marks, embeddings, overrides and isolates.
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            // Zero-width and invisible characters, line and paragraph separators.
            | '\u{00ad}' | '\u{034f}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
            | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200d}' | '\u{2028}' | '\u{2029}'
            | '\u{2060}'..='\u{2064}' | '\u{206a}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}' | '\u{ffa0}' | '\u{fff0}'..='\u{fffb}' | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
        )
}

/// Shows every deceptive character (see [`is_deceptive`]) as `\u{..}`, so a value stays on its
/// line and reads in the order it is written.
pub(crate) fn visible(s: &str) -> String {
    if !s.chars().any(is_deceptive) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_deceptive(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// JSON text with every deceptive character written as a JSON escape (`\u202e`): the same
/// JSON value, safe to show (serde_json writes them raw).
pub(crate) fn json_visible(json: &str) -> String {
    if !json.chars().any(|c| is_deceptive(c) && c != '\n') {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        // Newlines and indentation outside strings are the pretty-printer's own.
        if is_deceptive(c) && c != '\n' {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A record's text pretty-printed to show: pretty JSON keeps its line breaks (a deceptive
/// character inside a value is escaped as JSON escapes it: the same value, safe to show); text
/// that is not JSON is shown whole, made visible.
pub(crate) fn pretty_record(record: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(record)
        .ok()
        .and_then(|r| serde_json::to_string_pretty(&r).ok())
    {
        Some(pretty) => json_visible(&pretty),
        None => visible(record),
    }
}

/// Cuts `s` to at most `max` characters, marking the cut, never splitting a character.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        // No more characters than bytes.
        return s.to_string();
    }
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_characters_whole_and_controls_visible() {
        assert_eq!(truncate("계정경보", 2), "계정…");
        assert_eq!(truncate("ab", 2), "ab");
        assert_eq!(visible("a\r\nb\u{1b}"), "a\\u{d}\\u{a}b\\u{1b}");
    }

    #[test]
    fn every_character_that_reorders_or_hides_text_is_shown() {
        for c in [
            '\u{202e}',
            '\u{2066}',
            '\u{2069}',
            '\u{061c}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{feff}',
            '\u{2028}',
            '\u{e0041}',
        ] {
            let v = visible(&format!("admin{c}x"));
            assert!(!v.contains(c), "{c:?} passed raw: {v}");
            assert!(v.starts_with("admin\\u{"), "{v}");
        }
        // Korean and ordinary punctuation are untouched.
        assert_eq!(visible("root 계정 [x](y) *b*"), "root 계정 [x](y) *b*");
    }

    #[test]
    fn json_keeps_its_value_and_shows_the_characters() {
        let v = serde_json::json!({"userName": "evil\u{202e}txt.exe", "n": "a\u{200b}b"});
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        let shown = json_visible(&pretty);
        assert!(
            !shown.contains('\u{202e}') && !shown.contains('\u{200b}'),
            "{shown}"
        );
        assert!(shown.contains("evil\\u202etxt.exe"), "{shown}");
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, v, "the same JSON value");
    }
}
