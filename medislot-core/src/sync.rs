//! The lock the in-memory store uses: `std`'s normally, loom's under `--cfg loom` so that loom
//! can explore every interleaving of the store's critical sections.
//!
//! A poisoned lock is recovered rather than propagated: every critical section in the store
//! finishes its writes before it can panic, so the data behind a poisoned lock is consistent.

#[cfg(loom)]
use loom::sync as imp;
#[cfg(not(loom))]
use std::sync as imp;

use std::sync::PoisonError;

/// A reader-writer lock whose guards never report poisoning.
pub(crate) struct RwLock<T>(imp::RwLock<T>);

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        Self(imp::RwLock::new(T::default()))
    }
}

impl<T> std::fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RwLock { .. }")
    }
}

impl<T> RwLock<T> {
    pub(crate) fn read(&self) -> imp::RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> imp::RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}
