//! athen-fetch, the ATHEN downloader: a small program for the PC beside a
//! practice's clinical system. It fetches the files ATHEN made from
//! incoming letters (HL7, PIT) over the server's HTTPS API with an app
//! token, puts each into the clinical system's import folder whole, tells
//! the server (which tells the sender) when each was downloaded and when
//! the clinical system took it in. See docs/downloader.md.

pub mod client;
pub mod config;
pub mod cycle;
pub mod files;
pub mod journal;
pub mod lock;
pub mod progress;
