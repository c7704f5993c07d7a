//! One run per directory: an exclusive OS lock on `DIR/batchgen.lock`, taken before the journal
//! is read and held for the whole run (by the open [`Journal`](super::Journal)). A second run
//! or export on the same directory is refused at once, naming the process that holds it; a
//! lock left by a dead process never blocks, since OS locks die with their process. Readers
//! (`batchgen status`) take no lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::JournalError;

/// The lock file's name inside the output directory. It holds the holder's pid and command.
pub const LOCK_FILE: &str = "batchgen.lock";

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock of `dir` for this process (running `command`), or says who holds it
    /// ([`JournalError::Locked`]).
    pub fn acquire(dir: &Path, command: &[String]) -> Result<RunLock, JournalError> {
        let path = dir.join(LOCK_FILE);
        let io_err = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(io_err)?;
                writeln!(file, "pid {}: {}", std::process::id(), command.join(" "))
                    .map_err(io_err)?;
                Ok(RunLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.rewind();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                Err(JournalError::Locked {
                    dir: dir.to_owned(),
                    holder: (!holder.is_empty()).then(|| holder.to_owned()),
                })
            }
            Err(TryLockError::Error(e)) => Err(io_err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path(), &["batchgen".into(), "run".into()]).unwrap();
        let e = RunLock::acquire(dir.path(), &["other".into()]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&format!("pid {}: batchgen run", std::process::id())),
            "{text}"
        );
        drop(first);
        // Released: the next one gets it.
        RunLock::acquire(dir.path(), &["other".into()]).unwrap();
    }
}
