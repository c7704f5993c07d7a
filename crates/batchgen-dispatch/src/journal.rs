//! The run journal, `DIR/journal.jsonl`: what happened to every row, durable before the next
//! step depends on it, so a run can be resumed after anything (`kill -9`, a power cut).
//!
//! Line 1 is a [`Header`]: `{"batchgen_journal":1,"run_id","created_at","fingerprint","command","rows"}`.
//! Every further line is one [`Event`], e.g.
//! `{"event":"submitting","row":3,"key":"C1002","at":1718000000123}` before a create request is
//! sent and `{"event":"submitted","row":3,"key":"C1002","id":"65f…","at":…}` as soon as its
//! project id is known. Render progress is not journaled (too chatty).
//!
//! **Group commit.** One writer thread owns the file. Events from every task are queued; the
//! writer takes all that are waiting, writes them in one `write`, calls `fdatasync` once, and
//! then acknowledges each of them. A task that must not go on before its event is durable
//! (`submitting` before the POST) awaits [`Journal::record`]; others use
//! [`Journal::record_later`]: those are written at once (a crash of the process loses nothing)
//! and synced with the next awaited batch, or within [`LAZY_SYNC`] at the latest (a power cut
//! loses at most that much of them, and losing one costs only a repeated poll or download on
//! resume). One `fdatasync` per create instead of one per event is most of the journal's cost.
//!
//! **Replay** ([`Replay::read`]) folds the events into one [`RowRecord`] per key. A last line
//! cut short (a power cut during a write) is ignored with a warning and cut off before the
//! journal is appended to again; damage anywhere else is an error.
//!
//! **Fingerprint.** The header records a [`Fingerprint`] of what decides the projects and where
//! they go; a journal whose fingerprint differs from the current inputs is refused
//! ([`JournalError::Mismatch`]), never mixed.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The journal's file name inside the output directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";
/// How long events nobody waits for may stay written but not yet synced.
pub const LAZY_SYNC: Duration = Duration::from_secs(1);
/// The journal format version written in the header.
pub const JOURNAL_VERSION: u32 = 1;

/// What decides a run's projects and where they go, as named SHA-256 digests (of files) and
/// plain values (a column name, a base URL). Options that may change on `--resume` (rate,
/// concurrency, polling) are not part of it.
///
/// ```
/// use batchgen_dispatch::journal::Fingerprint;
/// let a = Fingerprint::new().bytes("data", b"id\n1\n").text("key", "id");
/// let b = Fingerprint::new().bytes("data", b"id\n2\n").text("key", "id");
/// assert_eq!(a.differences(&b), ["data"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(BTreeMap<String, String>);

impl Fingerprint {
    /// An empty fingerprint.
    pub fn new() -> Fingerprint {
        Fingerprint::default()
    }

    /// Adds `name` = the SHA-256 of `bytes` (hex), e.g. `sha256:9f86…`.
    pub fn bytes(mut self, name: &str, bytes: &[u8]) -> Fingerprint {
        self.0.insert(
            name.to_owned(),
            format!("sha256:{}", hex(&Sha256::digest(bytes))),
        );
        self
    }

    /// Adds `name` = the SHA-256 of the file at `path`.
    pub fn file(self, name: &str, path: &Path) -> io::Result<Fingerprint> {
        let bytes = std::fs::read(path)?;
        Ok(self.bytes(name, &bytes))
    }

    /// Adds `name` = `value` as is (never put a secret here: the header is plain text).
    pub fn text(mut self, name: &str, value: impl Into<String>) -> Fingerprint {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    /// The names whose values differ between `self` and `other` (present in one only included).
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let mut names: Vec<&String> = self.0.keys().chain(other.0.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|n| self.0.get(*n) != other.0.get(*n))
            .cloned()
            .collect()
    }

    /// The value recorded for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Which command a journal belongs to. A journal of one kind is never resumed by the other:
/// a `run` journal holds projects, an `export` journal holds exports of existing projects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// `batchgen run`: one new v3 project per row. Journals written before the kind was
    /// recorded are of this kind.
    #[default]
    Run,
    /// `batchgen export`: one v2 export of an existing project per row.
    Export,
}

impl RunKind {
    /// The command's name: `run` or `export`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::Export => "export",
        }
    }
}

/// A run's secret: 32 random bytes, kept in the journal header (local and private) so that a
/// `--resume` can still verify webhook tokens of projects submitted before it. It never
/// appears in a log, the manifest or the summary: `Debug` prints `RunSecret(***)`, and only
/// the journal serializes it (as hex).
#[derive(Clone, PartialEq, Eq)]
pub struct RunSecret([u8; 32]);

impl RunSecret {
    /// A fresh random secret.
    pub fn random() -> RunSecret {
        RunSecret(rand::random())
    }

    /// The secret's bytes (for keying a MAC).
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for RunSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunSecret(***)")
    }
}

impl Serialize for RunSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for RunSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RunSecret, D::Error> {
        let text = String::deserialize(d)?;
        let bad = || serde::de::Error::custom("the run secret is not 64 hex characters");
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(RunSecret(out))
    }
}

/// The journal's first line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The format version ([`JOURNAL_VERSION`]).
    pub batchgen_journal: u32,
    /// Which command wrote it (absent in journals older than the field: [`RunKind::Run`]).
    #[serde(default)]
    pub kind: RunKind,
    /// A random id for this run (32 hex chars); its first 6 are the run tag in project names.
    pub run_id: String,
    /// When the run started, RFC 3339 UTC.
    pub created_at: String,
    /// What the run's projects were made from.
    pub fingerprint: Fingerprint,
    /// The command line that started the run (it never holds a secret: keys come from the
    /// environment or a key file).
    pub command: Vec<String>,
    /// Rows in the input, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// The run's secret, for webhook tokens (absent in journals older than the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<RunSecret>,
}

impl Header {
    /// A header for a new `run` with a fresh random run id and run secret.
    pub fn new(fingerprint: Fingerprint, command: Vec<String>, rows: Option<u64>) -> Header {
        Header::new_kind(RunKind::Run, fingerprint, command, rows)
    }

    /// A header for a new run of `kind` with a fresh random run id and run secret.
    pub fn new_kind(
        kind: RunKind,
        fingerprint: Fingerprint,
        command: Vec<String>,
        rows: Option<u64>,
    ) -> Header {
        let id: [u8; 16] = rand::random();
        Header {
            batchgen_journal: JOURNAL_VERSION,
            kind,
            run_id: hex(&id),
            created_at: rfc3339(SystemTime::now()),
            fingerprint,
            command,
            rows,
            secret: Some(RunSecret::random()),
        }
    }

    /// The run tag: the first 6 hex characters of the run id. Project names carry it so that a
    /// project of another run with the same key is never adopted.
    pub fn run_tag(&self) -> &str {
        &self.run_id[..self.run_id.len().min(6)]
    }
}

/// Why a row failed, as far as resuming is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// The render did not finish within `--render-timeout` (transient: `--resume` polls again).
    RenderTimeout,
    /// Retryable errors used up `--max-attempts` (transient: `--resume` tries again).
    RetriesExhausted,
    /// The video could not be downloaded (transient: `--resume` downloads again).
    Download,
    /// The API refused the request for good, e.g. a 400 (`--retry-failed` tries again).
    Rejected,
    /// The render itself failed (`--retry-failed` submits the row again).
    RenderFailed,
}

impl FailReason {
    /// Whether `--resume` alone re-attempts the row.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FailReason::RenderTimeout | FailReason::RetriesExhausted | FailReason::Download
        )
    }
}

/// One journaled state change. `at` is milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A create request is about to be sent (synced before it is).
    Submitting {
        /// Row number (1-based, as in the CSV).
        row: u64,
        /// Row key.
        key: String,
        /// When.
        at: u64,
    },
    /// The project exists with this id; `recovered` when it was found by name after a lost answer.
    Submitted {
        /// Row number.
        row: u64,
        /// Row key.
        key: String,
        /// The project id.
        id: String,
        /// Found by name lookup rather than from the create answer.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recovered: bool,
        /// When.
        at: u64,
    },
    /// The render finished.
    Ready {
        /// Row number.
        row: u64,
        /// Row key.
        key: String,
        /// Where the video is.
        download_url: String,
        /// When.
        at: u64,
    },
    /// The row failed.
    Failed {
        /// Row number.
        row: u64,
        /// Row key.
        key: String,
        /// Why, as far as resuming is concerned.
        reason: FailReason,
        /// The error, as it reads after "failed to".
        error: String,
        /// When.
        at: u64,
    },
    /// The video was saved to `file` (relative to the output directory).
    Downloaded {
        /// Row number.
        row: u64,
        /// Row key.
        key: String,
        /// The file, relative to the output directory.
        file: String,
        /// Its size.
        bytes: u64,
        /// When.
        at: u64,
    },
    /// The row did not render to a valid project.
    Invalid {
        /// Row number.
        row: u64,
        /// Row key.
        key: String,
        /// Why.
        error: String,
        /// When.
        at: u64,
    },
    /// The run was interrupted (Ctrl-C / SIGTERM) and stopped cleanly.
    Interrupted {
        /// When.
        at: u64,
    },
    /// A `--resume` run took over the journal.
    Resumed {
        /// When.
        at: u64,
    },
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where a row stands according to the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// A create was sent (or about to be) and no project id is known yet.
    Submitting,
    /// The project exists and is rendering.
    Submitted,
    /// The video is ready.
    Ready,
    /// The row failed.
    Failed,
    /// The row is invalid.
    Invalid,
}

/// Everything the journal says about one row.
#[derive(Clone, Debug, PartialEq)]
pub struct RowRecord {
    /// Row number.
    pub row: u64,
    /// Row key.
    pub key: String,
    /// Where it stands.
    pub state: RowState,
    /// The project id, once known.
    pub project_id: Option<String>,
    /// When the project id became known (ms since the epoch).
    pub submitted_at: Option<u64>,
    /// When the last create request was about to be sent (ms since the epoch): a lookup
    /// after a lost answer only adopts remote objects created after it.
    pub submitting_at: Option<u64>,
    /// The video's URL, once ready.
    pub download_url: Option<String>,
    /// The downloaded file, relative to the output directory.
    pub file: Option<String>,
    /// Create requests sent for the row, across every run of the journal.
    pub attempts: u32,
    /// The last error, if the row failed or is invalid.
    pub error: Option<String>,
    /// Why it failed.
    pub reason: Option<FailReason>,
    /// Projects of this row that were given up for a new submission (`--retry-failed`): a
    /// lookup by name must not adopt them.
    pub abandoned: Vec<String>,
}

impl RowRecord {
    fn new(row: u64, key: &str, state: RowState) -> RowRecord {
        RowRecord {
            row,
            key: key.to_owned(),
            state,
            project_id: None,
            submitted_at: None,
            submitting_at: None,
            download_url: None,
            file: None,
            attempts: 0,
            error: None,
            reason: None,
            abandoned: Vec::new(),
        }
    }
}

/// A journal read back: its header and the last word on every row.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The header.
    pub header: Header,
    /// One record per row key.
    pub rows: HashMap<String, RowRecord>,
    /// Whether a cut-short last line was ignored.
    pub torn_tail: bool,
    /// How many times the run was interrupted.
    pub interruptions: u32,
    /// How many times the run was resumed.
    pub resumptions: u32,
    /// Length in bytes of the journal's intact part (the torn tail excluded).
    pub intact_len: u64,
}

impl Replay {
    /// Reads `path` (a `journal.jsonl`).
    pub fn read(path: &Path) -> Result<Replay, JournalError> {
        let io_err = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut reader = BufReader::new(File::open(path).map_err(io_err)?);
        let mut line = Vec::new();
        let mut offset = 0u64;
        let n = reader.read_until(b'\n', &mut line).map_err(io_err)?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Err(JournalError::Corrupt {
                path: path.to_owned(),
                line: 1,
                reason: "the header line is missing or incomplete".into(),
            });
        }
        let header: Header = serde_json::from_slice(&line).map_err(|e| JournalError::Corrupt {
            path: path.to_owned(),
            line: 1,
            reason: format!("the header cannot be read: {e}"),
        })?;
        if header.batchgen_journal != JOURNAL_VERSION {
            return Err(JournalError::Corrupt {
                path: path.to_owned(),
                line: 1,
                reason: format!(
                    "journal format {} is not supported (this batchgen writes {JOURNAL_VERSION})",
                    header.batchgen_journal
                ),
            });
        }
        offset += n as u64;
        let mut replay = Replay {
            header,
            rows: HashMap::new(),
            torn_tail: false,
            interruptions: 0,
            resumptions: 0,
            intact_len: offset,
        };
        let mut number = 1usize;
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(io_err)?;
            if n == 0 {
                break;
            }
            number += 1;
            let complete = line.last() == Some(&b'\n');
            match serde_json::from_slice::<Event>(&line) {
                Ok(event) if complete => {
                    replay.apply(event);
                    offset += n as u64;
                    replay.intact_len = offset;
                }
                result => {
                    // Only the very last line may be damaged (a write cut short).
                    let mut rest = Vec::new();
                    std::io::Read::read_to_end(&mut reader, &mut rest).map_err(io_err)?;
                    if !rest.is_empty() {
                        return Err(JournalError::Corrupt {
                            path: path.to_owned(),
                            line: number,
                            reason: match result {
                                Err(e) => e.to_string(),
                                Ok(_) => "the line is incomplete".into(),
                            },
                        });
                    }
                    tracing::warn!(
                        journal = %path.display(),
                        line = number,
                        "ignoring the journal's last line: it was cut short (the previous run stopped while writing it)"
                    );
                    replay.torn_tail = true;
                    break;
                }
            }
        }
        Ok(replay)
    }

    /// Folds one event into the rows.
    pub fn apply(&mut self, event: Event) {
        fn entry<'a>(
            rows: &'a mut HashMap<String, RowRecord>,
            row: u64,
            key: &str,
            state: RowState,
        ) -> &'a mut RowRecord {
            let r = rows
                .entry(key.to_owned())
                .or_insert_with(|| RowRecord::new(row, key, state));
            r.row = row;
            r.state = state;
            r
        }
        match event {
            Event::Submitting { row, key, at } => {
                let r = entry(&mut self.rows, row, &key, RowState::Submitting);
                r.attempts += 1;
                r.submitting_at = Some(at);
                if let Some(old) = r.project_id.take() {
                    r.abandoned.push(old);
                }
                r.submitted_at = None;
                r.download_url = None;
                r.file = None;
                r.error = None;
                r.reason = None;
            }
            Event::Submitted {
                row, key, id, at, ..
            } => {
                let r = entry(&mut self.rows, row, &key, RowState::Submitted);
                r.project_id = Some(id);
                r.submitted_at = Some(at);
                r.error = None;
                r.reason = None;
            }
            Event::Ready {
                row,
                key,
                download_url,
                ..
            } => {
                let r = entry(&mut self.rows, row, &key, RowState::Ready);
                r.download_url = Some(download_url);
                r.error = None;
                r.reason = None;
            }
            Event::Failed {
                row,
                key,
                reason,
                error,
                ..
            } => {
                let r = entry(&mut self.rows, row, &key, RowState::Failed);
                r.error = Some(error);
                r.reason = Some(reason);
            }
            Event::Downloaded { row, key, file, .. } => {
                let r = entry(&mut self.rows, row, &key, RowState::Ready);
                r.file = Some(file);
                r.error = None;
                r.reason = None;
            }
            Event::Invalid {
                row, key, error, ..
            } => {
                let r = entry(&mut self.rows, row, &key, RowState::Invalid);
                r.error = Some(error);
            }
            Event::Interrupted { .. } => self.interruptions += 1,
            Event::Resumed { .. } => self.resumptions += 1,
        }
    }
}

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A journal exists and `--resume` was not given.
    #[error(
        "start the run: {} already holds a run journal; add --resume to continue that run, or choose another --out",
        .path.display()
    )]
    Exists {
        /// The journal.
        path: PathBuf,
    },
    /// The journal was made from other inputs.
    #[error(
        "resume the run: {} was made from other inputs ({} changed); resuming would mix two runs, so use a new --out for these inputs",
        .path.display(), .changed.join(", ")
    )]
    Mismatch {
        /// The journal.
        path: PathBuf,
        /// The fingerprint entries that differ.
        changed: Vec<String>,
    },
    /// The journal was written by the other command (`run` versus `export`).
    #[error(
        "resume the run: {} is the journal of a `batchgen {}`, not of a `batchgen {}`; choose another --out for this command",
        .path.display(), .found.as_str(), .expected.as_str()
    )]
    OtherKind {
        /// The journal.
        path: PathBuf,
        /// The kind the journal records.
        found: RunKind,
        /// The kind this command writes.
        expected: RunKind,
    },
    /// The journal cannot be read.
    #[error("read the journal {}: line {line}: {reason}", .path.display())]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// The damaged line (1-based).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("write the journal {}: {source}", .path.display())]
    Io {
        /// The journal.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The writer stopped after an earlier failure.
    #[error("write the journal: the writer stopped after an earlier error: {0}")]
    WriterStopped(String),
}

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
            let changed = replay.header.fingerprint.differences(&fingerprint);
            if !changed.is_empty() {
                return Err(JournalError::Mismatch { path, changed });
            }
            let file = OpenOptions::new().write(true).open(&path).map_err(io_err)?;
            if replay.torn_tail {
                file.set_len(replay.intact_len).map_err(io_err)?;
                file.sync_data().map_err(io_err)?;
            }
            let journal =
                Journal::start(path.clone(), replay.header.clone(), file, replay.intact_len)
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
        let journal = Journal::start(path.clone(), header, file, len).map_err(io_err)?;
        Ok(Opened::New(journal))
    }

    fn start(path: PathBuf, header: Header, mut file: File, len: u64) -> io::Result<Journal> {
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
                        if failed.is_none() {
                            if let Err(e) = file.sync_data() {
                                failed = Some(e.to_string());
                            }
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
    if sync_by.is_some() && failed.is_none() {
        if let Err(e) = file.sync_data() {
            failed = Some(e.to_string());
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Formats a time as RFC 3339 UTC with seconds, e.g. `2024-06-10T08:30:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Reads an RFC 3339 time (`2024-06-10T08:30:00Z`, `2024-06-10T10:30:00.250+02:00`; `t`, `z`
/// or a space accepted) as milliseconds since the Unix epoch. `None` if it is not one.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let t = text.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = t.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if t.len() < 20 || t[4] != b'-' || t[7] != b'-' || t[13] != b':' || t[16] != b':' {
        return None;
    }
    if !matches!(t[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if t[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < t.len() && t[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = &t[start..i.min(start + 3)];
        let mut m = 0i64;
        for (k, b) in digits.iter().enumerate() {
            m += i64::from(b - b'0') * [100, 10, 1][k];
        }
        millis = m;
    }
    let offset_secs = match t.get(i..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 && rest[2] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    u64::try_from(secs * 1000 + millis).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fp() -> Fingerprint {
        Fingerprint::new()
            .bytes("data", b"k\n1\n")
            .text("base_url", "http://127.0.0.1:1")
    }

    fn open_new(dir: &Path) -> Journal {
        match Journal::open(dir, fp(), vec!["batchgen".into()], Some(2), false).unwrap() {
            Opened::New(j) => j,
            Opened::Resumed(..) => panic!("expected a new journal"),
        }
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_718_008_200)),
            "2024-06-10T08:30:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn rfc3339_times_read_back() {
        for secs in [0u64, 951_782_400, 1_718_008_200, 4_102_444_800] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(secs * 1000));
        }
        assert_eq!(
            parse_rfc3339("2024-06-10T10:30:00.250+02:00"),
            Some(1_718_008_200_250)
        );
        assert_eq!(
            parse_rfc3339("2024-06-10t08:30:00.25z"),
            Some(1_718_008_200_250)
        );
        assert_eq!(
            parse_rfc3339("2024-06-10 03:30:00-05:00"),
            Some(1_718_008_200_000)
        );
        for bad in [
            "",
            "2024-06-10",
            "2024-06-10T08:30:00",
            "2024-13-10T08:30:00Z",
            "2024-06-10T08:30:00.Z",
            "2024-06-10T08:30:00+0200",
            "yesterday at noon",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn events_replay_into_row_records() {
        let dir = tempfile::tempdir().unwrap();
        let j = open_new(dir.path());
        assert_eq!(j.header().run_tag().len(), 6);
        let k = |s: &str| s.to_owned();
        j.record(Event::Submitting {
            row: 1,
            key: k("a"),
            at: 1,
        })
        .await
        .unwrap();
        j.record(Event::Submitting {
            row: 1,
            key: k("a"),
            at: 2,
        })
        .await
        .unwrap();
        j.record_later(Event::Submitted {
            row: 1,
            key: k("a"),
            id: k("p1"),
            recovered: true,
            at: 3,
        });
        j.record_later(Event::Ready {
            row: 1,
            key: k("a"),
            download_url: k("http://x/p1.mp4"),
            at: 4,
        });
        j.record_later(Event::Invalid {
            row: 2,
            key: k("b"),
            error: k("bad"),
            at: 5,
        });
        j.record(Event::Submitting {
            row: 3,
            key: k("c"),
            at: 6,
        })
        .await
        .unwrap();
        j.close().unwrap();
        let r = Replay::read(&dir.path().join(JOURNAL_FILE)).unwrap();
        assert!(!r.torn_tail);
        let a = &r.rows["a"];
        assert_eq!((a.state, a.attempts), (RowState::Ready, 2));
        assert_eq!(a.project_id.as_deref(), Some("p1"));
        assert_eq!(a.download_url.as_deref(), Some("http://x/p1.mp4"));
        assert_eq!(r.rows["b"].state, RowState::Invalid);
        assert_eq!(r.rows["c"].state, RowState::Submitting);
        assert!(j.record(Event::Interrupted { at: 7 }).await.is_err());
    }

    #[tokio::test]
    async fn a_torn_last_line_is_ignored_and_cut_off_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let j = open_new(dir.path());
        j.record(Event::Submitting {
            row: 1,
            key: "a".into(),
            at: 1,
        })
        .await
        .unwrap();
        j.close().unwrap();
        drop(j);
        let intact = std::fs::metadata(&path).unwrap().len();
        // A power cut in the middle of the next line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"event":"submitted","row":1,"key":"a","id":"p"#)
            .unwrap();
        drop(f);
        let r = Replay::read(&path).unwrap();
        assert!(r.torn_tail);
        assert_eq!(r.intact_len, intact);
        assert_eq!(r.rows["a"].state, RowState::Submitting);
        let Opened::Resumed(j, replay) =
            Journal::open(dir.path(), fp(), vec![], None, true).unwrap()
        else {
            panic!("expected a resumed journal")
        };
        assert!(replay.torn_tail);
        j.record(Event::Submitted {
            row: 1,
            key: "a".into(),
            id: "p2".into(),
            recovered: false,
            at: 2,
        })
        .await
        .unwrap();
        j.close().unwrap();
        let r = Replay::read(&path).unwrap();
        assert!(!r.torn_tail);
        assert_eq!(r.resumptions, 1);
        assert_eq!(r.rows["a"].project_id.as_deref(), Some("p2"));
    }

    #[test]
    fn damage_before_the_last_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        drop(open_new(dir.path()));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{not json}\n{\"event\":\"resumed\",\"at\":1}\n")
            .unwrap();
        drop(f);
        let e = Replay::read(&path).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn existing_journals_need_resume_and_the_same_inputs() {
        let dir = tempfile::tempdir().unwrap();
        drop(open_new(dir.path()));
        let e = Journal::open(dir.path(), fp(), vec![], None, false).unwrap_err();
        assert!(matches!(e, JournalError::Exists { .. }));
        assert!(e.to_string().contains("add --resume"), "{e}");
        let other = fp().bytes("data", b"k\n2\n");
        let e = Journal::open(dir.path(), other, vec![], None, true).unwrap_err();
        assert!(
            e.to_string().contains("(data changed)") && e.to_string().contains("new --out"),
            "{e}"
        );
    }

    #[test]
    fn a_journal_of_the_other_command_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(open_new(dir.path()));
        let e =
            Journal::open_as(RunKind::Export, dir.path(), fp(), vec![], None, true).unwrap_err();
        assert!(
            matches!(
                e,
                JournalError::OtherKind {
                    found: RunKind::Run,
                    expected: RunKind::Export,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("journal of a `batchgen run`, not of a `batchgen export`"),
            "{e}"
        );
        let other = tempfile::tempdir().unwrap();
        let Opened::New(j) =
            Journal::open_as(RunKind::Export, other.path(), fp(), vec![], None, false).unwrap()
        else {
            panic!("expected a new journal")
        };
        assert_eq!(j.header().kind, RunKind::Export);
        j.close().unwrap();
        assert!(matches!(
            Journal::open(other.path(), fp(), vec![], None, true),
            Err(JournalError::OtherKind { .. })
        ));
    }

    #[test]
    fn the_run_secret_round_trips_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let j = open_new(dir.path());
        let secret = j
            .header()
            .secret
            .clone()
            .expect("a new header has a secret");
        let hex_secret = hex(secret.bytes());
        assert!(!format!("{:?}", j.header()).contains(&hex_secret));
        j.close().unwrap();
        let text = std::fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
        assert!(
            text.contains(&format!("\"secret\":\"{hex_secret}\"")),
            "{text}"
        );
        let r = Replay::read(&dir.path().join(JOURNAL_FILE)).unwrap();
        assert_eq!(r.header.secret, Some(secret));
        // Two runs never share a secret.
        let other = tempfile::tempdir().unwrap();
        assert_ne!(open_new(other.path()).header().secret, r.header.secret);
    }

    #[test]
    fn headers_older_than_kind_and_secret_read_as_run() {
        let old = r#"{"batchgen_journal":1,"run_id":"0123456789abcdef0123456789abcdef","created_at":"2024-06-10T08:30:00Z","fingerprint":{},"command":[],"rows":1}"#;
        let h: Header = serde_json::from_str(old).unwrap();
        assert_eq!((h.kind, h.secret), (RunKind::Run, None));
        assert!(serde_json::from_str::<RunSecret>("\"abc\"").is_err());
    }

    #[tokio::test]
    async fn replay_keeps_the_time_of_the_last_submitting() {
        let dir = tempfile::tempdir().unwrap();
        let j = open_new(dir.path());
        for at in [10, 20] {
            j.record(Event::Submitting {
                row: 1,
                key: "a".into(),
                at,
            })
            .await
            .unwrap();
        }
        j.close().unwrap();
        let r = Replay::read(&dir.path().join(JOURNAL_FILE)).unwrap();
        assert_eq!(r.rows["a"].submitting_at, Some(20));
    }

    /// Many concurrent records are all durable and acknowledged (group commit).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn group_commit_acknowledges_every_event() {
        let dir = tempfile::tempdir().unwrap();
        let j = std::sync::Arc::new(open_new(dir.path()));
        let mut tasks = Vec::new();
        for i in 0..200u64 {
            let j = std::sync::Arc::clone(&j);
            tasks.push(tokio::spawn(async move {
                j.record(Event::Submitting {
                    row: i,
                    key: format!("k{i}"),
                    at: i,
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        j.close().unwrap();
        let r = Replay::read(&dir.path().join(JOURNAL_FILE)).unwrap();
        assert_eq!(r.rows.len(), 200);
    }
}
