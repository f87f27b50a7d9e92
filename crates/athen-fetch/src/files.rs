//! Files on the practice's computer, written so that the clinical system
//! never sees half a file and nothing is lost in a crash: each download is
//! written into a staging folder inside the import folder (so the final
//! rename stays on one disk and is atomic), flushed to disk, and only then
//! renamed to its name. A name already taken is never overwritten.

use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The staging folder inside the import folder. Clinical systems import
/// the files of their folder, not of folders within it.
pub const STAGING: &str = ".athen-fetch-partial";

/// Whether a file name from the server is safe to write: a plain name of
/// letters, digits, `.`, `-` and `_`, not hidden, not a path. Conversion
/// makes 8.3 names (`DPS00001.HL7`); anything else is refused.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Flushes a folder's entries to disk (a rename is durable only then, on
/// Unix; Windows has no such call and makes renames durable itself).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `bytes` to `path` whole or not at all, readable by this user
/// only (settings with the app token, the journal).
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("athen-fetch")
    ));
    {
        let mut f = private_file(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// A new file (truncated if there) that only this user may read.
pub fn private_file(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// A download being written into the staging folder, hashed as it comes.
pub struct Staged {
    path: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    written: u64,
}

impl Staged {
    /// Starts the download of file `id` (any earlier partial one of it is
    /// replaced).
    pub fn create(import_folder: &Path, id: &str) -> io::Result<Staged> {
        if !crate::cycle::download_id(id) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a download id is digits only",
            ));
        }
        let dir = import_folder.join(STAGING);
        fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{id}.part"));
        let file = File::create(&path)?;
        Ok(Staged {
            path,
            file: Some(file),
            hasher: Sha256::new(),
            written: 0,
        })
    }

    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("staged file closed"))?;
        file.write_all(chunk)?;
        self.hasher.update(chunk);
        self.written += chunk.len() as u64;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// The SHA-256 (hex) of what was written, after flushing it to disk.
    pub fn finish(&mut self) -> io::Result<String> {
        if let Some(f) = self.file.take() {
            f.sync_all()?;
        }
        Ok(hex(&std::mem::take(&mut self.hasher).finalize()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the finished file its name in the import folder. An existing
    /// file of that name with the same checksum is this file already (a
    /// run stopped after the rename): the staged copy is dropped. One with
    /// other content is left alone and refused.
    pub fn publish(self, import_folder: &Path, name: &str, sha256: &str) -> io::Result<Published> {
        let target = import_folder.join(name);
        if target.exists() {
            let same = sha256_of(&target)? == sha256;
            let _ = fs::remove_file(&self.path);
            return Ok(if same {
                Published::AlreadyThere
            } else {
                Published::NameTaken
            });
        }
        fs::rename(&self.path, &target)?;
        sync_dir(import_folder)?;
        Ok(Published::Written)
    }

    /// Drops the staged file (the download failed).
    pub fn discard(self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether a file of the upload folder is of a kind that is sent (PIT,
/// HL7, RTF, DOCX; the server reads it).
pub fn upload_kind(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        matches!(
            ext.to_ascii_lowercase().as_str(),
            "pit" | "hl7" | "oru" | "ref" | "rtf" | "docx"
        )
    })
}

/// Moves a file into `dir` (made if missing) under its own name, or with
/// `-2`, `-3`… before its extension if that is taken. Returns where it went.
pub fn move_into(file: &Path, dir: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let name = file
        .file_name()
        .ok_or_else(|| io::Error::other("not a file"))?
        .to_string_lossy()
        .into_owned();
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) => (s.to_string(), format!(".{e}")),
        None => (name.clone(), String::new()),
    };
    let mut target = dir.join(&name);
    let mut n = 2;
    while target.exists() {
        target = dir.join(format!("{stem}-{n}{ext}"));
        n += 1;
    }
    fs::rename(file, &target)?;
    sync_dir(dir)?;
    Ok(target)
}

/// What [`Staged::publish`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    Written,
    AlreadyThere,
    /// Another file of that name waits in the import folder.
    NameTaken,
}

/// The SHA-256 (hex) of a file.
pub fn sha256_of(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = io::Read::read(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Leftovers of downloads that stopped half way (removed at the start of
/// each cycle: their files are fetched again).
pub fn clear_staging(import_folder: &Path) -> io::Result<usize> {
    let dir = import_folder.join(STAGING);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut n = 0;
    for e in entries {
        let e = e?;
        if e.file_name().to_string_lossy().ends_with(".part") {
            fs::remove_file(e.path())?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_file_appears_whole_under_its_name_and_never_over_another() {
        let dir = tempfile::tempdir().unwrap();
        let import = dir.path();
        let mut s = Staged::create(import, "41").unwrap();
        s.write(b"MSH|").unwrap();
        s.write(b"^~\\&\r").unwrap();
        let sha = s.finish().unwrap();
        assert_eq!(sha, sha256_of(s.path()).unwrap());
        assert!(
            !import.join("DPS00001.HL7").exists(),
            "not before the rename"
        );
        assert_eq!(
            s.publish(import, "DPS00001.HL7", &sha).unwrap(),
            Published::Written
        );
        assert_eq!(
            fs::read(import.join("DPS00001.HL7")).unwrap(),
            b"MSH|^~\\&\r"
        );
        // The same file again (a run that stopped after the rename).
        let mut again = Staged::create(import, "41").unwrap();
        again.write(b"MSH|^~\\&\r").unwrap();
        let sha2 = again.finish().unwrap();
        assert_eq!(
            again.publish(import, "DPS00001.HL7", &sha2).unwrap(),
            Published::AlreadyThere
        );
        // Another file of the same name is not overwritten.
        let mut other = Staged::create(import, "42").unwrap();
        other.write(b"something else").unwrap();
        let sha3 = other.finish().unwrap();
        assert_eq!(
            other.publish(import, "DPS00001.HL7", &sha3).unwrap(),
            Published::NameTaken
        );
        assert_eq!(
            fs::read(import.join("DPS00001.HL7")).unwrap(),
            b"MSH|^~\\&\r"
        );
        assert_eq!(fs::read_dir(import.join(STAGING)).unwrap().count(), 0);
        // A half download is cleared away.
        let mut half = Staged::create(import, "43").unwrap();
        half.write(b"MSH").unwrap();
        drop(half);
        assert_eq!(clear_staging(import).unwrap(), 1);
    }

    #[test]
    fn only_plain_names_are_written() {
        for ok in ["DPS00001.HL7", "ABC00012.PIT", "a-b_c.txt"] {
            assert!(safe_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "../x",
            "a/b",
            "a\\b",
            "C:x",
            "x y",
            &"a".repeat(65),
        ] {
            assert!(!safe_name(bad), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn a_safe_name_never_leaves_the_folder(name in "\\PC{0,80}") {
            if safe_name(&name) {
                let p = Path::new("/import").join(&name);
                prop_assert_eq!(p.parent(), Some(Path::new("/import")));
                prop_assert!(!name.contains(".."));
            }
        }
    }
}
