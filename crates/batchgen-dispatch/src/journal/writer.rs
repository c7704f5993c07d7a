//! The open journal: one writer thread, group commit, and opening a new journal or taking
//! over an existing one.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};

use std::sync::mpsc;
use std::time::Instant;
use tokio::sync::oneshot;

use super::{
    Event, Fingerprint, Header, JOURNAL_FILE, JournalError, LAZY_SYNC, Replay, RunKind, RunLock,
    now_ms,
};

enum Msg {
    Line(Vec<u8>, Option<oneshot::Sender<Result<(), String>>>),
}

/// The open journal: a handle to its writer thread. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    header: Header,
    tx: std::sync::Mutex<Option<mpsc::Sender<Msg>>>,
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<Result<(), String>>>>,
    /// The directory's run lock, held as long as the journal is open.
    _lock: RunLock,
}

/// How a journal was opened.
#[derive(Debug)]
pub enum Opened {
    /// A new journal was created.
    New(Journal),
    /// An existing journal was taken over (`--resume`); its replay says where every row stands.
    Resumed(Journal, Box<Replay>),
}

impl Journal {
    /// Opens `dir/journal.jsonl` for a `batchgen run` with `fingerprint`
    /// ([`Journal::open_as`] with [`RunKind::Run`]).
    pub fn open(
        dir: &Path,
        fingerprint: Fingerprint,
        command: Vec<String>,
        rows: Option<u64>,
        resume: bool,
    ) -> Result<Opened, JournalError> {
        Journal::open_as(RunKind::Run, dir, fingerprint, command, rows, resume)
    }

    /// Opens `dir/journal.jsonl` for a run of `kind` with `fingerprint`.
    ///
    /// - none there: creates it with a new [`Header`] (whether or not `resume`);
    /// - one there, `resume` false: [`JournalError::Exists`] (nothing is touched);
    /// - one there, `resume` true: replays it, refuses it if another command wrote it
    ///   ([`JournalError::OtherKind`]) or its fingerprint differs ([`JournalError::Mismatch`]),
    ///   cuts off a torn last line, appends a `resumed` event.
    pub fn open_as(
        kind: RunKind,
        dir: &Path,
        fingerprint: Fingerprint,
        command: Vec<String>,
        rows: Option<u64>,
        resume: bool,
    ) -> Result<Opened, JournalError> {
        // One run per directory, before anything is read.
        let lock = RunLock::acquire(dir, &command)?;
        let path = dir.join(JOURNAL_FILE);
        let io_err = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        if path.exists() {
            if !resume {
                return Err(JournalError::Exists { path });
            }
            let replay = Replay::read(&path)?;
            if replay.header.kind != kind {
                return Err(JournalError::OtherKind {
                    path,
                    found: replay.header.kind,
                    expected: kind,
                });
            }
            let changed = fingerprint.changed_since(&replay.header.fingerprint);
            if !changed.is_empty() {
                return Err(JournalError::Mismatch { path, changed });
            }
            let file = OpenOptions::new().write(true).open(&path).map_err(io_err)?;
            if replay.torn_tail {
                file.set_len(replay.intact_len).map_err(io_err)?;
                file.sync_data().map_err(io_err)?;
            }
            let journal = Journal::start(
                path.clone(),
                replay.header.clone(),
                file,
                replay.intact_len,
                lock,
            )
            .map_err(io_err)?;
            journal.record_later(Event::Resumed { at: now_ms() });
            return Ok(Opened::Resumed(journal, Box::new(replay)));
        }
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let header = Header::new_kind(kind, fingerprint, command, rows);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err)?;
        let mut line = serde_json::to_vec(&header).expect("a header serializes");
        line.push(b'\n');
        file.write_all(&line).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        // Make the new file's directory entry durable too.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        let len = line.len() as u64;
        let journal = Journal::start(path.clone(), header, file, len, lock).map_err(io_err)?;
        Ok(Opened::New(journal))
    }

    fn start(
        path: PathBuf,
        header: Header,
        mut file: File,
        len: u64,
        lock: RunLock,
    ) -> io::Result<Journal> {
        file.seek(io::SeekFrom::Start(len))?;
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("batchgen-journal".into())
            .spawn(move || write_loop(file, rx))?;
        Ok(Journal {
            path,
            header,
            tx: std::sync::Mutex::new(Some(tx)),
            writer: std::sync::Mutex::new(Some(writer)),
            _lock: lock,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, event: &Event, ack: Option<oneshot::Sender<Result<(), String>>>) -> bool {
        let mut line = serde_json::to_vec(event).expect("an event serializes");
        line.push(b'\n');
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        match tx.as_ref() {
            Some(tx) => tx.send(Msg::Line(line, ack)).is_ok(),
            None => false,
        }
    }

    /// Appends `event` and waits until it is synced to disk.
    pub async fn record(&self, event: Event) -> Result<(), JournalError> {
        let (ack, done) = oneshot::channel();
        if !self.send(&event, Some(ack)) {
            return Err(self.stopped());
        }
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(JournalError::WriterStopped(e)),
            Err(_) => Err(self.stopped()),
        }
    }

    /// Appends `event` without waiting; it is synced with the next batch. A failure shows in
    /// the next [`Journal::record`] and in [`Journal::close`].
    pub fn record_later(&self, event: Event) {
        self.send(&event, None);
    }

    /// Writes what is queued, syncs it, and stops the writer. Later records fail.
    pub fn close(&self) -> Result<(), JournalError> {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        match writer.map(std::thread::JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(JournalError::WriterStopped(e)),
            Some(Err(_)) => Err(JournalError::WriterStopped("the writer panicked".into())),
        }
    }

    fn stopped(&self) -> JournalError {
        JournalError::WriterStopped(format!("{} is closed", self.path.display()))
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The writer thread: group commit. Returns the first error, after which every ack fails.
fn write_loop(mut file: File, rx: mpsc::Receiver<Msg>) -> Result<(), String> {
    let mut batch: Vec<u8> = Vec::with_capacity(1 << 14);
    let mut acks = Vec::new();
    let mut failed: Option<String> = None;
    let take = |msg: Msg, batch: &mut Vec<u8>, acks: &mut Vec<_>| {
        let Msg::Line(line, ack) = msg;
        batch.extend_from_slice(&line);
        acks.extend(ack);
    };
    // When events nobody waits for were written without a sync: the time they must be synced by.
    let mut sync_by: Option<Instant> = None;
    loop {
        let first = match sync_by {
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            },
            Some(deadline) => {
                match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(m) => m,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if failed.is_none()
                            && let Err(e) = file.sync_data()
                        {
                            failed = Some(e.to_string());
                        }
                        sync_by = None;
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        take(first, &mut batch, &mut acks);
        while let Ok(m) = rx.try_recv() {
            take(m, &mut batch, &mut acks);
        }
        let sync_now = !acks.is_empty();
        let result = match &failed {
            Some(e) => Err(e.clone()),
            None => file
                .write_all(&batch)
                .and_then(|()| if sync_now { file.sync_data() } else { Ok(()) })
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = &result {
            failed.get_or_insert_with(|| e.clone());
        }
        if sync_now {
            sync_by = None;
        } else if sync_by.is_none() {
            sync_by = Some(Instant::now() + LAZY_SYNC);
        }
        for ack in acks.drain(..) {
            let _ = ack.send(result.clone());
        }
        batch.clear();
    }
    if sync_by.is_some()
        && failed.is_none()
        && let Err(e) = file.sync_data()
    {
        failed = Some(e.to_string());
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
