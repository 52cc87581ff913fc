//! What quiets a rule's alerts without changing its pattern: the exceptions a rule carries in
//! the configuration (conditions on the record, each with a reason and an end) and a rule's
//! mode (live, or shadow: judged and recorded, never delivered). Silences, the same conditions
//! added at run time, live in the state. Pure: records in, yes or no out.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use crate::conditions::{glob, valid_path, Condition, Conditions};

/// An exception of a rule: records it does not alert on, until a date, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub when: Conditions,
    /// The end of the exception: from then on the rule alerts on these records again.
    pub until: Timestamp,
    pub reason: String,
}

impl Exception {
    /// True when it is still in force at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        now < self.until
    }

    /// True when it is in force and the record meets its conditions.
    pub fn applies(&self, record: &Value, now: Timestamp) -> bool {
        self.active(now) && self.when.hold(record)
    }
}

/// Whether a rule's alerts are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Delivered.
    #[default]
    Live,
    /// Judged, recorded in the alert history and counted; never delivered (a rule on trial).
    Shadow,
}

impl Mode {
    /// `live` or `shadow`, as written.
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "live" => Ok(Mode::Live),
            "shadow" => Ok(Mode::Shadow),
            other => Err(format!("mode '{other}' is neither live nor shadow")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::Shadow => "shadow",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exceptions_end() {
        let e = Exception {
            when: Conditions::parse_pairs(&["a=1".into()]).unwrap(),
            until: "2027-01-01T00:00:00Z".parse().unwrap(),
            reason: "r".into(),
        };
        let r = json!({"a": "1"});
        assert!(e.applies(&r, "2026-12-31T23:59:59Z".parse().unwrap()));
        assert!(!e.applies(&r, "2027-01-01T00:00:00Z".parse().unwrap()));
    }
}
