//! How the state's keys and values are laid out in bytes.

/// An outbox or dead-letter entry's key: its event's time (ms, high 64 bits) and a sequence
/// number (low 64 bits), so that the outbox drains oldest event first.
pub(crate) type EntryId = u128;

/// `a` NUL `b`: a source and one of its streams, files or events.
pub(super) fn key2(a: &str, b: &str) -> Vec<u8> {
    let mut k = a.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

pub(super) fn split2(k: &[u8]) -> (String, String) {
    let s = String::from_utf8_lossy(k);
    match s.split_once('\0') {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (s.to_string(), String::new()),
    }
}

/// An entry key for an event at `ms`.
pub(super) fn entry_key(ms: i64, seq: u64) -> [u8; 16] {
    let hi = (ms as u64) ^ (1 << 63);
    ((u128::from(hi) << 64) | u128::from(seq)).to_be_bytes()
}

pub(super) fn entry_id(k: &[u8]) -> EntryId {
    match k.len() {
        16 => u128::from_be_bytes(k.try_into().expect("16 bytes")),
        // Entries written before keys carried the event's time.
        _ => u128::from(u64::from_be_bytes(k.try_into().unwrap_or([0; 8]))),
    }
}

/// The bytes of an entry's key, as it was stored (old 8-byte keys stay 8 bytes).
pub(super) fn id_bytes(id: EntryId) -> Vec<u8> {
    match u64::try_from(id) {
        Ok(old) => old.to_be_bytes().to_vec(),
        Err(_) => id.to_be_bytes().to_vec(),
    }
}

pub(super) fn i64_of(v: &[u8]) -> i64 {
    v.get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, i64::from_be_bytes)
}
