//! Errors shared across crates.

use thiserror::Error;

/// A value a person typed (or a script passed) that cannot be accepted, with
/// the field it belongs to and a reason in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

impl Invalid {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Failures of a storage back-end.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A unique value (address, login name) is already taken.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The request is not allowed in the current state (e.g. confirming a closed account).
    #[error("{0}")]
    State(String),
    /// The stored data failed an integrity check (AEAD tag, truncated file).
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// The disk, database or network failed; nothing was changed.
    #[error("storage failure: {0}")]
    Io(String),
}
