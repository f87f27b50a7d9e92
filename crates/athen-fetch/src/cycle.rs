//! One cycle of the downloader (whitepaper "Download Run-Through";
//! ../shared/reference/athen-original.md "Downloader state machine"):
//! log in with the app token, finish what an earlier run left half done,
//! fetch each file waiting, check it, put it into the import folder whole,
//! report it downloaded, report imported those the clinical system has
//! taken out of the folder, log out. Every step can be repeated: the
//! server takes a report said twice as said once, and the journal knows
//! which files are this downloader's.

use crate::client::{Client, ClientError, ServerAddress};
use crate::config::Config;
use crate::files::{self, Published, Staged};
use crate::journal::{Entry, Journal, Step};
use crate::progress::Progress;
use hyper::Method;
use serde_json::{Value, json};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a cycle waits, after logging in, for the server to finish
/// filing the letters that arrived while the mailbox was locked.
const SETTLE_WAIT: Duration = Duration::from_secs(120);
/// Files listed per request.
const PAGE: u32 = 200;
/// How old a file of the upload folder must be to be sent (younger, it
/// may still be being written).
const UPLOAD_SETTLE: Duration = Duration::from_secs(2);

/// A file name in a URL's query: everything but unreserved characters
/// percent-encoded (RFC 3986 §2.3).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What a cycle did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// Put into the import folder and reported.
    pub downloaded: usize,
    /// Reported taken in by the clinical system.
    pub imported: usize,
    /// Files that could not be delivered, with why ("NAME: reason").
    pub failed: Vec<String>,
    /// This downloader's files still in the import folder.
    pub awaiting_import: usize,
    /// Files of the upload folder sent.
    #[serde(default)]
    pub sent: usize,
    /// Files of the upload folder that cannot be sent ("NAME: reason"),
    /// moved to its Errors folder.
    #[serde(default)]
    pub not_sent: Vec<String>,
}

/// Why a cycle stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Local(String),
}

impl CycleError {
    fn local(what: &str, e: io::Error) -> CycleError {
        CycleError::Local(format!("{what}: {e}"))
    }
}

/// Where a cycle keeps its journal.
pub fn journal_path(state_dir: &Path) -> PathBuf {
    state_dir.join("journal.jsonl")
}

/// Runs one cycle.
pub async fn run(
    config: &Config,
    state_dir: &Path,
    progress: &mut Progress,
) -> Result<Outcome, CycleError> {
    let import = config.import_folder.clone();
    if !import.is_dir() {
        return Err(CycleError::Local(format!(
            "the import folder {} does not exist (is its drive connected?); nothing was fetched",
            import.display()
        )));
    }
    let address = ServerAddress::parse(&config.server).map_err(CycleError::Local)?;
    let mut journal =
        Journal::open(&journal_path(state_dir)).map_err(|e| CycleError::local("the journal", e))?;
    let mut client = Client::new(address, config.trust.clone());
    client.log_in(&config.login, &config.token).await.map_err(|e| match e {
        ClientError::Refused(why) => CycleError::Client(ClientError::Refused(format!(
            "{why}; the app token may have been revoked or mistyped: create a new one in the web app (Settings → App tokens) and run \"athen-fetch setup\" again"
        ))),
        e => e.into(),
    })?;
    let mut cycle = Cycle {
        client: &mut client,
        journal: &mut journal,
        import: &import,
        upload: config.upload_folder.as_deref(),
        progress,
        outcome: Outcome::default(),
    };
    let result = cycle.work().await;
    let outcome = std::mem::take(&mut cycle.outcome);
    client.log_out().await;
    result.map(|()| outcome)
}

struct Cycle<'a> {
    client: &'a mut Client,
    journal: &'a mut Journal,
    import: &'a Path,
    upload: Option<&'a Path>,
    progress: &'a mut Progress,
    outcome: Outcome,
}

/// A file as the server lists it.
struct Listed {
    id: String,
    file: String,
    sha256: String,
    size: u64,
}

impl Listed {
    /// A listed file, or `None` if the server's entry is not one this
    /// program will act on: the id becomes part of a file name in the
    /// import folder's staging area and of a request path, so it must be
    /// digits only (a hostile server's `../../x` would write elsewhere).
    fn from_json(v: &Value) -> Option<Listed> {
        let id = v["id"].as_str().filter(|id| download_id(id))?;
        Some(Listed {
            id: id.to_string(),
            file: v["file"].as_str()?.to_string(),
            sha256: v["sha256"].as_str()?.to_ascii_lowercase(),
            size: v["size"].as_u64()?,
        })
    }
}

/// Whether `id` is a download id: 1 to 19 ASCII digits, as the server
/// makes them.
pub(crate) fn download_id(id: &str) -> bool {
    (1..=19).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Cycle<'_> {
    async fn work(&mut self) -> Result<(), CycleError> {
        self.settle().await?;
        self.recover()?;
        files::clear_staging(self.import)
            .map_err(|e| CycleError::local("the staging folder", e))?;
        // Files written but not reported (the connection broke): report.
        let unreported: Vec<Entry> = self
            .journal
            .pending()
            .filter(|e| e.step == Step::Written)
            .cloned()
            .collect();
        for e in unreported {
            self.report_downloaded(&e).await?;
        }
        self.fetch_waiting().await?;
        self.report_imports().await?;
        self.outcome.awaiting_import = self.journal.pending().count();
        if let Some(folder) = self.upload {
            self.send_uploads(folder).await?;
        }
        Ok(())
    }

    /// Sends the files the clinical system left in the upload folder, each
    /// to the addressee it names (the server reads it and finds them in the
    /// directory). A file sent moves to `Sent`; one that cannot be sent to
    /// `Errors`, with a `.txt` beside it saying why. A file younger than a
    /// few seconds may still be being written: it waits for the next cycle.
    async fn send_uploads(&mut self, folder: &Path) -> Result<(), CycleError> {
        if !folder.is_dir() {
            return Err(CycleError::Local(format!(
                "the upload folder {} does not exist; nothing was sent",
                folder.display()
            )));
        }
        let mut names: Vec<String> = std::fs::read_dir(folder)
            .map_err(|e| CycleError::local("the upload folder", e))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| {
                e.metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= UPLOAD_SETTLE)
            })
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && files::upload_kind(n))
            .collect();
        names.sort();
        for name in names {
            let path = folder.join(&name);
            let bytes =
                std::fs::read(&path).map_err(|e| CycleError::local("the upload folder", e))?;
            // The same file under the same name is one upload, however
            // often it is tried (the server keeps the key).
            let key = {
                use sha2::Digest;
                let mut h = sha2::Sha256::new();
                h.update(name.as_bytes());
                h.update([0]);
                h.update(&bytes);
                files::hex(&h.finalize())
            };
            let answer = self
                .client
                .send_file(
                    &format!("/api/v1/outbox?name={}", percent_encode(&name)),
                    bytes.into(),
                    &key,
                )
                .await?;
            match answer.status.as_u16() {
                200 | 201 => {
                    let to = answer.json()["to"].as_str().unwrap_or("").to_string();
                    files::move_into(&path, &folder.join("Sent"))
                        .map_err(|e| CycleError::local("the upload folder's Sent folder", e))?;
                    self.outcome.sent += 1;
                    if to.is_empty() {
                        self.progress.log(&format!("{name} was sent already"));
                    } else {
                        self.progress.log(&format!("sent {name} to {to}"));
                    }
                }
                400 | 413 | 415 | 422 => {
                    let why = answer.error_text();
                    let errors = folder.join("Errors");
                    let moved = files::move_into(&path, &errors)
                        .map_err(|e| CycleError::local("the upload folder's Errors folder", e))?;
                    let note = format!(
                        "{} could not be sent by athen-fetch on {}:\r\n{why}\r\n",
                        name,
                        crate::progress::timestamp()
                    );
                    let mut note_name = moved.file_name().unwrap_or_default().to_os_string();
                    note_name.push(".txt");
                    std::fs::write(errors.join(note_name), note)
                        .map_err(|e| CycleError::local("the upload folder's Errors folder", e))?;
                    self.progress.log(&format!("could not send {name}: {why}"));
                    self.outcome.not_sent.push(format!("{name}: {why}"));
                }
                _ => return Err(CycleError::Client(answer.into_error())),
            }
        }
        Ok(())
    }

    /// Waits until letters that came while the mailbox was locked are
    /// filed (and converted), so that this cycle sees them.
    async fn settle(&mut self) -> Result<(), CycleError> {
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
        loop {
            let m = self
                .client
                .json(Method::GET, "/api/v1/mailbox", None)
                .await?;
            let u = &m["unspool"];
            let settled = u["waiting"].as_u64() == Some(0) && u["first_page_ready"] == true;
            if settled || tokio::time::Instant::now() > deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Files the last run left between download and rename: a finished
    /// staged copy is renamed now; no copy and no file means the rename
    /// happened and the clinical system took the file already.
    fn recover(&mut self) -> Result<(), CycleError> {
        let writing: Vec<Entry> = self
            .journal
            .pending()
            .filter(|e| e.step == Step::Writing)
            .cloned()
            .collect();
        for e in writing {
            let staged = self
                .import
                .join(files::STAGING)
                .join(format!("{}.part", e.id));
            let target = self.import.join(&e.file);
            if !target.exists() && staged.exists() {
                if files::sha256_of(&staged).ok().as_deref() == Some(e.sha256.as_str()) {
                    std::fs::rename(&staged, &target)
                        .and_then(|()| files::sync_dir(self.import))
                        .map_err(|err| CycleError::local("finishing an earlier download", err))?;
                } else {
                    // Not the finished file after all: fetch it again.
                    let _ = std::fs::remove_file(&staged);
                    continue;
                }
            }
            self.journal
                .record(
                    Entry {
                        step: Step::Written,
                        at: now(),
                        ..e
                    },
                    false,
                )
                .map_err(|err| CycleError::local("the journal", err))?;
        }
        Ok(())
    }

    async fn report(&mut self, id: &str, body: Value) -> Result<Value, ClientError> {
        self.client
            .json(
                Method::POST,
                &format!("/api/v1/downloads/{id}/report"),
                Some(&body),
            )
            .await
    }

    async fn report_downloaded(&mut self, e: &Entry) -> Result<(), CycleError> {
        let step = match self
            .report(&e.id, json!({"state": "downloaded", "sha256": e.sha256}))
            .await
        {
            Ok(_) => Step::Reported,
            // The letter was deleted on the server meanwhile: nothing to
            // report any more, and nothing to wait for (the file stays in
            // the import folder for the clinical system).
            Err(ClientError::Server { status: 404, .. }) => {
                self.progress.log(&format!(
                    "{} (download {}) is no longer on the server; forgotten",
                    e.file, e.id
                ));
                Step::Imported
            }
            Err(other) => return Err(other.into()),
        };
        self.journal
            .record(
                Entry {
                    step,
                    at: now(),
                    ..e.clone()
                },
                false,
            )
            .map_err(|err| CycleError::local("the journal", err))?;
        Ok(())
    }

    /// Tells the server a file could not be delivered; it is offered again.
    async fn report_failed(&mut self, listed: &Listed, reason: &str) -> Result<(), CycleError> {
        self.progress.log(&format!(
            "could not deliver {} (download {}): {reason}",
            listed.file, listed.id
        ));
        self.outcome
            .failed
            .push(format!("{}: {reason}", listed.file));
        self.report(&listed.id, json!({"state": "failed", "reason": reason}))
            .await?;
        Ok(())
    }

    /// Every file waiting (or failed before), page by page.
    async fn fetch_waiting(&mut self) -> Result<(), CycleError> {
        let mut listed = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/api/v1/downloads?state=waiting,failed&limit={PAGE}&after={a}"),
                None => format!("/api/v1/downloads?state=waiting,failed&limit={PAGE}"),
            };
            let page = self.client.json(Method::GET, &path, None).await?;
            for entry in page["downloads"].as_array().into_iter().flatten() {
                match Listed::from_json(entry) {
                    Some(l) => listed.push(l),
                    None => self
                        .progress
                        .log("the server listed a download this program cannot take (a bad id or field); skipped"),
                }
            }
            match page["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => break,
            }
        }
        self.progress.start(listed.len());
        for l in &listed {
            let go_on = self.fetch_one(l).await?;
            self.progress.advance(&l.file);
            if !go_on {
                break;
            }
        }
        self.progress.finish();
        Ok(())
    }

    /// Fetches one file into the import folder and reports it. `false`
    /// when no further file should be tried this cycle (the disk is full).
    async fn fetch_one(&mut self, l: &Listed) -> Result<bool, CycleError> {
        if let Some(e) = self.journal.get(&l.id).cloned() {
            // Written already; the server did not hear of it.
            if e.step >= Step::Written {
                self.report_downloaded(&e).await?;
                return Ok(true);
            }
        }
        if !files::safe_name(&l.file) {
            self.report_failed(
                l,
                "the server gave a file name that is not a plain file name",
            )
            .await?;
            return Ok(true);
        }
        let target = self.import.join(&l.file);
        let entry = Entry {
            id: l.id.clone(),
            step: Step::Writing,
            file: l.file.clone(),
            sha256: l.sha256.clone(),
            at: now(),
        };
        if target.exists() {
            // A file of this name waits in the folder: this one (the
            // journal was lost), or another that must not be overwritten.
            if files::sha256_of(&target).ok().as_deref() == Some(l.sha256.as_str()) {
                self.journal
                    .record(
                        Entry {
                            step: Step::Written,
                            ..entry.clone()
                        },
                        true,
                    )
                    .map_err(|e| CycleError::local("the journal", e))?;
                self.report_downloaded(&entry).await?;
                self.outcome.downloaded += 1;
            } else {
                self.report_failed(l, "another file of the same name waits in the import folder; it is tried again once that one is imported").await?;
            }
            return Ok(true);
        }
        // Twice at most: a file that arrives damaged twice is reported.
        let mut damaged = false;
        for _ in 0..2 {
            match self.download(l).await? {
                Downloaded::Ready(staged) => {
                    self.journal
                        .record(entry.clone(), true)
                        .map_err(|e| CycleError::local("the journal", e))?;
                    let published = staged
                        .publish(self.import, &l.file, &l.sha256)
                        .map_err(|e| CycleError::local("the import folder", e))?;
                    if published == Published::NameTaken {
                        self.report_failed(
                            l,
                            "another file of the same name appeared in the import folder",
                        )
                        .await?;
                        return Ok(true);
                    }
                    self.journal
                        .record(
                            Entry {
                                step: Step::Written,
                                at: now(),
                                ..entry.clone()
                            },
                            false,
                        )
                        .map_err(|e| CycleError::local("the journal", e))?;
                    self.report_downloaded(&entry).await?;
                    self.outcome.downloaded += 1;
                    self.progress
                        .log(&format!("downloaded {} (download {})", l.file, l.id));
                    return Ok(true);
                }
                Downloaded::Damaged => damaged = true,
                Downloaded::CannotWrite(e) => {
                    let full = e.kind() == io::ErrorKind::StorageFull;
                    let reason = if full {
                        format!("the import folder's disk is full ({e})")
                    } else {
                        format!("cannot write into the import folder ({e})")
                    };
                    self.report_failed(l, &reason).await?;
                    return Ok(!full);
                }
            }
        }
        if damaged {
            self.report_failed(
                l,
                "the file arrived damaged twice (its SHA-256 did not match); nothing was written",
            )
            .await?;
        }
        Ok(true)
    }

    /// Downloads a file into the staging folder and checks it against the
    /// checksum listed and the one the server sends with it.
    async fn download(&mut self, l: &Listed) -> Result<Downloaded, CycleError> {
        let mut staged = match Staged::create(self.import, &l.id) {
            Ok(s) => s,
            Err(e) => return Ok(Downloaded::CannotWrite(e)),
        };
        let mut write_error: Option<io::Error> = None;
        let mut too_long = false;
        let got = self
            .client
            .download(&format!("/api/v1/downloads/{}", l.id), &mut |chunk| {
                // Reading stops at the listed size: a server that sends
                // more is not believed, and fills no disk.
                if staged.written() + chunk.len() as u64 > l.size {
                    too_long = true;
                    return Err(io::Error::other("longer than listed"));
                }
                if write_error.is_none()
                    && let Err(e) = staged.write(chunk)
                {
                    write_error = Some(e);
                }
                Ok(())
            })
            .await;
        if too_long {
            staged.discard();
            self.progress.log(&format!(
                "{} (download {}) is longer than listed; fetching it again",
                l.file, l.id
            ));
            return Ok(Downloaded::Damaged);
        }
        if let Some(e) = write_error {
            staged.discard();
            return Ok(Downloaded::CannotWrite(e));
        }
        let headers = match got {
            Ok(h) => h,
            Err(e) => {
                staged.discard();
                return Err(e.into());
            }
        };
        let sha = match staged.finish() {
            Ok(s) => s,
            Err(e) => {
                staged.discard();
                return Ok(Downloaded::CannotWrite(e));
            }
        };
        let sent = headers
            .get("athen-sha256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        if sha != l.sha256
            || sent.as_deref() != Some(l.sha256.as_str())
            || staged.written() != l.size
        {
            staged.discard();
            self.progress.log(&format!(
                "{} (download {}) arrived damaged: its SHA-256 does not match; fetching it again",
                l.file, l.id
            ));
            return Ok(Downloaded::Damaged);
        }
        Ok(Downloaded::Ready(staged))
    }

    /// The files this downloader put into the import folder that are gone
    /// from it now: the clinical system took them.
    async fn report_imports(&mut self) -> Result<(), CycleError> {
        let reported: Vec<Entry> = self
            .journal
            .pending()
            .filter(|e| e.step == Step::Reported)
            .cloned()
            .collect();
        for e in reported {
            if self.import.join(&e.file).exists() {
                continue;
            }
            match self.report(&e.id, json!({"state": "imported"})).await {
                Ok(_) => {}
                // The server did not hear that it was downloaded (the
                // report was lost with the connection): both, in order.
                Err(ClientError::Server { status: 409, .. }) => {
                    self.report_downloaded(&e).await?;
                    self.report(&e.id, json!({"state": "imported"})).await?;
                }
                // The letter was deleted on the server meanwhile.
                Err(ClientError::Server { status: 404, .. }) => {
                    self.progress.log(&format!(
                        "{} (download {}) is no longer on the server; forgotten",
                        e.file, e.id
                    ));
                }
                Err(other) => return Err(other.into()),
            }
            self.journal
                .record(
                    Entry {
                        step: Step::Imported,
                        at: now(),
                        ..e.clone()
                    },
                    false,
                )
                .map_err(|err| CycleError::local("the journal", err))?;
            self.outcome.imported += 1;
            self.progress
                .log(&format!("imported {} (download {})", e.file, e.id));
        }
        Ok(())
    }
}

enum Downloaded {
    Ready(Staged),
    Damaged,
    CannotWrite(io::Error),
}

#[cfg(test)]
mod listed_tests {
    use super::*;
    use serde_json::json;

    /// Issue 20: a hostile server's id never becomes a path.
    #[test]
    fn only_digit_ids_are_taken() {
        let entry = |id: &str| json!({"id": id, "file": "ABC00001.HL7", "sha256": "00", "size": 3});
        assert!(Listed::from_json(&entry("41")).is_some());
        for bad in [
            "../../x",
            "",
            "4/1",
            "41.part",
            "٤١",
            "1 2",
            &"9".repeat(20),
        ] {
            assert!(Listed::from_json(&entry(bad)).is_none(), "{bad:?}");
        }
        assert!(
            Listed::from_json(&json!({"id": 41, "file": "A", "sha256": "0", "size": 1})).is_none()
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(Staged::create(dir.path(), "../../x").is_err());
    }
}
