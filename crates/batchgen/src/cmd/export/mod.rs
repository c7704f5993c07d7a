//! `batchgen export DATA --out DIR`: one export per CSV row, of a project that already
//! exists, through the same engine as `batchgen run` (one budget, retries, journal and the
//! same command continuing, manifest, `--download`, progress, Ctrl-C, exit codes).
//!
//! By default through v3, `POST /api/odin/v3/editor/project/export` (see [`v3`]): DATA is any
//! CSV with a `project_id` column, or a run's own `manifest.csv` — `run --draft`, review in
//! the vendor's editor, then `export OUT/manifest.csv` renders the drafts. `--resolution` and
//! `--workspace` are set in every request. Rows follow their render like `run`'s (progress,
//! `--download`).
//!
//! `--api v2`: one v2 export per row (see [`rows`]). Columns: `project_id` (required),
//! `folder_id` (optional; empty means the "direct" endpoints), and the optional per-row
//! overrides `watermark_src_url`, `watermark_pos_x`, `watermark_pos_y`, `watermark_scale` of
//! the `--watermark*` flags. Other columns are kept in the manifest. Every row is checked
//! before anything is sent: an invalid row (a missing or malformed id, a bad watermark cell, a
//! watermark cell with no image) is listed at once and never sent.

use std::path::PathBuf;

use batchgen_core::RowReader;
use batchgen_dispatch::journal::{Fingerprint, Header, RunKind};
use batchgen_dispatch::manifest::Layout;
use batchgen_dispatch::{EngineConfig, JobInput};
use clap::Args;

use crate::api::{ApiArgs, origin};
use crate::batch::engine::EngineArgs;
use crate::batch::webhooks::{Hooks, WebhookArgs};
use crate::batch::{self, Batch, Extras, Feed};
use crate::error::{Error, IoAction as _};
use crate::exit::Outcome;
use crate::report::{self, Invalid, RowReport};
use crate::shard::{self, ShardArgs, Tally};

/// `batchgen export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The CSV: a header row, then one row per export, with a project_id column; or a run's
    /// manifest.csv (its draft rows are exported). With --api v2 also folder_id and
    /// watermark_src_url, watermark_pos_x, watermark_pos_y, watermark_scale.
    #[arg(value_name = "DATA")]
    pub data: PathBuf,
    /// Which API exports: v3 (`POST /editor/project/export`, the default) or v2 (the
    /// exports of folders and watermarks).
    #[arg(long = "api", value_name = "v3|v2", default_value = "v3", value_parser = ["v3", "v2"])]
    pub api_version: String,
    /// With a run's manifest as DATA: also export the rows whose status is not draft (they
    /// were rendered once already; each export renders and charges again).
    #[arg(long)]
    pub include_non_drafts: bool,
    /// v3: video quality set in every export: 4k, 1080, 720 or 480 (vendor default 1080).
    #[arg(long, value_name = "RES", value_parser = ["4k", "1080", "720", "480"])]
    pub resolution: Option<String>,
    /// v3: workspace id set in every export (`batchgen workspaces` lists them).
    #[arg(long, value_name = "ID")]
    pub workspace: Option<String>,
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
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
}

mod rows;
mod v3;

use rows::Columns;
pub use rows::WatermarkArgs;
use v3::{Seen, Skipped, Taken, V3Columns};

/// The rows of either API.
enum Source {
    V3(V3Columns),
    V2(Columns, WatermarkArgs),
}

impl Source {
    fn key_of(&self, row: &batchgen_core::Row) -> String {
        match self {
            Source::V3(c) => c.key.key_of(row),
            Source::V2(c, _) => c.key.key_of(row),
        }
    }

    fn take(&self, row: &batchgen_core::Row, seen: &mut Seen) -> Taken {
        match self {
            Source::V3(c) => c.take(row, seen),
            Source::V2(c, flags) => Taken::Input(c.input(row, flags)),
        }
    }
}

/// Flags that only one API takes, refused with the other (exit 2).
fn check_flags(args: &ExportArgs) -> crate::error::Result<()> {
    let v3_only = [
        ("--resolution", args.resolution.is_some()),
        ("--workspace", args.workspace.is_some()),
        ("--include-non-drafts", args.include_non_drafts),
        ("--webhook-listen", args.webhooks.webhook_listen.is_some()),
    ];
    let v2_only = [
        ("--watermark", args.watermark.watermark.is_some()),
        ("--watermark-x", args.watermark.watermark_x != 0.5),
        ("--watermark-y", args.watermark.watermark_y != 0.5),
        ("--watermark-scale", args.watermark.watermark_scale != 1.0),
    ];
    let (wrong, other): (Vec<&str>, &str) = if args.api_version == "v2" {
        (v3_only.iter().filter(|f| f.1).map(|f| f.0).collect(), "v3")
    } else {
        (v2_only.iter().filter(|f| f.1).map(|f| f.0).collect(), "v2")
    };
    if let Some(flag) = wrong.first() {
        return Err(Error::Usage(format!(
            "failed to read the command line: {flag} is for {other} exports only; {}",
            if other == "v2" {
                "add --api v2 to export with a watermark through the v2 endpoints"
            } else {
                "drop --api v2 to export through v3"
            }
        )));
    }
    Ok(())
}

pub fn run(args: ExportArgs, quiet: bool) -> crate::error::Result<Outcome> {
    check_flags(&args)?;
    let v3 = args.api_version == "v3";
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
    let source = if v3 {
        Source::V3(V3Columns::find(
            reader.header(),
            args.key.as_deref(),
            &args.data,
            args.include_non_drafts,
        )?)
    } else {
        Source::V2(
            Columns::find(reader.header(), args.key.as_deref(), &args.data)?,
            args.watermark.clone(),
        )
    };
    let carried: Vec<String> = match &source {
        Source::V3(c) => c.carried(reader.header().names()).to_vec(),
        Source::V2(..) => reader.header().names().to_vec(),
    };
    if let Some(key) = &args.key {
        batchgen_core::check_unique_with(&args.data, options, key)?;
    }
    // A first pass counts the rows and lists the invalid ones (export rows are small).
    let mut checked = RowReport::new(&carried);
    let mut skipped = Skipped::default();
    let mut seen = Seen::new();
    let mut reader = reader;
    for row in reader.by_ref() {
        let row = row?;
        let key = source.key_of(&row);
        if !tally.take(row.number, &key) {
            continue;
        }
        match source.take(&row, &mut seen) {
            Taken::Skipped(status) => skipped.add(row.number, key, status),
            Taken::Input(JobInput::Invalid {
                row: number,
                key,
                error,
                ..
            }) => {
                checked.rows += 1;
                checked.add_invalid(Invalid {
                    row: number,
                    line: row.line,
                    key,
                    reason: error,
                });
            }
            Taken::Input(_) => checked.rows += 1,
        }
    }
    checked.blank = reader.blank_rows();
    if !quiet {
        if let Some(m) = skipped.message(&args.data) {
            eprintln!("{m}");
        }
        checked.warn_cells(&args.data);
        checked
            .report_invalid()
            .action(|| "write to stderr".into())?;
    }
    checked.refuse_if_strict(args.strict, &args.data)?;
    let out = batch::out_dir(args.out.as_deref(), &args.data, tally.shard, quiet);
    let runtime = batch::runtime(&out)?;
    let client = args.api.client(None)?;
    // The rows, read again and streamed in input order.
    let reader = RowReader::with_options(&args.data, options)?;
    let sharding = tally.shard;
    let feed: Feed = Box::new(move |tx| {
        let mut seen = Seen::new();
        for row in reader {
            let row = row?;
            if !shard::keeps(sharding, &source.key_of(&row)) {
                continue;
            }
            let Taken::Input(input) = source.take(&row, &mut seen) else {
                continue;
            };
            if tx.blocking_send(input).is_err() {
                break;
            }
        }
        Ok(())
    });
    let (kind, layout) = if v3 {
        (RunKind::ProjectExport, Layout::Projects)
    } else {
        (RunKind::Export, Layout::Exports)
    };
    let projects = batchgen_dispatch::ProjectFlags {
        resolution: args.resolution.clone(),
        workspace_id: args.workspace.clone(),
        draft: false,
        names_as_given: false,
    };
    let hooks = runtime.block_on(Hooks::bind(
        &args.webhooks,
        &args.engine,
        &client,
        checked.rows,
    ))?;
    let extras = ExportExtras {
        projects,
        hooks,
        quiet,
    };
    let batch = Batch {
        kind,
        fingerprint: fingerprint(&args, &client)?,
        data: args.data,
        out,
        engine: args.engine,
        columns: carried,
        layout,
        manifest_csv: style,
        rows: checked.rows,
        invalid: (checked.shown(), checked.invalid),
        keys: checked.take_keys(),
        keyed: args.key.is_some(),
        sandbox: false,
        quiet,
        shard: tally,
        account: crate::api::account(&args.api, &client, None)?,
    };
    runtime.block_on(batch::drive(batch, client, feed, extras))
}

/// What `export` adds around the engine: `--resolution` and `--workspace` in every v3 export,
/// and (v3) the webhook receiver.
struct ExportExtras {
    projects: batchgen_dispatch::ProjectFlags,
    hooks: Hooks,
    quiet: bool,
}

impl Extras for ExportExtras {
    fn start(&mut self, header: &Header, config: &mut EngineConfig) -> crate::error::Result<()> {
        config.projects = self.projects.clone();
        self.hooks.start(header, config, self.quiet);
        Ok(())
    }
    async fn stop(self) -> crate::error::Result<Vec<(&'static str, serde_json::Value)>> {
        self.hooks.stop().await
    }
}

/// What cannot change within one run directory: the key column, the API origin and (v2) the
/// v2 base; the API itself is the journal's kind. The CSV and the watermark flags may: each row's export request is compared with what
/// its last create sent (see the journal's hash).
fn fingerprint(
    args: &ExportArgs,
    client: &batchgen_aistudios::Client,
) -> crate::error::Result<Fingerprint> {
    let fp = Fingerprint::new()
        .text("key", args.key.clone().unwrap_or_else(|| "row-N".into()))
        .text("base_url", origin(client.base_url()));
    Ok(if args.api_version == "v2" {
        fp.text("v2_base_url", args.api.v2_base())
    } else {
        fp
    })
}
