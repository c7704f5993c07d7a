//! The command line, as clap types. Each command's arguments live next to its code in `cmd/`.

use clap::{Args, Parser, Subcommand};

/// Turn one AI Studios project template and a CSV into hundreds of personalised videos.
///
/// Exit codes: 0 all good; 2 bad usage or unusable input (nothing done); 3 finished but some rows
/// invalid or failed; 4 authentication refused; 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "batchgen", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail in logs (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// How stderr is written: text for a person, or json: one JSON object per line (logs,
    /// messages, progress, the rows listed and the summary; each line about a row has `row`
    /// and `key`). stdout carries only a command's data either way.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Colour stderr: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render and validate one project per CSV row; JSONL to stdout, or files with --out.
    Render(crate::cmd::render::RenderArgs),
    /// Check every row renders to a valid project; a report, no output files.
    Validate(crate::cmd::render::ValidateArgs),
    /// Print the AI Studios project JSON Schema batchgen validates against.
    Schema,
    /// Render every row, submit each project under one request budget, follow the renders,
    /// download the videos (--download), and write a journal and a manifest in --out.
    Run(Box<crate::cmd::run::RunArgs>),
    /// Export existing projects (a CSV with project_id, or a run's manifest.csv of drafts)
    /// through the same engine as run: one budget, journal, manifest, --download. v3 by
    /// default; --api v2 for the v2 exports (folders, watermarks).
    Export(Box<crate::cmd::export::ExportArgs>),
    /// The account's avatars and their clothes (`model.ai_name` / `model.emotion`, or a
    /// script's `modelId` / `clothId`): a table, or --json.
    Models(crate::cmd::account::AccountArgs),
    /// The account's workspaces (`--workspace ID` of run and export): a table, or --json.
    Workspaces(crate::cmd::account::AccountArgs),
    /// Past v2 exports: `batchgen exports list [--folder-id ID] [--project-id ID] [--json]`.
    Exports(crate::cmd::exports::ExportsArgs),
    /// Manifests: `batchgen manifest merge DIR… [--out FILE|DIR]` joins the shards of a
    /// `--shard K/N` run into one manifest.
    Manifest(crate::cmd::manifest::ManifestArgs),
    /// What a run's journal says now: counts by status and the failed rows.
    Status(crate::cmd::status::StatusArgs),
    /// Run a local emulator of the AI Studios API (with switchable faults) for demos and tests.
    Sandbox(crate::cmd::sandbox::SandboxArgs),
}
