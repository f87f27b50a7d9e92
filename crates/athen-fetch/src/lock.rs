//! One downloader at a time per settings folder: two copies (a service
//! and a scheduled task, say) would otherwise fetch the same files. The
//! lock is the operating system's on an open file, so it goes when the
//! program does, however it ends.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

pub struct Lock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another athen-fetch is running with these settings (it holds {0}); this one stops")]
    Busy(PathBuf),
    #[error("cannot use the lock file {path}: {why}")]
    Io { path: PathBuf, why: String },
}

impl Lock {
    pub fn acquire(state_dir: &Path) -> Result<Lock, LockError> {
        let path = state_dir.join("athen-fetch.lock");
        let io = |e: std::io::Error| LockError::Io {
            path: path.clone(),
            why: e.to_string(),
        };
        std::fs::create_dir_all(state_dir).map_err(io)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Busy(path)),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_copy_is_told_and_the_lock_goes_with_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path()).unwrap();
        assert!(matches!(Lock::acquire(dir.path()), Err(LockError::Busy(_))));
        drop(first);
        assert!(Lock::acquire(dir.path()).is_ok());
    }
}
