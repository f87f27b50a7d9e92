//! ATHEN clinical documents (whitepaper steps 11–16): letters in, import
//! files out. Pure: no files, no network, no clock. Callers pass bytes and
//! today's date, and get a [`document::Body`], an [`extract::Extraction`]
//! (patient, letter date, author, recipient, problems, or why conversion is
//! not possible) and, from the writers, the bytes of an import file.

pub mod compose;
pub mod convert;
pub mod date;
pub mod document;
pub mod extract;
pub mod patient;
pub mod read;
pub mod upload;
pub mod write;
