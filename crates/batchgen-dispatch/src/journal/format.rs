//! What a journal line holds: the header (with the run's fingerprint and secret) and the
//! events.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint {
    entries: BTreeMap<String, String>,
    /// Entries added with [`Fingerprint::recorded_since`]: compared only with a journal that
    /// records them (journals of earlier versions do not).
    #[serde(skip)]
    newer: std::collections::BTreeSet<String>,
}

/// Equal when the entries are (how they were added does not count).
impl PartialEq for Fingerprint {
    fn eq(&self, other: &Fingerprint) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Fingerprint {}

impl Fingerprint {
    /// An empty fingerprint.
    pub fn new() -> Fingerprint {
        Fingerprint::default()
    }

    /// Adds `name` = the SHA-256 of `bytes` (hex), e.g. `sha256:9f86…`.
    pub fn bytes(mut self, name: &str, bytes: &[u8]) -> Fingerprint {
        self.entries.insert(
            name.to_owned(),
            format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
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
        self.entries.insert(name.to_owned(), value.into());
        self
    }

    /// Adds `name` = `value` as [`Fingerprint::text`] does, as an entry that journals of
    /// earlier versions do not record: a journal without it is continued (nothing to compare),
    /// one that records another value is refused as usual.
    ///
    /// ```
    /// use batchgen_dispatch::journal::Fingerprint;
    /// let old = Fingerprint::new().text("key", "id");
    /// let now = Fingerprint::new().text("key", "id").recorded_since("account", "api-key:ab12");
    /// assert!(now.changed_since(&old).is_empty());
    /// let other = Fingerprint::new().text("key", "id").text("account", "api-key:cd34");
    /// assert_eq!(now.changed_since(&other), ["account"]);
    /// ```
    pub fn recorded_since(mut self, name: &str, value: impl Into<String>) -> Fingerprint {
        self.newer.insert(name.to_owned());
        self.text(name, value)
    }

    /// The names whose values differ between `self` and `other` (present in one only included).
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let mut names: Vec<&String> = self.entries.keys().chain(other.entries.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|n| self.entries.get(*n) != other.entries.get(*n))
            .cloned()
            .collect()
    }

    /// The entries of `self` that `older` records differently or not at all. Entries only
    /// `older` has (what earlier versions recorded, such as the CSV's digest) do not count, nor
    /// do entries of [`Fingerprint::recorded_since`] that `older` does not record.
    pub fn changed_since(&self, older: &Fingerprint) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(n, v)| match older.entries.get(*n) {
                None => !self.newer.contains(*n),
                Some(old) => old != *v,
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The value recorded for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(String::as_str)
    }
}

/// Now as RFC 3339 in UTC with whole seconds, e.g. `2024-06-10T08:30:00Z`.
fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time within years 0..=9999 always formats")
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
    /// `batchgen export --api v2`: one v2 export of an existing project per row (journals
    /// of `batchgen export` written before v3 exports were its default are of this kind).
    Export,
    /// `batchgen export` (v3): one `POST /editor/project/export` of an existing project per
    /// row.
    ProjectExport,
}

impl RunKind {
    /// The kind as the journal and `status --json` spell it: `run`, `export` (v2) or
    /// `project_export` (v3).
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::Export => "export",
            RunKind::ProjectExport => "project_export",
        }
    }

    /// The command that writes this kind, for messages: `run`, `export --api v2`, `export`.
    pub fn command(self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::Export => "export --api v2",
            RunKind::ProjectExport => "export",
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
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for RunSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RunSecret, D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&text, &mut out)
            .map_err(|_| serde::de::Error::custom("the run secret is not 64 hex characters"))?;
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
            run_id: hex::encode(id),
            created_at: now_rfc3339(),
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
    /// Its name, as the journal and the manifest's `failure_class` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::RenderTimeout => "render_timeout",
            FailReason::RetriesExhausted => "retries_exhausted",
            FailReason::Download => "download",
            FailReason::Rejected => "rejected",
            FailReason::RenderFailed => "render_failed",
        }
    }

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
        /// A digest of what is sent ([`crate::Job::hash`]): a later run knows by it whether the
        /// row changed. Absent in journals of earlier versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hash: Option<String>,
        /// The name the project is sent with (what a lookup goes by, and the manifest's
        /// `name`). Absent in journals of earlier versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
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
        /// Created as a draft (`isExport: false`): nothing renders, nothing follows it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        draft: bool,
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
        /// Credits the render cost, when the vendor said (its webhook's `credit`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credits: Option<u64>,
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
    /// A create whose answer was lost may have made a project that no lookup could find or
    /// rule out (the API has no project list, or every lookup failed).
    Unknown {
        /// Row number.
        row: u64,
        /// Row key.
        key: String,
        /// Why, and how to check (reads after "failed to").
        error: String,
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
