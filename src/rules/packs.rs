//! The built-in rule packs, written in the same TOML form as users' `[[rules]]`.

/// `(name, TOML text)` of every built-in pack.
pub const PACKS: &[(&str, &str)] = &[
    ("default", include_str!("packs/default.toml")),
    ("cis", include_str!("packs/cis.toml")),
    ("threats", include_str!("packs/threats.toml")),
];

/// A built-in pack's TOML text, by name.
pub fn pack(name: &str) -> Option<&'static str> {
    PACKS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The names of the built-in packs, for messages.
pub fn names() -> String {
    PACKS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}
