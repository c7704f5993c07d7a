//! Replay: the journal's lines folded into one [`RowRecord`] per key.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;

use super::{Event, FailReason, Header, JOURNAL_VERSION, JournalError};

/// Where a row stands according to the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// A create was sent (or about to be) and no project id is known yet.
    Submitting,
    /// The project exists and is rendering.
    Submitted,
    /// The project exists as a draft (`isExport: false`): it is not rendered.
    Draft,
    /// The video is ready.
    Ready,
    /// The row failed.
    Failed,
    /// The row is invalid.
    Invalid,
    /// A lost create may have made a project that could not be looked up.
    Unknown,
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
    /// Credits the render cost, when the vendor said.
    pub credits: Option<u64>,
    /// Create requests sent for the row, across every run of the journal.
    pub attempts: u32,
    /// The last error, if the row failed or is invalid.
    pub error: Option<String>,
    /// Why it failed.
    pub reason: Option<FailReason>,
    /// Projects of this row that were given up for a new submission (`--retry-failed`): a
    /// lookup by name must not adopt them.
    pub abandoned: Vec<String>,
    /// The digest of what the row's last create sent, when the journal has it.
    pub hash: Option<String>,
    /// The name the row's last create sent, when the journal has it.
    pub name: Option<String>,
    /// When the row ended (ms since the epoch): ready, failed, unknown, invalid, or created as
    /// a draft.
    pub ended_at: Option<u64>,
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
            credits: None,
            attempts: 0,
            error: None,
            reason: None,
            abandoned: Vec::new(),
            hash: None,
            name: None,
            ended_at: None,
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
            Event::Submitting {
                row,
                key,
                hash,
                name,
                at,
            } => {
                let r = entry(&mut self.rows, row, &key, RowState::Submitting);
                r.attempts += 1;
                r.hash = hash;
                r.name = name;
                r.ended_at = None;
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
                row,
                key,
                id,
                at,
                draft,
                ..
            } => {
                let state = if draft {
                    RowState::Draft
                } else {
                    RowState::Submitted
                };
                let r = entry(&mut self.rows, row, &key, state);
                r.project_id = Some(id);
                r.submitted_at = Some(at);
                r.ended_at = draft.then_some(at);
                r.error = None;
                r.reason = None;
            }
            Event::Ready {
                row,
                key,
                download_url,
                credits,
                at,
            } => {
                let r = entry(&mut self.rows, row, &key, RowState::Ready);
                r.ended_at = Some(at);
                r.download_url = Some(download_url);
                r.credits = credits;
                r.error = None;
                r.reason = None;
            }
            Event::Failed {
                row,
                key,
                reason,
                error,
                at,
            } => {
                let r = entry(&mut self.rows, row, &key, RowState::Failed);
                r.ended_at = Some(at);
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
                row,
                key,
                error,
                at,
                ..
            } => {
                let r = entry(&mut self.rows, row, &key, RowState::Invalid);
                r.ended_at = Some(at);
                r.error = Some(error);
            }
            Event::Unknown {
                row,
                key,
                error,
                at,
                ..
            } => {
                let r = entry(&mut self.rows, row, &key, RowState::Unknown);
                r.ended_at = Some(at);
                r.error = Some(error);
                r.reason = None;
            }
            Event::Interrupted { .. } => self.interruptions += 1,
            Event::Resumed { .. } => self.resumptions += 1,
        }
    }
}
