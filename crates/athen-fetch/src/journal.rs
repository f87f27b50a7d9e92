//! What this downloader has done with each file, kept on disk so that a
//! crash, a power cut or a lost connection at any point loses nothing and
//! imports nothing twice. One JSON line per step, appended; the last step
//! of each file counts. The file's import into the clinical system is
//! seen as its disappearance from the import folder, so the journal must
//! remember which files this downloader put there.
//!
//! The one step written to disk before going on is `writing`: it is made
//! durable after the download is complete on disk and before it is renamed
//! into the import folder. Should the program stop after the rename, the
//! next run finds the step, and the file either still in the folder
//! (written) or gone (the clinical system took it already), and never
//! fetches it again. Later steps are only remembered to save work; were
//! one lost, the report it records is simply sent again, which the server
//! takes as said already.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Downloaded and checked, about to be renamed into the folder.
    Writing,
    /// In the import folder under its name.
    Written,
    /// The server was told it is downloaded.
    Reported,
    /// The server was told the clinical system took it: done.
    Imported,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub step: Step,
    /// Its name in the import folder.
    pub file: String,
    pub sha256: String,
    /// Seconds since 1970 when the step was taken.
    pub at: i64,
}

pub struct Journal {
    path: PathBuf,
    out: File,
    entries: BTreeMap<String, Entry>,
}

/// The last step of each file in the journal at `path`, done or not.
fn read_all(path: &Path) -> io::Result<BTreeMap<String, Entry>> {
    let mut entries = BTreeMap::new();
    match File::open(path) {
        Ok(f) => {
            for line in io::BufReader::new(f).lines() {
                // A torn last line (a crash while it was written) is
                // dropped: its step is taken again.
                if let Ok(e) = serde_json::from_str::<Entry>(&line?) {
                    entries.insert(e.id.clone(), e);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(entries)
}

impl Journal {
    /// The files not done yet, without changing the journal (for
    /// `status`, while another copy may be running).
    pub fn read(path: &Path) -> io::Result<Vec<Entry>> {
        Ok(read_all(path)?
            .into_values()
            .filter(|e| e.step != Step::Imported)
            .collect())
    }

    /// Reads the journal at `path` and writes it anew with only the files
    /// not done yet.
    pub fn open(path: &Path) -> io::Result<Journal> {
        let mut entries = read_all(path)?;
        entries.retain(|_, e| e.step != Step::Imported);
        let mut text = String::new();
        for e in entries.values() {
            text.push_str(&serde_json::to_string(e).map_err(io::Error::other)?);
            text.push('\n');
        }
        crate::files::write_private(path, text.as_bytes())?;
        let out = OpenOptions::new().append(true).open(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            out,
            entries,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// The files not done yet, in id order.
    pub fn pending(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values().filter(|e| e.step != Step::Imported)
    }

    /// Records a step; `durable` waits until it is on disk.
    pub fn record(&mut self, entry: Entry, durable: bool) -> io::Result<()> {
        let mut line = serde_json::to_string(&entry).map_err(io::Error::other)?;
        line.push('\n');
        self.out.write_all(line.as_bytes())?;
        if durable {
            self.out.sync_data()?;
        }
        self.entries.insert(entry.id.clone(), entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, step: Step) -> Entry {
        Entry {
            id: id.into(),
            step,
            file: format!("DPS0000{id}.HL7"),
            sha256: "ab".repeat(32),
            at: 1,
        }
    }

    #[test]
    fn the_last_step_counts_and_done_files_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        {
            let mut j = Journal::open(&path).unwrap();
            j.record(entry("1", Step::Writing), true).unwrap();
            j.record(entry("1", Step::Written), false).unwrap();
            j.record(entry("2", Step::Writing), true).unwrap();
            j.record(entry("2", Step::Reported), false).unwrap();
            j.record(entry("2", Step::Imported), false).unwrap();
            j.record(entry("3", Step::Writing), true).unwrap();
        }
        // A crash while a line was written leaves half of it.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"id\":\"3\",\"step\":\"writ").unwrap();
        drop(f);
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.get("1").unwrap().step, Step::Written);
        assert_eq!(j.get("2"), None, "done, forgotten");
        assert_eq!(j.get("3").unwrap().step, Step::Writing);
        assert_eq!(j.pending().count(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "written anew: {text}");
    }
}
