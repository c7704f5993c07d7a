//! `batchgen run`: render every row, submit each valid project under one request budget,
//! follow every render, download the videos if asked, and leave a journal and a manifest.
//!
//! This file says only what is `run`'s: its rows (the core renders them on a thread of their
//! own, in input order) and what it adds around the engine (the webhook receiver, the
//! sandbox); the driver (`crate::batch`) does the rest, the same as for `export`. Exit codes: 0 all ready; 3 some invalid or failed; 4 the API
//! refused the credentials; 130 interrupted; 2 unusable input, an existing journal without
//! `--resume`, or a journal from other inputs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use batchgen_aistudios::Client;
use batchgen_core::{RenderedRow, file_stem, render_stream};
use batchgen_dispatch::journal::{Fingerprint, Header, RunKind};
use batchgen_dispatch::manifest::Layout;
use batchgen_dispatch::{EngineConfig, JobInput, ProjectRow};
use batchgen_sandbox::{Sandbox, SandboxConfig, parse_duration_range, parse_probability};
use clap::Args;
use serde_json::Value;

use crate::api::{ApiArgs, SANDBOX_CONFLICTS, origin, start_sandbox};
use crate::batch::engine::EngineArgs;
use crate::batch::webhooks::{Hooks, WebhookArgs};
use crate::batch::{self, Batch, Extras, Feed};
use crate::cmd::account::AvatarCheck;
use crate::cmd::render::{Inputs, Prepared, prepare_named};
use crate::error::IoAction as _;
use crate::exit::Outcome;
use crate::report;
use crate::shard::{self, ShardArgs, Tally};

/// `batchgen run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// Output directory: journal.jsonl, manifest.csv, manifest.jsonl, videos/. Default:
    /// out/<CSV file stem>/, so the same command finds its run again.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Create every project as a draft (`isExport: false`): created, shown in the vendor's
    /// dashboard for review, not rendered; rows end `draft` with their project id. Export them
    /// later with `batchgen export OUT/manifest.csv`.
    #[arg(long)]
    pub draft: bool,
    /// Video quality set in every project: 4k, 1080, 720 or 480 (vendor default 1080).
    #[arg(long, value_name = "RES", value_parser = ["4k", "1080", "720", "480"])]
    pub resolution: Option<String>,
    /// Workspace id set in every project (`batchgen workspaces` lists them).
    #[arg(long, value_name = "ID")]
    pub workspace: Option<String>,
    /// Name each project with this Handlebars template over the row ({{column}}, {{@key}},
    /// {{@row}}, and {{@run}}: the run's tag) instead of "<template name> [<key>] #<run tag>".
    /// Lookups after a lost answer go by name, so a template that gives two rows the same name
    /// is refused (exit 2), naming them.
    #[arg(long, value_name = "TEMPLATE")]
    pub name: Option<String>,
    /// Refuse to send anything when any row is invalid (exit 3): a partly bad batch never
    /// spends credits by accident.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    /// Run against a sandbox started in this process (no account needed; run again, it continues)
    #[arg(long, conflicts_with_all = SANDBOX_CONFLICTS)]
    pub sandbox: bool,
    /// With --sandbox: how long renders take.
    #[arg(long, value_name = "A..B", default_value = "1s..3s", value_parser = parse_duration_range, requires = "sandbox")]
    pub sandbox_render_time: std::ops::Range<Duration>,
    /// With --sandbox: share of API calls answered 500.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_probability, requires = "sandbox")]
    pub sandbox_fail_probability: f64,
    /// With --sandbox: share of renders that fail.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_probability, requires = "sandbox")]
    pub sandbox_render_fail_probability: f64,
}

pub fn run(args: RunArgs, quiet: bool) -> crate::error::Result<Outcome> {
    let mut tally = Tally::new(args.shard.resolve()?);
    let prepared = prepare_named(&args.inputs, quiet, args.name.as_deref())?;
    let mut names = args.name.as_deref().map(Names::new);
    // Every row is checked before anything is sent: the reasons come before any credit is spent.
    let checked = report::check_rows_where(
        &prepared.template,
        &args.inputs.data,
        prepared.options,
        &mut |r| {
            let takes = tally.take(r.row.number, &r.key);
            if let (true, Some(names), Ok(body)) = (takes, &mut names, &r.outcome) {
                names.add(r.row.number, &r.key, body);
            }
            takes
        },
    )?;
    if let Some(names) = names {
        names.check(quiet)?;
    }
    if !quiet {
        checked.warn_cells(&args.inputs.data);
        checked
            .report_invalid()
            .action(|| "write to stderr".into())?;
    }
    checked.refuse_if_strict(args.strict, &args.inputs.data)?;
    let out = batch::out_dir(args.out.as_deref(), &args.inputs.data, tally.shard, quiet);
    let runtime = batch::runtime(&out)?;
    runtime.block_on(run_async(args, out, prepared, (checked, tally), quiet))
}

async fn run_async(
    args: RunArgs,
    out: PathBuf,
    prepared: Prepared,
    (checked, tally): (report::RowReport, Tally),
    quiet: bool,
) -> crate::error::Result<Outcome> {
    let rows = checked.rows;
    let mut checked = checked;
    // Where to, and as whom.
    let sandbox = if args.sandbox {
        Some(start_run_sandbox(&args, quiet).await?)
    } else {
        None
    };
    let client = args.api.client(sandbox.as_ref())?;
    let account = args.api.account(sandbox.as_ref())?;
    let hooks = Hooks::bind(&args.webhooks, &args.engine, &client, rows).await?;
    let extras = RunExtras {
        hooks,
        quiet,
        sandbox,
        avatars: AvatarCheck::new(quiet),
        projects: batchgen_dispatch::ProjectFlags {
            resolution: args.resolution.clone(),
            workspace_id: args.workspace.clone(),
            draft: args.draft,
            names_as_given: args.name.is_some(),
        },
    };

    // The renderer, on its own thread, in input order.
    let columns: Vec<String> = prepared.template.header().names().to_vec();
    let width = columns.len();
    let Prepared {
        template,
        rows: reader,
        style,
        ..
    } = prepared;
    let sharding = tally.shard;
    let feed: Feed = Box::new(move |tx| {
        let mut sink = |r: RenderedRow| -> Result<(), Stop> {
            if !shard::keeps(sharding, &r.key) {
                return Ok(());
            }
            let inputs: Vec<String> = (0..width).map(|i| r.row.cell(i).to_owned()).collect();
            let input = match r.outcome {
                Ok(body) => JobInput::Project(ProjectRow {
                    row: r.row.number,
                    file_stem: file_stem(&r.key),
                    key: r.key,
                    body: body.into(),
                    inputs,
                }),
                Err(e) => JobInput::Invalid {
                    row: r.row.number,
                    key: r.key,
                    error: e.summary(),
                    inputs,
                },
            };
            tx.blocking_send(input).map_err(|_| Stop)
        };
        match render_stream(&template, reader, &mut sink) {
            Err(batchgen_core::RenderError::Input(e)) => Err(e),
            // The engine stopped taking rows, or every row was rendered.
            _ => Ok(()),
        }
    });
    let batch = Batch {
        kind: RunKind::Run,
        fingerprint: fingerprint(&args, &client, &account)?,
        data: args.inputs.data,
        out,
        engine: args.engine,
        columns,
        layout: Layout::Projects,
        manifest_csv: style,
        rows,
        invalid: (checked.shown(), checked.invalid),
        keys: checked.take_keys(),
        keyed: args.inputs.key.is_some(),
        sandbox: args.sandbox,
        quiet,
        shard: tally,
        account: crate::api::account(&args.api, &client, extras.sandbox.as_ref())?,
    };
    batch::drive(batch, client, feed, extras).await
}

/// What `run` adds around the engine: the webhook receiver (a token per row, polling as a slow
/// safety net) and the in-process sandbox.
struct RunExtras {
    /// The webhook receiver, with `--webhook-listen`.
    hooks: Hooks,
    quiet: bool,
    sandbox: Option<Sandbox>,
    /// The account's avatars, read before the first create; rows naming others are invalid.
    avatars: AvatarCheck,
    /// `--resolution`, `--workspace`, `--draft`: set in every project.
    projects: batchgen_dispatch::ProjectFlags,
}

impl Extras for RunExtras {
    fn start(&mut self, header: &Header, config: &mut EngineConfig) -> crate::error::Result<()> {
        config.projects = self.projects.clone();
        config.create_gate = Some(batchgen_dispatch::Gate(Arc::new(self.avatars.clone())));
        self.hooks.start(header, config, self.quiet);
        Ok(())
    }

    async fn stop(self) -> crate::error::Result<Vec<(&'static str, Value)>> {
        let mut extra = Vec::new();
        // Rows found invalid by the avatar check, listed like the ones found before the run.
        let unknown = self.avatars.invalid();
        if !self.quiet {
            for (row, key, error) in unknown.iter().take(10) {
                crate::output::say_row(
                    crate::output::Level::Warn,
                    "invalid",
                    *row,
                    key,
                    error,
                    &format!("invalid: row {row} ({key}): {error}"),
                );
            }
            if unknown.len() > 10 {
                crate::output::say!(
                    "... and {} more rows whose avatar the account does not have: see the manifest",
                    unknown.len() - 10
                );
            }
        }
        if !unknown.is_empty() {
            extra.push(("unknown_avatars", serde_json::json!(unknown.len())));
        }
        extra.extend(self.hooks.stop().await?);
        if let Some(sb) = self.sandbox {
            sb.shutdown().await;
        }
        Ok(extra)
    }
}

/// The names `--name` gives the rows, checked before anything is sent: no two rows may share
/// one (lookups after a lost answer go by name).
struct Names {
    template: String,
    seen: std::collections::HashMap<String, RowId>,
    /// The first name two rows share, and the two rows.
    clash: Option<(String, RowId, RowId)>,
    blank: Vec<u64>,
}

/// A row by its number and key.
type RowId = (u64, String);

impl Names {
    fn new(template: &str) -> Names {
        Names {
            template: template.to_owned(),
            seen: std::collections::HashMap::new(),
            clash: None,
            blank: Vec::new(),
        }
    }

    /// Takes in the name row `row` (key `key`) renders in its project `body`.
    fn add(&mut self, row: u64, key: &str, body: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Named {
            name: Option<String>,
        }
        let name = serde_json::from_slice::<Named>(body)
            .ok()
            .and_then(|n| n.name)
            .unwrap_or_default();
        if name.trim().is_empty() {
            self.blank.push(row);
            return;
        }
        if self.clash.is_some() {
            return;
        }
        match self.seen.entry(name) {
            std::collections::hash_map::Entry::Occupied(first) => {
                self.clash = Some((
                    first.key().clone(),
                    first.get().clone(),
                    (row, key.to_owned()),
                ));
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((row, key.to_owned()));
            }
        }
    }

    /// Refuses (exit 2) a template that gave two rows one name; warns of blank names and of
    /// names without `{{@run}}`.
    fn check(self, quiet: bool) -> crate::error::Result<()> {
        if let Some((name, (r1, k1), (r2, k2))) = self.clash {
            let shown = name.replace(batchgen_dispatch::naming::RUN_PLACEHOLDER, "<run tag>");
            return Err(crate::error::Error::Usage(format!(
                "failed to start: --name {:?} gives rows {r1} ({k1}) and {r2} ({k2}) the same project name {shown:?}; nothing was sent. A project is found again by its name after a lost answer, so each row needs its own: put {{{{@key}}}} or a column that is unique per row in the template",
                self.template
            )));
        }
        if quiet {
            return Ok(());
        }
        if !self.blank.is_empty() {
            let rows: Vec<String> = self.blank.iter().take(8).map(u64::to_string).collect();
            crate::output::say!(
                "warning: --name renders an empty name for {} rows ({}{}); they are named \"batchgen [<key>] #<run tag>\"",
                self.blank.len(),
                rows.join(", "),
                if self.blank.len() > 8 { ", …" } else { "" }
            );
        }
        if !self.template.contains("@run") {
            crate::output::say!(
                "note: --name has no {{{{@run}}}}: names are unique within this run, but a project of another run (another --out) may have the same name, and a lookup after a lost answer could adopt it; add {{{{@run}}}} to rule that out"
            );
        }
        Ok(())
    }
}

/// The engine stopped taking rows.
#[derive(Debug)]
struct Stop;

/// What cannot change within one run directory: where the projects are (the API's origin), whose
/// they are (the account, as [`crate::api::account_tag`] names it without the secret) and how
/// rows are known (the key column). The CSV, the template and the patch may change: each
/// row's project is compared with what its last create sent (see the journal's hash).
fn fingerprint(
    args: &RunArgs,
    client: &Client,
    account: &str,
) -> crate::error::Result<Fingerprint> {
    // Every --sandbox run has an emulator of its own, on a new port with a new key: they are
    // all the same place and account, so the same command continues the directory.
    let (base_url, account) = if args.sandbox {
        ("sandbox".to_owned(), "sandbox")
    } else {
        (origin(client.base_url()), account)
    };
    Ok(Fingerprint::new()
        .text(
            "key",
            args.inputs.key.clone().unwrap_or_else(|| "row-N".into()),
        )
        .text("base_url", base_url)
        // Journals of earlier versions did not record the account: they continue.
        .recorded_since("account", account))
}

async fn start_run_sandbox(args: &RunArgs, quiet: bool) -> crate::error::Result<Sandbox> {
    let config = SandboxConfig::default()
        .render_time(args.sandbox_render_time.clone())
        .fail_probability(args.sandbox_fail_probability)
        .render_fail_probability(args.sandbox_render_fail_probability);
    start_sandbox(config, quiet).await
}
