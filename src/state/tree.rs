//! One tree of the database, as the state's files use it: sled's tree, which also notes every
//! key it writes while the state is copied elsewhere (`replica`), so that a flush can hand the
//! copy what changed since the last one.

use std::sync::Arc;

use sled::IVec;

use super::replica::Replica;

/// A sled tree and its name, noting the keys written to it.
pub(super) struct Tree {
    pub inner: sled::Tree,
    pub name: &'static str,
    replica: Arc<Replica>,
}

impl Tree {
    pub(super) fn new(inner: sled::Tree, name: &'static str, replica: Arc<Replica>) -> Tree {
        Tree {
            inner,
            name,
            replica,
        }
    }

    /// Notes that `key` changed (a write inside a transaction, on `inner`).
    pub(super) fn mark(&self, key: &[u8]) {
        self.replica.mark(self.name, key);
    }

    pub(super) fn get<K: AsRef<[u8]>>(&self, key: K) -> sled::Result<Option<IVec>> {
        self.inner.get(key)
    }

    pub(super) fn insert<K: AsRef<[u8]>, V: Into<IVec>>(
        &self,
        key: K,
        value: V,
    ) -> sled::Result<Option<IVec>> {
        self.mark(key.as_ref());
        self.inner.insert(key, value)
    }

    pub(super) fn remove<K: AsRef<[u8]>>(&self, key: K) -> sled::Result<Option<IVec>> {
        self.mark(key.as_ref());
        self.inner.remove(key)
    }

    pub(super) fn fetch_and_update<K, V, F>(&self, key: K, f: F) -> sled::Result<Option<IVec>>
    where
        K: AsRef<[u8]>,
        F: FnMut(Option<&[u8]>) -> Option<V>,
        IVec: From<V>,
    {
        self.mark(key.as_ref());
        self.inner.fetch_and_update(key, f)
    }

    pub(super) fn compare_and_swap<K, OV, NV>(
        &self,
        key: K,
        old: Option<OV>,
        new: Option<NV>,
    ) -> sled::Result<Result<(), sled::CompareAndSwapError>>
    where
        K: AsRef<[u8]>,
        OV: AsRef<[u8]>,
        NV: Into<IVec>,
    {
        self.mark(key.as_ref());
        self.inner.compare_and_swap(key, old, new)
    }

    pub(super) fn iter(&self) -> sled::Iter {
        self.inner.iter()
    }

    /// The entries from `from` on, in key order.
    pub(super) fn range_from(&self, from: &[u8]) -> sled::Iter {
        self.inner.range(from..)
    }

    pub(super) fn scan_prefix<P: AsRef<[u8]>>(&self, prefix: P) -> sled::Iter {
        self.inner.scan_prefix(prefix)
    }

    pub(super) fn len(&self) -> usize {
        self.inner.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}
