//! `batchgen status DIR`: what a run's journal says now — counts by status and the failed
//! rows with their errors. Reads the journal only; sends nothing.

use std::path::PathBuf;

use batchgen_dispatch::journal::{JOURNAL_FILE, Replay, RowState};
use clap::Args;

use crate::error::Error;
use crate::exit::Outcome;

/// `batchgen status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A run's output directory (the one given to `batchgen run --out` or `batchgen export --out`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Print the counts and the failed and invalid rows as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: StatusArgs) -> crate::error::Result<Outcome> {
    let path = args.dir.join(JOURNAL_FILE);
    if !path.exists() {
        return Err(Error::Usage(format!(
            "failed to read the run's journal: {} does not exist; give the --out directory of a `batchgen run` or `batchgen export`",
            path.display()
        )));
    }
    let replay = Replay::read(&path)?;
    let bad = replay
        .rows
        .values()
        .any(|r| matches!(r.state, RowState::Failed | RowState::Invalid));
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json(&replay)).expect("JSON values serialise")
        );
    } else {
        print!("{}", report(&replay));
    }
    // As a run would exit: 3 when rows failed or are invalid.
    Ok(if bad {
        Outcome::SomeRowsFailed
    } else {
        Outcome::Success
    })
}

/// What `--json` prints: the run, the counts by state, and every failed or invalid row.
fn json(replay: &Replay) -> serde_json::Value {
    let count = |s: RowState| replay.rows.values().filter(|r| r.state == s).count() as u64;
    let known = replay.rows.len() as u64;
    let total = replay.header.rows.unwrap_or(known).max(known);
    let mut rows: Vec<_> = replay
        .rows
        .values()
        .filter(|r| matches!(r.state, RowState::Failed | RowState::Invalid))
        .collect();
    rows.sort_by_key(|r| r.row);
    let h = &replay.header;
    serde_json::json!({
        "kind": h.kind.as_str(),
        "run_id": h.run_id,
        "created_at": h.created_at,
        "rows": total,
        "ready": count(RowState::Ready),
        "failed": count(RowState::Failed),
        "invalid": count(RowState::Invalid),
        "rendering": count(RowState::Submitted),
        "submitting": count(RowState::Submitting),
        "not_started": total - known,
        "downloaded": replay.rows.values().filter(|r| r.file.is_some()).count(),
        "interruptions": replay.interruptions,
        "resumptions": replay.resumptions,
        "failures": rows.iter().map(|r| serde_json::json!({
            "row": r.row,
            "key": r.key,
            "state": r.state,
            "error": r.error,
        })).collect::<Vec<_>>(),
    })
}

fn report(replay: &Replay) -> String {
    use std::fmt::Write as _;
    let count = |s: RowState| replay.rows.values().filter(|r| r.state == s).count() as u64;
    let (ready, failed, invalid) = (
        count(RowState::Ready),
        count(RowState::Failed),
        count(RowState::Invalid),
    );
    let (rendering, submitting) = (count(RowState::Submitted), count(RowState::Submitting));
    let known = replay.rows.len() as u64;
    let total = replay.header.rows.unwrap_or(known).max(known);
    let not_started = total - known;
    let mut out = String::new();
    let h = &replay.header;
    let _ = writeln!(
        out,
        "{} {} started {}",
        h.kind.command(),
        &h.run_id,
        h.created_at
    );
    let _ = writeln!(out, "rows        {total}");
    let _ = writeln!(out, "ready       {ready}");
    let _ = writeln!(out, "failed      {failed}");
    let _ = writeln!(out, "invalid     {invalid}");
    let unknown = count(RowState::Unknown);
    if unknown > 0 {
        let _ = writeln!(
            out,
            "unknown     {unknown} (a lost create may have made a project; see below)"
        );
    }
    let _ = writeln!(
        out,
        "pending     {} ({rendering} rendering, {submitting} submitting, {not_started} not started)",
        rendering + submitting + not_started
    );
    let downloaded = replay.rows.values().filter(|r| r.file.is_some()).count();
    if downloaded > 0 {
        let _ = writeln!(out, "downloaded  {downloaded}");
    }
    if replay.interruptions + replay.resumptions > 0 || replay.torn_tail {
        let _ = writeln!(
            out,
            "history     interrupted {} time(s), resumed {} time(s){}",
            replay.interruptions,
            replay.resumptions,
            if replay.torn_tail {
                "; last line cut short (ignored)"
            } else {
                ""
            }
        );
    }
    let mut failures: Vec<_> = replay
        .rows
        .values()
        .filter(|r| {
            matches!(
                r.state,
                RowState::Failed | RowState::Invalid | RowState::Unknown
            )
        })
        .collect();
    failures.sort_by_key(|r| r.row);
    if !failures.is_empty() {
        let heading = if unknown > 0 {
            "failed, invalid and unknown rows"
        } else {
            "failed and invalid rows"
        };
        let _ = writeln!(out, "\n{heading}:");
        for r in failures {
            let word = match r.state {
                RowState::Failed => "failed",
                RowState::Unknown => "unknown",
                _ => "invalid",
            };
            let _ = writeln!(
                out,
                "  row {} ({}) {word}: {}",
                r.row,
                r.key,
                r.error.as_deref().unwrap_or("")
            );
        }
    }
    out
}
