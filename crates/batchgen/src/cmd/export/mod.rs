//! `batchgen export DATA --out DIR`: one v2 export per CSV row, of a project that already
//! exists, optionally with a watermark, through the same engine as `batchgen run` (one budget,
//! retries, journal and `--resume`, manifest, `--download`, progress, Ctrl-C, exit codes).
//!
//! Columns: `project_id` (required), `folder_id` (optional; empty means the "direct"
//! endpoints), and the optional per-row overrides `watermark_src_url`, `watermark_pos_x`,
//! `watermark_pos_y`, `watermark_scale` of the `--watermark*` flags. Other columns are kept in
//! the manifest. Every row is checked before anything is sent: an invalid row (a missing or
//! malformed id, a bad watermark cell, a watermark cell with no image) is listed at once and
//! never sent.

use std::path::PathBuf;

use anyhow::Context as _;
use batchgen_core::RowReader;
use batchgen_dispatch::JobInput;
use batchgen_dispatch::journal::{Fingerprint, RunKind};
use batchgen_dispatch::manifest::Layout;
use clap::Args;

use crate::api::{ApiArgs, origin};
use crate::batch::engine::EngineArgs;
use crate::batch::{self, Batch, Feed, NoExtras};
use crate::exit::Outcome;

/// `batchgen export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The CSV: a header row, then one row per export. Columns: project_id (required),
    /// folder_id, watermark_src_url, watermark_pos_x, watermark_pos_y, watermark_scale.
    #[arg(value_name = "DATA")]
    pub data: PathBuf,
    /// Output directory: journal.jsonl, manifest.csv, manifest.jsonl, videos/.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Column whose values are the row keys (unique; they name output files). Default: row-N.
    #[arg(long, value_name = "COLUMN")]
    pub key: Option<String>,
    #[command(flatten)]
    pub watermark: WatermarkArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

mod rows;

use rows::Columns;
pub use rows::WatermarkArgs;

/// Invalid rows listed before the run starts (all are in the manifest).
const SHOW_INVALID: usize = 10;

pub fn run(args: ExportArgs, quiet: bool) -> anyhow::Result<Outcome> {
    // Everything that can be refused is refused before anything is sent.
    let reader = RowReader::from_path(&args.data)?;
    let columns_found = Columns::find(reader.header(), args.key.as_deref(), &args.data)?;
    if let Some(key) = &args.key {
        batchgen_core::check_unique(&args.data, key)?;
    }
    // A first pass counts the rows and lists the invalid ones (export rows are small).
    let mut rows = 0u64;
    let mut invalid = Vec::new();
    let mut invalid_count = 0u64;
    for row in reader {
        let row = row?;
        rows += 1;
        if let JobInput::Invalid {
            row, key, error, ..
        } = columns_found.input(&row, &args.watermark)
        {
            invalid_count += 1;
            if invalid.len() < SHOW_INVALID {
                invalid.push((row, key, error));
            }
        }
    }
    if !quiet && invalid_count > 0 {
        eprintln!(
            "{invalid_count} of {rows} rows are invalid and will not be sent (listed at the end and in the manifest)"
        );
    }
    let runtime = batch::runtime(&args.out)?;
    let client = args.api.client(None)?;
    // The rows, read again and streamed in input order.
    let reader = RowReader::from_path(&args.data)?;
    let columns: Vec<String> = reader.header().names().to_vec();
    let flags = args.watermark.clone();
    let feed: Feed = Box::new(move |tx| {
        for row in reader {
            let input = columns_found.input(&row?, &flags);
            if tx.blocking_send(input).is_err() {
                break;
            }
        }
        Ok(())
    });
    let batch = Batch {
        kind: RunKind::Export,
        fingerprint: fingerprint(&args, &client)?,
        data: args.data,
        out: args.out,
        engine: args.engine,
        columns,
        layout: Layout::Exports,
        rows,
        invalid: (invalid, invalid_count),
        sandbox: false,
        quiet,
    };
    runtime.block_on(batch::drive(batch, client, feed, NoExtras))
}

/// What decides the exports and where they go: the CSV, the watermark flags, the key column,
/// the API origin and the v2 base. Rate, concurrency and polling may change on resume.
fn fingerprint(
    args: &ExportArgs,
    client: &batchgen_aistudios::Client,
) -> anyhow::Result<Fingerprint> {
    let data = std::fs::read(&args.data)
        .with_context(|| format!("cannot read the CSV {}", args.data.display()))?;
    let w = &args.watermark;
    let watermark = match &w.watermark {
        Some(url) => format!(
            "{url} x={} y={} scale={}",
            w.watermark_x, w.watermark_y, w.watermark_scale
        ),
        None => format!(
            "none x={} y={} scale={}",
            w.watermark_x, w.watermark_y, w.watermark_scale
        ),
    };
    Ok(Fingerprint::new()
        .bytes("data", &data)
        .text("key", args.key.clone().unwrap_or_else(|| "row-N".into()))
        .text("watermark", watermark)
        .text("base_url", origin(client.base_url()))
        .text("v2_base_url", args.api.v2_base()))
}
