//! Domain types shared by every part of ATHEN.
//!
//! This crate knows nothing about SQL, files, sockets or cryptography. It holds
//! the nouns of the system (accounts, directory entries, logins, mailboxes,
//! spooled and stored messages), the checks that decide whether user input is
//! acceptable (Australian identifiers, addresses, postcodes), and the async
//! traits that storage back-ends implement.

pub mod account;
pub mod audit;
pub mod clock;
pub mod connections;
pub mod directory;
pub mod error;
pub mod identifiers;
pub mod ids;
pub mod lifecycle;
pub mod mailbox;
pub mod queue;
pub mod store;

pub use error::{Invalid, StoreError};
pub use ids::*;
