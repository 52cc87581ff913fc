//! The state's copy in the shared table (`state::Mirror`): each flush's keys written in
//! transactions under the lease's fence, and the whole state read back when an instance takes
//! over. The state is synchronous (sled): a flush waits for the table (`Table::wait`).
//!
//! One item per state key: `t` the tree (`outbox`, `raised`…), `k` the key, `v` the value
//! (binary). Binary sort keys order as sled's keys do (bytewise), so a tree is read back in
//! order with one Query. An item holds 400 KB, a record up to 2 MB (`format::stream` reduces
//! longer ones): a value that does not fit is compressed (`z`), and one that still does not
//! fit is cut in parts, the first in the item (with `parts`), the others under
//! `t = "<tree>+"`, `k = key + part number`, all in the transaction of the key. A crafted
//! record must not stop the copy.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};

use super::lease::{self, Lease};
use super::table::{b64, binary, deflate, inflate, key, Fence, Table, WriteError};
use crate::source::aws::{ApiError, ApiErrorKind};
use crate::state::{Mirror, Write, TREES};

/// The most items one TransactWriteItems takes (one of them the lease check).
const PER_TRANSACTION: usize = 100;
/// What one transaction may carry (DynamoDB's limit is 4 MB).
const TRANSACTION_BYTES: usize = 3_500_000;
/// The largest value kept as it is in one item (DynamoDB's limit is 400 KB, names included).
const ITEM_BYTES: usize = 399_000;
/// The size of each part of a value cut in parts.
const PART_BYTES: usize = 350_000;

/// The copy in the table, fenced by this instance's lease.
pub(crate) struct TableMirror {
    pub table: Arc<Table>,
    pub lease: Arc<Lease>,
}

impl Mirror for TableMirror {
    fn push(&self, writes: &[Write]) -> Result<(), String> {
        if self.lease.is_lost() {
            return Err(format!(
                "{}: this instance's lease is lost ({})",
                self.table.describe(),
                self.lease.why()
            ));
        }
        let (table, fence, writes) = (self.table.clone(), self.lease.fence(), writes.to_vec());
        let r = Table::wait(async move { table.write(&writes, Some(&fence)).await });
        match r {
            Ok(()) => Ok(()),
            Err(WriteError::Fenced) => {
                self.lease
                    .lose("another instance took the lease over".into());
                Err(format!(
                    "{}: another instance took the lease over; nothing more is written by this one",
                    self.table.describe()
                ))
            }
            Err(e) => Err(format!("{}: {e}", self.table.describe())),
        }
    }

    fn held(&self) -> bool {
        self.lease.held()
    }
}

impl Table {
    /// Every key of every tree, tree by tree in order (consistent reads), values put back
    /// together from their parts.
    pub(crate) async fn load(&self) -> Result<Vec<Write>, ApiError> {
        let mut out = Vec::new();
        let mut parted = HashMap::new();
        for tree in TREES {
            let mut parts: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            for item in self.query_all(&format!("{tree}+")).await? {
                let (k, z) = (binary(&item, "k"), binary(&item, "z"));
                if let (Some(k), Some(z)) = (k, z) {
                    parts.insert(k, z);
                }
            }
            for item in self.query_all(tree).await? {
                let key = binary(&item, "k").ok_or_else(|| self.foreign(tree))?;
                let n = item["parts"]["N"]
                    .as_str()
                    .and_then(|n| n.parse::<usize>().ok());
                let value = match (binary(&item, "v"), binary(&item, "z")) {
                    (Some(v), _) => v,
                    (None, Some(mut z)) => {
                        for i in 1..n.unwrap_or(1) {
                            let part = parts.get(&part_key(&key, i)).ok_or_else(|| {
                                ApiError::new(
                                    "dynamodb:Query",
                                    format!(
                                        "part {i} of a {tree} entry is missing from {}",
                                        self.cfg.table
                                    ),
                                    ApiErrorKind::Other,
                                )
                            })?;
                            z.extend_from_slice(part);
                        }
                        inflate(&z).map_err(|e| {
                            ApiError::new(
                                "dynamodb:Query",
                                format!(
                                    "a {tree} entry in {} cannot be decompressed: {e}",
                                    self.cfg.table
                                ),
                                ApiErrorKind::Other,
                            )
                        })?
                    }
                    _ => return Err(self.foreign(tree)),
                };
                if let Some(n) = n.filter(|n| *n > 1) {
                    parted.insert((tree, key.clone()), n);
                }
                out.push(Write {
                    tree,
                    key,
                    value: Some(value),
                });
            }
        }
        *self.parted.lock().expect("parts lock") = parted;
        Ok(out)
    }

    fn foreign(&self, tree: &str) -> ApiError {
        ApiError::new(
            "dynamodb:Query",
            format!(
                "an item of {tree} in {} is not trailwatch's (k and v must be binary)",
                self.cfg.table
            ),
            ApiErrorKind::Other,
        )
    }

    /// Whether the table holds any state (the lease aside).
    pub(crate) async fn holds_state(&self) -> Result<bool, ApiError> {
        for tree in TREES {
            let mut body = self.query(tree);
            body["Limit"] = json!(1);
            let v = self.call("Query", body).await?;
            if v["Items"].as_array().is_some_and(|a| !a.is_empty()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Writes `writes` in order, in transactions of up to 99 items (the items of one key in
    /// one transaction); with `fence`, each transaction also checks that the lease is still
    /// `fence`'s, and none is written if not.
    pub(crate) async fn write(
        &self,
        writes: &[Write],
        fence: Option<&Fence>,
    ) -> Result<(), WriteError> {
        let room = PER_TRANSACTION - usize::from(fence.is_some());
        let mut batch: Vec<Value> = Vec::new();
        let mut parts: Vec<(&Write, usize)> = Vec::new();
        let mut bytes = 0;
        for w in writes {
            let (items, size, n) = self.items_of(w);
            if !batch.is_empty()
                && (batch.len() + items.len() > room || bytes + size > TRANSACTION_BYTES)
            {
                self.transact(std::mem::take(&mut batch), fence).await?;
                self.note_parts(std::mem::take(&mut parts));
                bytes = 0;
            }
            bytes += size;
            batch.extend(items);
            parts.push((w, n));
        }
        if !batch.is_empty() {
            self.transact(batch, fence).await?;
            self.note_parts(parts);
        }
        Ok(())
    }

    /// Remembers, once they are written, which keys' values are in parts (a write that failed
    /// leaves the old parts known, to be removed by the write that succeeds).
    fn note_parts(&self, written: Vec<(&Write, usize)>) {
        let mut parted = self.parted.lock().expect("parts lock");
        for (w, n) in written {
            match n {
                0 | 1 => parted.remove(&(w.tree, w.key.clone())),
                n => parted.insert((w.tree, w.key.clone()), n),
            };
        }
    }

    /// The items that write `w` (and remove the parts its old value had), their size, and in
    /// how many parts the value goes (0: as it is).
    fn items_of(&self, w: &Write) -> (Vec<Value>, usize, usize) {
        let table = &self.cfg.table;
        let old = self
            .parted
            .lock()
            .expect("parts lock")
            .get(&(w.tree, w.key.clone()))
            .copied()
            .unwrap_or(0);
        let mut items = Vec::new();
        let mut size = w.key.len() + 16;
        let mut parts = 0;
        match &w.value {
            None => items.push(json!({"Delete": {"TableName": table, "Key": key(w.tree, &w.key)}})),
            Some(v) if w.key.len() + v.len() + 16 <= ITEM_BYTES => {
                size += v.len();
                items.push(json!({"Put": {"TableName": table, "Item": {
                    "t": {"S": w.tree}, "k": {"B": b64(&w.key)}, "v": {"B": b64(v)}}}}));
            }
            Some(v) => {
                let z = deflate(v);
                size += z.len();
                let chunks: Vec<&[u8]> = if z.len() + w.key.len() + 32 <= ITEM_BYTES {
                    vec![&z[..]]
                } else {
                    z.chunks(PART_BYTES).collect()
                };
                parts = chunks.len();
                let mut first = json!({"t": {"S": w.tree}, "k": {"B": b64(&w.key)}, "z": {"B": b64(chunks[0])}});
                if parts > 1 {
                    first["parts"] = json!({"N": parts.to_string()});
                }
                items.push(json!({"Put": {"TableName": table, "Item": first}}));
                let tree = format!("{}+", w.tree);
                for (i, c) in chunks.iter().enumerate().skip(1) {
                    items.push(json!({"Put": {"TableName": table, "Item": {
                        "t": {"S": tree}, "k": {"B": b64(&part_key(&w.key, i))}, "z": {"B": b64(c)}}}}));
                }
            }
        }
        let tree = format!("{}+", w.tree);
        for i in parts.max(1)..old {
            items.push(
                json!({"Delete": {"TableName": table, "Key": key(&tree, &part_key(&w.key, i))}}),
            );
        }
        (items, size, parts)
    }

    async fn transact(
        &self,
        mut items: Vec<Value>,
        fence: Option<&Fence>,
    ) -> Result<(), WriteError> {
        let n = items.len() as u64;
        if let Some(f) = fence {
            let check = f.guard(json!({"TableName": self.cfg.table, "Key": lease::key()}));
            items.push(json!({ "ConditionCheck": check }));
        }
        let body = json!({"TransactItems": items});
        match self.call("TransactWriteItems", body).await {
            Ok(_) => {
                self.written.fetch_add(n, Ordering::Relaxed);
                Ok(())
            }
            Err(e) if e.is_condition_failed() => Err(WriteError::Fenced),
            Err(e) => Err(e.into()),
        }
    }
}

/// The key of part `i` of the value of `key`.
fn part_key(key: &[u8], i: usize) -> Vec<u8> {
    let mut k = key.to_vec();
    k.extend_from_slice(&(i as u16).to_be_bytes());
    k
}
