//! Which top-level members of a record a pattern reads: a parser may leave the others out of
//! the value it hands the pattern, and the verdict stays the same.

use std::collections::BTreeSet;

/// The top-level members of a record a pattern may read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Reads {
    /// These members, and no other (empty: the pattern reads the text alone).
    Members(BTreeSet<String>),
    /// Any member (keywords searched in every value, a wildcard at the top).
    #[default]
    Anything,
}

impl Reads {
    /// No member.
    pub fn nothing() -> Reads {
        Reads::Members(BTreeSet::new())
    }

    /// The members named.
    pub fn members<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Reads {
        Reads::Members(names.into_iter().map(Into::into).collect())
    }

    /// The member a dotted path starts at (`userIdentity.arn` → `userIdentity`).
    pub fn path(dotted: &str) -> Reads {
        Reads::members([dotted.split('.').next().unwrap_or(dotted)])
    }

    /// What either reads.
    pub fn union(self, other: Reads) -> Reads {
        match (self, other) {
            (Reads::Members(mut a), Reads::Members(b)) => {
                a.extend(b);
                Reads::Members(a)
            }
            _ => Reads::Anything,
        }
    }

    /// What any of `all` reads.
    pub fn all(all: impl IntoIterator<Item = Reads>) -> Reads {
        all.into_iter().fold(Reads::nothing(), Reads::union)
    }

    /// True when the member `name` may be read.
    pub fn reads(&self, name: &str) -> bool {
        match self {
            Reads::Members(m) => m.contains(name),
            Reads::Anything => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_unite_and_anything_absorbs() {
        let a = Reads::members(["eventName"]).union(Reads::path("userIdentity.arn"));
        assert!(a.reads("eventName") && a.reads("userIdentity"));
        assert!(!a.reads("requestParameters") && !a.reads("arn"));
        assert_eq!(Reads::all([]), Reads::nothing());
        let any = Reads::all([a, Reads::Anything, Reads::nothing()]);
        assert!(any.reads("requestParameters"));
    }
}
