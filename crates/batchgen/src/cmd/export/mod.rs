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

use batchgen_core::RowReader;
use batchgen_dispatch::JobInput;
use batchgen_dispatch::journal::{Fingerprint, RunKind};
use batchgen_dispatch::manifest::Layout;
use clap::Args;

use crate::api::{ApiArgs, origin};
use crate::batch::engine::EngineArgs;
use crate::batch::{self, Batch, Feed, NoExtras};
use crate::exit::Outcome;
use crate::report::{self, Invalid, RowReport};
use crate::shard::{self, ShardArgs, Tally};

/// `batchgen export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The CSV: a header row, then one row per export. Columns: project_id (required),
    /// folder_id, watermark_src_url, watermark_pos_x, watermark_pos_y, watermark_scale.
    #[arg(value_name = "DATA")]
    pub data: PathBuf,
    /// Output directory: journal.jsonl, manifest.csv, manifest.jsonl, videos/. Default:
    /// out/<CSV file stem>/, so the same command finds its run again.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Column whose values are the row keys (unique; they name output files). Default: row-N.
    #[arg(long, value_name = "COLUMN")]
    pub key: Option<String>,
    /// Read the CSV in this encoding (utf-8, utf-16le, windows-1252, …). Default: a BOM
    /// decides, else UTF-8, else Windows-1252 (with a warning).
    #[arg(long, value_name = "NAME")]
    pub encoding: Option<String>,
    /// Refuse to send anything when any row is invalid (exit 3).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub watermark: WatermarkArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
}

mod rows;

use rows::Columns;
pub use rows::WatermarkArgs;

pub fn run(args: ExportArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let mut tally = Tally::new(args.shard.resolve()?);
    // Everything that can be refused is refused before anything is sent.
    let options = report::read_options(args.encoding.as_deref())?;
    let reader = RowReader::with_options(&args.data, options)?;
    if !quiet {
        if let Some(w) = report::encoding_warning(&args.data, reader.encoding()) {
            eprintln!("{w}");
        }
    }
    let style = report::manifest_style(reader.delimiter(), reader.encoding());
    let columns_found = Columns::find(reader.header(), args.key.as_deref(), &args.data)?;
    if let Some(key) = &args.key {
        batchgen_core::check_unique_with(&args.data, options, key)?;
    }
    // A first pass counts the rows and lists the invalid ones (export rows are small).
    let mut checked = RowReport::new(reader.header().names());
    let mut reader = reader;
    for row in reader.by_ref() {
        let row = row?;
        if !tally.take(row.number, &columns_found.key.key_of(&row)) {
            continue;
        }
        checked.rows += 1;
        if let JobInput::Invalid {
            row: number,
            key,
            error,
            ..
        } = columns_found.input(&row, &args.watermark)
        {
            checked.add_invalid(Invalid {
                row: number,
                line: row.line,
                key,
                reason: error,
            });
        }
    }
    checked.blank = reader.blank_rows();
    if !quiet {
        checked.warn_cells(&args.data);
        checked.report_invalid()?;
    }
    checked.refuse_if_strict(args.strict, &args.data)?;
    let out = batch::out_dir(args.out.as_deref(), &args.data, tally.shard, quiet);
    let runtime = batch::runtime(&out)?;
    let client = args.api.client(None)?;
    // The rows, read again and streamed in input order.
    let reader = RowReader::with_options(&args.data, options)?;
    let columns: Vec<String> = reader.header().names().to_vec();
    let flags = args.watermark.clone();
    let sharding = tally.shard;
    let feed: Feed = Box::new(move |tx| {
        for row in reader {
            let row = row?;
            if !shard::keeps(sharding, &columns_found.key.key_of(&row)) {
                continue;
            }
            let input = columns_found.input(&row, &flags);
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
        out,
        engine: args.engine,
        columns,
        layout: Layout::Exports,
        manifest_csv: style,
        rows: checked.rows,
        invalid: (checked.shown(), checked.invalid),
        keys: checked.take_keys(),
        keyed: args.key.is_some(),
        sandbox: false,
        quiet,
        shard: tally,
    };
    runtime.block_on(batch::drive(batch, client, feed, NoExtras))
}

/// What cannot change within one run directory: the key column, the API origin and the v2
/// base. The CSV and the watermark flags may: each row's export request is compared with what
/// its last create sent (see the journal's hash).
fn fingerprint(
    args: &ExportArgs,
    client: &batchgen_aistudios::Client,
) -> anyhow::Result<Fingerprint> {
    Ok(Fingerprint::new()
        .text("key", args.key.clone().unwrap_or_else(|| "row-N".into()))
        .text("base_url", origin(client.base_url()))
        .text("v2_base_url", args.api.v2_base()))
}
