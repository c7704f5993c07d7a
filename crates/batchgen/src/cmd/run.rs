//! `batchgen run`: render every row, submit each valid project under one request budget,
//! follow every render, download the videos if asked, and leave a journal and a manifest.
//!
//! This file only wires: the core renders (on a blocking thread, in input order) and feeds the
//! engine a bounded channel of jobs; the engine (`batchgen-dispatch`) does the rest; the display
//! (`crate::progress`) shows it. Exit codes: 0 all ready; 3 some invalid or failed; 4 the API
//! refused the credentials; 130 interrupted; 2 unusable input, an existing journal without
//! `--resume`, or a journal from other inputs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use batchgen_aistudios::{Client, ClientConfig, Credentials, GLOBAL_BASE_URL, Secret};
use batchgen_core::{RenderedRow, file_stem, render_stream};
use batchgen_dispatch::journal::{Fingerprint, Journal, JournalError, Opened};
use batchgen_dispatch::poll::PollConfig;
use batchgen_dispatch::retry::Backoff;
use batchgen_dispatch::{Budget, End, Engine, EngineConfig, JobInput, Rate, Report};
use batchgen_sandbox::{Sandbox, SandboxConfig, parse_duration, parse_duration_range, parse_rate};
use clap::Args;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::cmd::render::{Inputs, prepare};
use crate::exit::{Fatal, Outcome};

/// `batchgen run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// Output directory: journal.jsonl, manifest.csv, manifest.jsonl, videos/.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The API host (https://app.aistudios.cn for China, or a sandbox's URL).
    #[arg(long, value_name = "URL", default_value = GLOBAL_BASE_URL)]
    pub base_url: String,
    /// Read the API key from this file instead of AISTUDIOS_API_KEY.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Authenticate with an AppId (and --user-key-file or AISTUDIOS_USER_KEY) for a 24 h token.
    #[arg(
        long,
        value_name = "ID",
        env = "AISTUDIOS_APP_ID",
        hide_env_values = true
    )]
    pub app_id: Option<String>,
    /// File holding the UserKey that goes with --app-id.
    #[arg(long, value_name = "FILE")]
    pub user_key_file: Option<PathBuf>,
    /// Request budget for all API calls together: N per second, or N/min.
    #[arg(long, value_name = "N|N/min", default_value = "5")]
    pub rate: Rate,
    /// Renders in progress at once.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub max_in_flight: usize,
    /// Attempts per request (the first included) for retryable errors.
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
    /// Wait before the first poll of a render; later waits grow from it.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Longest wait between two polls of one render.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub poll_cap: Duration,
    /// A render not finished this long after its submission fails (--resume follows it again).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub render_timeout: Duration,
    /// Download every finished video to DIR/videos/<key>.mp4.
    #[arg(long)]
    pub download: bool,
    /// Downloads at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub download_concurrency: usize,
    /// Continue the run whose journal is in DIR.
    #[arg(long)]
    pub resume: bool,
    /// With --resume, also re-attempt rows that failed for good (refused, or a failed render).
    #[arg(long)]
    pub retry_failed: bool,
    /// Run against a sandbox started in this process (no account needed; cannot be resumed).
    #[arg(long, conflicts_with_all = ["base_url", "api_key_file", "app_id", "user_key_file"])]
    pub sandbox: bool,
    /// With --sandbox: how long renders take.
    #[arg(long, value_name = "A..B", default_value = "1s..3s", value_parser = parse_duration_range, requires = "sandbox")]
    pub sandbox_render_time: std::ops::Range<Duration>,
    /// With --sandbox: share of API calls answered 500.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_rate, requires = "sandbox")]
    pub sandbox_fail_rate: f64,
    /// With --sandbox: share of renders that fail.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_rate, requires = "sandbox")]
    pub sandbox_render_fail_rate: f64,
    /// Also write the final summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
}

/// Rows between the renderer and the engine.
const CHANNEL: usize = 256;

pub fn run(args: RunArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let prepared = prepare(&args.inputs, quiet)?;
    let columns: Vec<String> = prepared.template.header().names().to_vec();
    let rows = count_rows(&args.inputs.data)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let command = command_line(&args);
    runtime.block_on(run_async(args, prepared, columns, rows, command, quiet))
}

async fn run_async(
    args: RunArgs,
    prepared: crate::cmd::render::Prepared,
    columns: Vec<String>,
    rows: u64,
    command: Vec<String>,
    quiet: bool,
) -> anyhow::Result<Outcome> {
    // Where to, and as whom.
    let sandbox = if args.sandbox {
        Some(start_sandbox(&args, quiet).await?)
    } else {
        None
    };
    let (base_url, credentials) = match &sandbox {
        Some(sb) => (
            sb.base_url(),
            Credentials::ApiKey(Secret::new(sb.api_key().to_owned())),
        ),
        None => (args.base_url.clone(), credentials(&args)?),
    };
    let client = Client::new(ClientConfig::new(credentials).base_url(base_url.as_str()))
        .map_err(|e| anyhow::anyhow!("failed to {e}"))?;

    // The journal: new, or taken over with --resume.
    let fingerprint = fingerprint(&args, &client)?;
    let (journal, replay) = match Journal::open(
        &args.out,
        fingerprint,
        command.clone(),
        Some(rows),
        args.resume,
    ) {
        Ok(Opened::New(j)) => {
            if args.resume && !quiet {
                eprintln!(
                    "note: no journal in {}; starting a new run",
                    args.out.display()
                );
            }
            (j, None)
        }
        Ok(Opened::Resumed(j, r)) => (j, Some(*r)),
        Err(e) => return Err(journal_error(e, args.sandbox)),
    };
    let tag = journal.header().run_tag().to_owned();
    let journal = Arc::new(journal);

    let config = EngineConfig {
        max_in_flight: args.max_in_flight.max(1),
        backoff: Backoff {
            max_attempts: args.max_attempts,
            ..Backoff::default()
        },
        poll: PollConfig {
            interval: args.poll_interval,
            cap: args.poll_cap,
        },
        render_timeout: args.render_timeout,
        download: args.download.then_some(args.download_concurrency.max(1)),
        retry_failed: args.retry_failed,
        ..EngineConfig::new(&args.out, columns.clone())
    };
    let budget = Arc::new(Budget::new(args.rate));
    let engine = Engine::new(config, client, budget, Arc::clone(&journal), replay);
    let progress = engine.progress();

    // Ctrl-C / SIGTERM: the first stops the run cleanly, the second exits at once.
    let shutdown = CancellationToken::new();
    let resume_hint = resume_hint(&command, args.sandbox);
    tokio::spawn(watch_signals(shutdown.clone(), resume_hint.clone()));

    // The renderer, on its own thread, in input order.
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL);
    let template = prepared.template;
    let reader = prepared.rows;
    let renderer = std::thread::spawn(move || {
        let width = columns.len();
        let mut sink = |r: RenderedRow| -> Result<(), Stop> {
            let inputs: Vec<String> = (0..width).map(|i| r.row.cell(i).to_owned()).collect();
            let input = match r.outcome {
                Ok(body) => match name_project(&body, &r.key, &tag) {
                    Ok((name, body)) => JobInput::project(
                        r.row.number,
                        r.key.clone(),
                        name,
                        file_stem(&r.key),
                        body,
                        inputs,
                    ),
                    Err(e) => JobInput::Invalid {
                        row: r.row.number,
                        key: r.key,
                        error: format!("the rendered project is not a JSON object: {e}"),
                        inputs,
                    },
                },
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
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }
    let report = report?;
    if let Err(batchgen_core::RenderError::Input(e)) = rendered {
        // Rows before the bad one were run and are in the manifest.
        return Err(anyhow::Error::new(e).context("the CSV could not be read to the end"));
    }
    finish(&args, &report, &resume_hint, quiet)
}

/// The engine stopped taking rows.
#[derive(Debug)]
struct Stop;

/// Sets the project's name to `<its name or "batchgen"> [<key>] #<run tag>` so a project whose
/// create answer is lost can be found by name, and never one from another run.
fn name_project(body: &[u8], key: &str, tag: &str) -> Result<(String, Vec<u8>), serde_json::Error> {
    let mut project: serde_json::Map<String, Value> = serde_json::from_slice(body)?;
    let base = project
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("batchgen");
    let name = format!("{base} [{key}] #{tag}");
    project.insert("name".into(), Value::String(name.clone()));
    Ok((name, serde_json::to_vec(&project)?))
}

fn credentials(args: &RunArgs) -> anyhow::Result<Credentials> {
    if let Some(file) = &args.api_key_file {
        return Credentials::from_key_file(file).map_err(|e| anyhow::anyhow!("failed to {e}"));
    }
    if let Some(app_id) = &args.app_id {
        let user_key = match &args.user_key_file {
            Some(f) => {
                match Credentials::from_key_file(f).map_err(|e| anyhow::anyhow!("failed to {e}"))? {
                    Credentials::ApiKey(k) => k,
                    Credentials::App { user_key, .. } => user_key,
                }
            }
            None => Secret::new(
                std::env::var(batchgen_aistudios::ENV_USER_KEY)
                    .ok()
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "failed to find the user key: --app-id needs --user-key-file or {}",
                            batchgen_aistudios::ENV_USER_KEY
                        )
                    })?,
            ),
        };
        return Ok(Credentials::App {
            app_id: app_id.clone(),
            user_key,
        });
    }
    Credentials::from_env().map_err(|e| {
        anyhow::anyhow!(
            "failed to {e}; or try the whole run against a local sandbox with --sandbox"
        )
    })
}

/// What decides the projects and where they go. Rate, concurrency and polling may change.
fn fingerprint(args: &RunArgs, client: &Client) -> anyhow::Result<Fingerprint> {
    let read = |what: &str, p: &Path| {
        std::fs::read(p).with_context(|| format!("cannot read the {what} {}", p.display()))
    };
    let url = client.base_url();
    let origin = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default()
            .map(|p| format!(":{p}"))
            .unwrap_or_default()
    );
    let mut fp = Fingerprint::new()
        .bytes("data", &read("CSV", &args.inputs.data)?)
        .bytes("template", &read("template", &args.inputs.template)?)
        .text(
            "key",
            args.inputs.key.clone().unwrap_or_else(|| "row-N".into()),
        )
        .text("base_url", origin);
    fp = match &args.inputs.patch {
        Some(p) => fp.bytes("patch", &read("patch", p)?),
        None => fp.text("patch", "none"),
    };
    Ok(fp)
}

fn journal_error(e: JournalError, sandbox: bool) -> anyhow::Error {
    let mut message = format!("failed to {e}");
    if sandbox && matches!(e, JournalError::Mismatch { .. }) {
        message.push_str(
            " (a --sandbox run cannot be resumed: each one talks to a new sandbox on a new port)",
        );
    }
    anyhow::Error::new(Fatal { code: 2, message })
}

async fn start_sandbox(args: &RunArgs, quiet: bool) -> anyhow::Result<Sandbox> {
    // The key only has to be unguessable for this process's lifetime.
    let key: [u8; 16] = rand::random();
    let key: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let sb = SandboxConfig::default()
        .api_key(format!("sbx-{key}"))
        .render_time(args.sandbox_render_time.clone())
        .fail_rate(args.sandbox_fail_rate)
        .render_fail_rate(args.sandbox_render_fail_rate)
        .start("127.0.0.1:0".parse().expect("a valid address"))
        .await
        .context("failed to start the sandbox")?;
    if !quiet {
        eprintln!(
            "sandbox: running against a local AI Studios emulator at {} with a generated key (nothing leaves this machine)",
            sb.base_url()
        );
    }
    Ok(sb)
}

/// Rows in the CSV (for the display's total and ETA, and the journal header).
fn count_rows(path: &Path) -> anyhow::Result<u64> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut record = csv::ByteRecord::new();
    let mut n = 0u64;
    while reader.read_byte_record(&mut record).unwrap_or(false) {
        if !(record.len() == 1 && record[0].is_empty()) {
            n += 1;
        }
    }
    Ok(n)
}

/// The command line as given (it holds no secret: keys come from the environment or files).
fn command_line(_args: &RunArgs) -> Vec<String> {
    std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// What to tell the user to run to continue.
fn resume_hint(command: &[String], sandbox: bool) -> String {
    if sandbox {
        return "a --sandbox run cannot be resumed (its sandbox ends with this process); run it again with a new --out".into();
    }
    let mut words: Vec<String> = command.to_vec();
    if !words.iter().any(|w| w == "--resume") {
        words.push("--resume".into());
    }
    format!(
        "resume with: {}",
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Quotes a word for a POSIX shell (only when needed).
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

async fn watch_signals(shutdown: CancellationToken, hint: String) {
    let mut count = 0;
    loop {
        wait_signal().await;
        count += 1;
        if count == 1 {
            eprintln!(
                "\ninterrupted: finishing the requests in flight, then stopping (Ctrl-C again to exit at once)"
            );
            shutdown.cancel();
        } else {
            eprintln!("\nexiting at once; the journal is consistent\n{hint}");
            std::process::exit(130);
        }
    }
}

#[cfg(unix)]
async fn wait_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(unix))]
async fn wait_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Prints the summary, writes --summary-json, picks the exit code.
fn finish(args: &RunArgs, report: &Report, hint: &str, quiet: bool) -> anyhow::Result<Outcome> {
    let s = &report.statuses;
    let p = &report.progress;
    let (outcome, word) = match &report.end {
        End::AuthRefused { .. } => (Outcome::AuthRefused, "auth_refused"),
        End::Interrupted => (Outcome::Interrupted, "interrupted"),
        End::Finished if s.failed + s.invalid + s.pending > 0 => {
            (Outcome::SomeRowsFailed, "finished")
        }
        End::Finished => (Outcome::Success, "finished"),
    };
    if let Some(path) = &args.summary_json {
        let failures: Vec<Value> = report
            .failures
            .iter()
            .map(|(row, key, error)| serde_json::json!({"row": row, "key": key, "error": error}))
            .collect();
        let summary = serde_json::json!({
            "outcome": word,
            "exit_code": outcome.code(),
            "out": args.out,
            "statuses": s,
            "progress": p,
            "requests_per_row": if p.rows > 0 { p.requests as f64 / p.rows as f64 } else { 0.0 },
            "rate": args.rate.to_string(),
            "peak_requests_per_window": report.peak_per_window,
            "failures": failures,
        });
        let text = serde_json::to_vec_pretty(&summary)?;
        batchgen_dispatch::manifest::write_atomic(path, |w| w.write_all(&text))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let End::AuthRefused { message } = &report.end {
        eprintln!(
            "error: failed to {message}\nthe run stopped at the first refusal; nothing more was sent. Fix the key and run the same command with --resume"
        );
    }
    if !quiet {
        for (row, key, error) in report.failures.iter().take(10) {
            eprintln!("failed: row {row} ({key}): {error}");
        }
        if report.failures.len() > 10 {
            eprintln!(
                "... and {} more failed rows: see {}",
                report.failures.len() - 10,
                args.out.join("manifest.csv").display()
            );
        }
        eprintln!(
            "{}: {} ready, {} failed, {} invalid, {} pending; {} requests ({:.1}/s) in {:.1}s; manifest: {}",
            args.inputs.data.display(),
            s.ready,
            s.failed,
            s.invalid,
            s.pending,
            p.requests,
            p.requests_per_second(),
            p.elapsed.as_secs_f64(),
            args.out.join("manifest.csv").display()
        );
    }
    if report.end == End::Interrupted {
        // Printed even with --quiet: it is the one thing the user needs next.
        eprintln!("{hint}");
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_key_and_run_tag() {
        let (name, body) =
            name_project(br#"{"name":"Promo","scenes":[]}"#, "C1", "abc123").unwrap();
        assert_eq!(name, "Promo [C1] #abc123");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"name":"Promo [C1] #abc123","scenes":[]}"#
        );
        let (name, _) = name_project(br#"{"scenes":[]}"#, "row-2", "abc123").unwrap();
        assert_eq!(name, "batchgen [row-2] #abc123");
        assert!(name_project(b"[1]", "k", "t").is_err());
    }

    #[test]
    fn resume_hints_quote_for_a_shell() {
        let cmd: Vec<String> = ["batchgen", "run", "my data.csv", "t.json", "--out", "o'ut"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            resume_hint(&cmd, false),
            r"resume with: batchgen run 'my data.csv' t.json --out 'o'\''ut' --resume"
        );
        assert!(resume_hint(&cmd, true).contains("cannot be resumed"));
    }
}
