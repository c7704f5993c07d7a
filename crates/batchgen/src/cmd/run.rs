//! `batchgen run`: render every row, submit each valid project under one request budget,
//! follow every render, download the videos if asked, and leave a journal and a manifest.
//!
//! This file only wires: the core renders (on a blocking thread, in input order) and feeds the
//! engine a bounded channel of jobs; the engine (`batchgen-dispatch`) does the rest; the display
//! (`crate::progress`) shows it. Exit codes: 0 all ready; 3 some invalid or failed; 4 the API
//! refused the credentials; 130 interrupted; 2 unusable input, an existing journal without
//! `--resume`, or a journal from other inputs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use batchgen_aistudios::Client;
use batchgen_core::{RenderedRow, file_stem, render_stream};
use batchgen_dispatch::journal::{Fingerprint, RunKind};
use batchgen_dispatch::manifest::Layout;
use batchgen_dispatch::poll::PollConfig;
use batchgen_dispatch::{
    Budget, Callbacks, Engine, JobInput, ProjectRow, WebhookAuth, WebhookReceiver, WebhookUrls,
};
use batchgen_sandbox::{
    Sandbox, SandboxConfig, parse_duration, parse_duration_range, parse_probability,
};
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::cmd::api::{ApiArgs, SANDBOX_CONFLICTS, is_loopback, origin, start_sandbox};
use crate::cmd::engine::{self, EngineArgs, JournalSpec, Summary};
use crate::cmd::render::{Inputs, prepare};
use crate::exit::{Fatal, Outcome};
use crate::report;
use crate::shard::{self, ShardArgs, Tally};

/// `batchgen run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// Output directory: journal.jsonl, manifest.csv, manifest.jsonl, videos/.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Refuse to send anything when any row is invalid (exit 3): a partly bad batch never
    /// spends credits by accident.
    #[arg(long)]
    pub strict: bool,
    /// Receive the vendor's completion webhooks on ADDR (e.g. 0.0.0.0:8080, or 127.0.0.1:0
    /// with --sandbox); polling then only backs them up.
    #[arg(long, value_name = "ADDR")]
    pub webhook_listen: Option<SocketAddr>,
    /// The receiver's public base URL, as the vendor reaches it (e.g. https://hooks.example.com).
    /// Default: http://<listen address> when both it and --base-url are loopback.
    #[arg(long, value_name = "URL", requires = "webhook_listen", value_parser = parse_public_url)]
    pub webhook_url: Option<String>,
    /// With webhooks: the first safety-net poll of a render comes no sooner than this.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub webhook_poll_interval: Duration,
    /// With webhooks: longest wait between two safety-net polls of one render.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub webhook_poll_cap: Duration,
    /// Run against a sandbox started in this process (no account needed; cannot be resumed).
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

/// Reads `--webhook-url`: an absolute http(s) URL without query or fragment.
fn parse_public_url(s: &str) -> Result<String, String> {
    let u = url::Url::parse(s)
        .map_err(|e| format!("{e}: give an absolute URL such as https://hooks.example.com"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err("expected an http:// or https:// URL with a host".into());
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        return Err("the URL must not carry a query, a fragment or credentials".into());
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// Rows between the renderer and the engine.
const CHANNEL: usize = 256;

pub fn run(args: RunArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let mut tally = Tally::new(args.shard.resolve()?);
    let prepared = prepare(&args.inputs, quiet)?;
    let columns: Vec<String> = prepared.template.header().names().to_vec();
    // Every row is checked before anything is sent: the reasons come before any credit is spent.
    let checked = report::check_rows_where(
        &prepared.template,
        &args.inputs.data,
        prepared.options,
        &mut |r| tally.take(r.row.number, &r.key),
    )?;
    if !quiet {
        checked.warn_cells(&args.inputs.data);
        checked.print_invalid(&mut std::io::stderr().lock())?;
    }
    checked.refuse_if_strict(args.strict, &args.inputs.data)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    tally.check_out(&args.out)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let command = engine::command_line();
    runtime.block_on(run_async(
        args,
        prepared,
        columns,
        (checked, tally),
        command,
        quiet,
    ))
}

/// The webhook receiver of a run: bound, with its public base URL.
struct Webhooks {
    listener: tokio::net::TcpListener,
    public: String,
}

/// Binds `--webhook-listen` and works out the public URL; exit 2 if it cannot be known.
async fn bind_webhooks(args: &RunArgs, client: &Client) -> anyhow::Result<Option<Webhooks>> {
    let Some(addr) = args.webhook_listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| Fatal {
        code: 2,
        message: format!("failed to listen for webhooks on {addr}: {e}; choose another --webhook-listen address"),
    })?;
    let bound = listener
        .local_addr()
        .context("failed to read the webhook receiver's address")?;
    let public = match &args.webhook_url {
        Some(u) => u.clone(),
        None if bound.ip().is_loopback() && is_loopback(client.base_url()) => {
            format!("http://{bound}")
        }
        None => {
            return Err(Fatal {
                code: 2,
                message: format!(
                    "failed to set up webhooks: --webhook-url is required unless both --webhook-listen and --base-url are loopback; give the public URL at which {} can reach this receiver (e.g. https://hooks.example.com)",
                    origin(client.base_url())
                ),
            }
            .into());
        }
    };
    Ok(Some(Webhooks { listener, public }))
}

async fn run_async(
    args: RunArgs,
    prepared: crate::cmd::render::Prepared,
    columns: Vec<String>,
    (checked, tally): (report::RowReport, Tally),
    command: Vec<String>,
    quiet: bool,
) -> anyhow::Result<Outcome> {
    let rows = checked.rows;
    let invalid = (checked.shown(), checked.invalid);
    // Where to, and as whom.
    let sandbox = if args.sandbox {
        Some(start_run_sandbox(&args, quiet).await?)
    } else {
        None
    };
    let client = args.api.client(sandbox.as_ref())?;
    let webhooks = bind_webhooks(&args, &client).await?;

    // The journal: new, or taken over with --resume.
    let (journal, replay) = engine::open_journal(
        JournalSpec {
            kind: RunKind::Run,
            fingerprint: shard::mark(fingerprint(&args, &client)?, tally.shard),
            command: command.clone(),
            rows,
        },
        &args.out,
        args.engine.resume,
        args.sandbox,
        quiet,
    )?;
    let mut extra: Vec<_> = tally.record(&args.out)?.into_iter().collect();
    let tag = journal.header().run_tag().to_owned();

    let mut config = args
        .engine
        .config(&args.out, columns.clone(), Layout::Projects);
    config.manifest_csv = prepared.style;
    // Webhooks: a receiver, a token per row, and polling as a slow safety net.
    let receiver_stop = CancellationToken::new();
    let mut receiver = None;
    if let Some(w) = webhooks {
        let (auth, ephemeral) = WebhookAuth::for_run(journal.header());
        if ephemeral && !quiet {
            eprintln!(
                "note: this journal predates webhook secrets; callbacks for projects sent before this resume cannot be verified and are polled instead"
            );
        }
        let callbacks = Callbacks::new(rows);
        let r = WebhookReceiver::new(auth.clone(), callbacks.clone());
        let interval = args.engine.poll_interval.max(args.webhook_poll_interval);
        config.poll = PollConfig::safety_net(interval, args.webhook_poll_cap.max(interval));
        config.callbacks = Some(callbacks);
        if !quiet {
            eprintln!(
                "webhooks: receiving on {} (the vendor calls {}/batchgen/v1/{tag}/<row> with a per-row token); safety-net polls from {}s after each submission",
                w.listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                w.public,
                config.poll.interval.as_secs()
            );
        }
        let server = tokio::spawn(r.clone().serve(w.listener, receiver_stop.clone()));
        receiver = Some((r, server));
        config.webhook_urls = Some(WebhookUrls {
            auth,
            public_base: w.public,
        });
    }
    let journal = Arc::new(journal);
    let budget = Arc::new(Budget::with_setting(args.engine.rate, args.engine.max_rate));
    let engine = Engine::new(config, client, budget, Arc::clone(&journal), replay);
    let progress = engine.progress();

    // Ctrl-C / SIGTERM: the first stops the run cleanly, the second exits at once.
    let shutdown = CancellationToken::new();
    let resume_hint = engine::resume_hint(&command, args.sandbox);
    tokio::spawn(engine::watch_signals(shutdown.clone(), resume_hint.clone()));

    // The renderer, on its own thread, in input order.
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL);
    let template = prepared.template;
    let reader = prepared.rows;
    let sharding = tally.shard;
    let renderer = std::thread::spawn(move || {
        let width = columns.len();
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
        render_stream(&template, reader, &mut sink)
    });

    let display = crate::progress::Display::start(progress, rows, quiet);
    let report = engine.run(rx, shutdown.clone()).await;
    display.finish().await;
    let rendered = renderer
        .join()
        .map_err(|_| anyhow::anyhow!("the renderer panicked"))?;
    if let Some((r, server)) = receiver {
        receiver_stop.cancel();
        // Callbacks still arriving only find ended rows; do not wait long for idle connections.
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        extra.push(("webhooks", serde_json::to_value(r.stats())?));
    }
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }
    let report = report?;
    if let Err(batchgen_core::RenderError::Input(e)) = rendered {
        // Rows before the bad one were run and are in the manifest.
        return Err(anyhow::Error::new(e).context("the CSV could not be read to the end"));
    }
    if let (Some(line), false) = (tally.summary_line(), quiet) {
        eprintln!("{line}");
    }
    engine::finish(
        Summary {
            data: &args.inputs.data,
            out: &args.out,
            engine: &args.engine,
            extra,
            invalid: (&invalid.0, invalid.1),
        },
        &report,
        &resume_hint,
        quiet,
    )
}

/// The engine stopped taking rows.
#[derive(Debug)]
struct Stop;

/// What decides the projects and where they go. Rate, concurrency, polling and webhooks may
/// change on resume.
fn fingerprint(args: &RunArgs, client: &Client) -> anyhow::Result<Fingerprint> {
    let read = |what: &str, p: &Path| {
        std::fs::read(p).with_context(|| format!("cannot read the {what} {}", p.display()))
    };
    let mut fp = Fingerprint::new()
        .bytes("data", &read("CSV", &args.inputs.data)?)
        .bytes("template", &read("template", &args.inputs.template)?)
        .text(
            "key",
            args.inputs.key.clone().unwrap_or_else(|| "row-N".into()),
        )
        .text("base_url", origin(client.base_url()));
    fp = match &args.inputs.patch {
        Some(p) => fp.bytes("patch", &read("patch", p)?),
        None => fp.text("patch", "none"),
    };
    Ok(fp)
}

async fn start_run_sandbox(args: &RunArgs, quiet: bool) -> anyhow::Result<Sandbox> {
    let config = SandboxConfig::default()
        .render_time(args.sandbox_render_time.clone())
        .fail_probability(args.sandbox_fail_probability)
        .render_fail_probability(args.sandbox_render_fail_probability);
    start_sandbox(config, quiet).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls() {
        assert_eq!(
            parse_public_url("https://hooks.example.com/in/").unwrap(),
            "https://hooks.example.com/in"
        );
        for bad in [
            "hooks.example.com",
            "ftp://x",
            "https://h/?a=1",
            "https://u:p@h",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
