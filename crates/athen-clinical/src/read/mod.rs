//! Readers: each turns one kind of letter into a [`crate::document::Body`].

pub mod docx;
pub mod html;
pub mod mail;
pub mod pdf;
pub mod rtf;
pub mod text;
