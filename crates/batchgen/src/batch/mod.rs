//! The one driver of `batchgen run` and `batchgen export`: a runtime, the journal, the budget,
//! the engine, Ctrl-C, the thread that feeds it rows, the display and the summary. A command
//! says only what differs: its journal's kind and fingerprint, its rows (a [`Feed`]), and what
//! it adds around the engine ([`Extras`]: `run`'s webhook receiver and sandbox).
//!
//! [`engine`] holds the engine's flags and the pieces the driver is made of (opening the
//! journal, the resume command, signals, the summary and its exit code).

pub mod engine;
pub mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, IoAction as _};
use batchgen_aistudios::Client;
use batchgen_core::InputError;
use batchgen_dispatch::journal::{Fingerprint, Header, RunKind};
use batchgen_dispatch::manifest::{CsvStyle, Layout};
use batchgen_dispatch::shared_budget::{SharedBudget, SharedBudgetError};
use batchgen_dispatch::{Budget, Engine, EngineConfig, JobInput, Store};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::exit::Outcome;
use engine::{EngineArgs, JournalSpec, Summary};

/// Rows between the thread that makes them and the engine.
const CHANNEL: usize = 256;

/// Makes the inputs, in input order, on a thread of its own; stops early when the channel is
/// closed. An error means the CSV could not be read to the end (the rows before it were run).
pub type Feed = Box<dyn FnOnce(mpsc::Sender<JobInput>) -> Result<(), InputError> + Send>;

/// What differs between the commands that drive the engine.
pub struct Batch {
    /// Which command's journal.
    pub kind: RunKind,
    /// What decides the run's remote objects (a changed one refuses `--resume`).
    pub fingerprint: Fingerprint,
    /// The input CSV.
    pub data: PathBuf,
    /// The output directory.
    pub out: PathBuf,
    /// The engine's flags.
    pub engine: EngineArgs,
    /// The input's column names, for the manifest.
    pub columns: Vec<String>,
    /// The manifest's fixed columns.
    pub layout: Layout,
    /// The CSV manifest's separator and BOM (the input's).
    pub manifest_csv: CsvStyle,
    /// Rows in the input.
    pub rows: u64,
    /// Invalid rows known before the run (row, key, error), and how many there are in all.
    pub invalid: (Vec<(u64, String, String)>, u64),
    /// Every row's key and whether it is valid, in input order (a continued run says first
    /// what is done and what remains).
    pub keys: Vec<(String, bool)>,
    /// Rows are known by a key column (`--key`); without one, by their position.
    pub keyed: bool,
    /// An in-process sandbox run: its emulator is new in every process, so what an earlier
    /// run left with the old one is made again (nothing there is paid for).
    pub sandbox: bool,
    /// Print only errors.
    pub quiet: bool,
    /// The shard of a `--shard K/N` run, and the rows it took (none: every row).
    pub shard: crate::shard::Tally,
    /// Whose request budget this is (the API origin and the credential), for
    /// `--shared-budget`: hashed into the Redis key, never stored.
    pub account: batchgen_aistudios::Secret,
}

/// What a command adds around the engine.
pub trait Extras {
    /// Once the journal is open, before the engine starts: adjusts the engine's settings.
    fn start(&mut self, header: &Header, config: &mut EngineConfig) -> crate::error::Result<()>;
    /// After the engine: stops what [`Extras::start`] started; fields for the JSON summary.
    fn stop(self) -> impl Future<Output = crate::error::Result<Vec<(&'static str, Value)>>>;
}

/// The output directory: `--out`, or `out/<CSV file stem>/` (printed, so the user knows where
/// the same command will find its run again).
pub fn out_dir(
    out: Option<&std::path::Path>,
    data: &std::path::Path,
    shard: Option<crate::shard::Shard>,
    quiet: bool,
) -> PathBuf {
    if let Some(out) = out {
        return out.to_owned();
    }
    let stem = data
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "run".into());
    // Each shard of a sharded run keeps a directory of its own: shards on one machine
    // without --out do not meet.
    let stem = match shard {
        Some(s) => format!("{stem}-shard-{}-of-{}", s.index + 1, s.count),
        None => stem,
    };
    let dir = std::path::Path::new("out").join(stem);
    if !quiet {
        crate::output::say!(
            "output: {}/ (journal, manifest, videos; the same command continues this run)",
            dir.display()
        );
    }
    dir
}

/// Where a continued run stands before it starts, said first: `continuing the run in DIR:
/// 47 of 60 rows done (45 ready, 2 failed), 11 to send or follow, 2 invalid, 1 gone from
/// the CSV`. Done: ready, draft, failed for good (unless `--retry-failed`) and unknown (unless
/// `--resubmit-unknown`); a changed row that has a video counts as done (it is kept, unless
/// `--rerender-changed`). A `--sandbox` run says too that what the earlier process's sandbox
/// had is made again.
fn say_continuing(
    out: &std::path::Path,
    keys: &[(String, bool)],
    flags: &EngineArgs,
    replay: &batchgen_dispatch::journal::Replay,
    sandbox: bool,
) {
    use batchgen_dispatch::journal::RowState;
    let (mut ready, mut draft, mut failed, mut unknown, mut todo, mut invalid) = (0, 0, 0, 0, 0, 0);
    // Ready rows whose video is to be downloaded now and is not yet.
    let mut to_download = 0;
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    for (key, valid) in keys {
        seen.insert(key.as_str());
        if !valid {
            invalid += 1;
            continue;
        }
        let record = replay.rows.get(key);
        if flags.download && record.is_some_and(|r| r.state == RowState::Ready && r.file.is_none())
        {
            to_download += 1;
        }
        match record.map(|r| (r.state, r.reason)) {
            Some((RowState::Ready, _)) => ready += 1,
            Some((RowState::Draft, _)) => draft += 1,
            Some((RowState::Failed, Some(reason)))
                if !reason.is_transient() && !flags.retry_failed =>
            {
                failed += 1
            }
            Some((RowState::Unknown, _)) if !flags.resubmit_unknown => unknown += 1,
            _ => todo += 1,
        }
    }
    let gone = replay
        .rows
        .keys()
        .filter(|k| !seen.contains(k.as_str()))
        .count();
    let done = ready + draft + failed + unknown;
    let mut kinds = vec![format!("{ready} ready")];
    for (n, word) in [
        (draft, "draft"),
        (failed, "failed for good"),
        (unknown, "unknown"),
    ] {
        if n > 0 {
            kinds.push(format!("{n} {word}"));
        }
    }
    let mut text = format!(
        "continuing the run in {}/ (started {}): {done} of {} rows done ({}), {todo} to send or follow",
        out.display(),
        replay.header.created_at,
        keys.len(),
        kinds.join(", ")
    );
    if invalid > 0 {
        text.push_str(&format!(", {invalid} invalid"));
    }
    if gone > 0 {
        text.push_str(&format!(", {gone} gone from the CSV (kept as removed)"));
    }
    if sandbox && todo + to_download > 0 {
        text.push_str("; the earlier sandbox ended with its process, so rows it had in progress (or whose videos it held) are made again in this one");
    }
    let mut fields = serde_json::Map::new();
    for (name, n) in [
        ("rows", keys.len()),
        ("done", done),
        ("ready", ready),
        ("draft", draft),
        ("failed", failed),
        ("unknown", unknown),
        ("remain", todo),
        ("invalid", invalid),
        ("removed", gone),
    ] {
        fields.insert(name.into(), n.into());
    }
    crate::output::say_with(crate::output::Level::Info, "continuing", &text, fields);
}

/// Starts the runtime that [`drive`] runs on (the output directory is made first).
pub fn runtime(out: &std::path::Path) -> crate::error::Result<tokio::runtime::Runtime> {
    std::fs::create_dir_all(out).action(|| format!("create {}", out.display()))?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .action(|| "start the async runtime".into())
}

/// The run's request budget: local (paced on tokio's clock), or shared through Redis with
/// `--shared-budget` (exit 5 if Redis does not answer: nothing is sent without it).
async fn budget(
    engine: &EngineArgs,
    account: &batchgen_aistudios::Secret,
) -> crate::error::Result<Budget> {
    let (setting, max) = (engine.rate, engine.max_rate);
    let Some(url) = &engine.shared_budget else {
        return Ok(Budget::with_setting(setting, max));
    };
    match SharedBudget::connect(url, account.expose(), setting, max).await {
        Ok(remote) => {
            tracing::info!(
                url = remote.url(),
                key = remote.key(),
                "sharing the request budget"
            );
            Ok(Budget::shared(remote))
        }
        Err(e @ SharedBudgetError::BadUrl { .. }) => Err(crate::error::Error::Usage(format!(
            "failed to {e}; give --shared-budget redis://host:port[/db]"
        ))),
        Err(e) => Err(crate::error::Error::BudgetUnreachable(e)),
    }
}

/// Runs `batch` through the engine with `client`, its rows from `feed`, `extras` around it:
/// opens (or takes over) the journal, runs every row, prints the summary, decides the outcome.
pub async fn drive(
    batch: Batch,
    client: Client,
    feed: Feed,
    mut extras: impl Extras,
) -> crate::error::Result<Outcome> {
    let command = engine::command_line();
    let quiet = batch.quiet;
    batch.shard.check_out(&batch.out)?;
    // Before the journal: without its shared budget the run does nothing at all.
    let budget = Arc::new(budget(&batch.engine, &batch.account).await?);
    let fingerprint = crate::shard::mark(batch.fingerprint, batch.shard.shard);
    let mut store_field = None;
    // A directory holds one process, whether its run's state is here or in a store.
    let (journal, replay, _lock): (Arc<dyn Store>, _, _) = match &batch.engine.store {
        None => {
            let (journal, replay) = engine::open_journal(
                JournalSpec {
                    kind: batch.kind,
                    fingerprint,
                    command: command.clone(),
                    rows: batch.rows,
                },
                &batch.out,
                batch.sandbox,
                // "no journal yet" is news only to who asked for --resume.
                quiet || !batch.engine.resume,
            )?;
            (Arc::new(journal), replay, None)
        }
        Some(store) => {
            if batch.shard.shard.is_some() {
                return Err(crate::error::Error::Usage(
                    "failed to start the run: --shard splits a run without a store; with --store, workers share the rows of one run by claiming them (drop --shard)".into(),
                ));
            }
            let url = store.url()?;
            let run = engine::run_name(batch.engine.run.as_deref(), &batch.out)?;
            let lock = batchgen_dispatch::journal::RunLock::acquire(&batch.out, &command)?;
            let (store, replay) = batchgen_store::PgStore::open(
                &url,
                batchgen_store::Worker {
                    run: run.clone(),
                    lease: batch.engine.lease,
                },
                batchgen_store::RunSpec {
                    kind: batch.kind,
                    fingerprint,
                    command: command.clone(),
                    rows: Some(batch.rows),
                },
            )
            .await?;
            if !quiet {
                eprintln!(
                    "store: run {run:?} in {url} (worker {}; rows are claimed, {} leases)",
                    store.worker(),
                    humantime::format_duration(batch.engine.lease)
                );
            }
            // Where the directory's run lives, for `batchgen status DIR` (password redacted).
            let pointer = serde_json::json!({"store": url.to_string(), "run": run});
            let path = batch.out.join(engine::STORE_FILE);
            batchgen_dispatch::manifest::write_atomic(&path, |w| {
                w.write_all(&serde_json::to_vec_pretty(&pointer).expect("json serializes"))
            })
            .map_err(|source| crate::error::Error::Io {
                action: format!("write {}", path.display()),
                source,
            })?;
            store_field = Some(
                serde_json::json!({"url": url.to_string(), "run": run, "worker": store.worker()}),
            );
            (Arc::new(store), replay, Some(lock))
        }
    };
    let shard_field = batch.shard.record(&batch.out)?;
    if let (Some(replay), false) = (&replay, quiet) {
        say_continuing(
            &batch.out,
            &batch.keys,
            &batch.engine,
            replay,
            batch.sandbox,
        );
    }
    let had_rows = replay.as_ref().and_then(|r| r.header.rows);
    if !batch.keyed && !quiet && had_rows.is_some_and(|n| n != batch.rows) {
        crate::output::say!(
            "note: without --key, rows are known by their position, and the CSV now has {} rows where the run had {}: if rows were inserted or removed, later rows are taken for the ones that were there (give --key COLUMN with a unique column in a new --out to avoid that)",
            batch.rows,
            had_rows.unwrap_or_default()
        );
    }
    let mut config = batch
        .engine
        .config(&batch.out, batch.columns.clone(), batch.layout);
    config.manifest_csv = batch.manifest_csv;
    config.fresh_api = batch.sandbox;
    extras.start(journal.header(), &mut config)?;
    let engine = Engine::new(config, client, budget, journal, replay);
    let progress = engine.progress();

    // Ctrl-C / SIGTERM: the first stops the run cleanly, the second exits at once.
    let shutdown = CancellationToken::new();
    let resume_hint = engine::resume_hint(&command);
    tokio::spawn(engine::watch_signals(shutdown.clone(), resume_hint.clone()));

    let (tx, rx) = mpsc::channel(CHANNEL);
    let feeder = std::thread::spawn(move || feed(tx));

    let display = crate::display::Display::start(progress, batch.rows, quiet);
    let report = engine.run(rx, shutdown.clone()).await;
    display.finish().await;
    let fed = feeder
        .join()
        .map_err(|_| Error::Internal("the thread reading the CSV panicked".into()))?;
    let mut extra = extras.stop().await?;
    extra.extend(shard_field);
    extra.extend(store_field.map(|v| ("store", v)));
    let report = report?;
    if let Err(e) = fed {
        // Rows before the bad one were run and are in the manifest.
        return Err(e.into());
    }
    if let (Some(line), false) = (batch.shard.summary_line(), quiet) {
        crate::output::say!("{line}");
    }
    engine::finish(
        Summary {
            data: &batch.data,
            out: &batch.out,
            engine: &batch.engine,
            extra,
            invalid: (&batch.invalid.0, batch.invalid.1),
        },
        &report,
        &resume_hint,
        quiet,
    )
}
