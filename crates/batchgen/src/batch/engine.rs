//! The pieces the driver ([`super::drive`]) is made of: the engine's flags, opening the
//! journal, Ctrl-C, the printed resume command, and the summary with its exit code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::IoAction as _;
use batchgen_dispatch::budget::RateSetting;
use batchgen_dispatch::journal::{Fingerprint, Journal, JournalError, Opened, Replay, RunKind};
use batchgen_dispatch::lookup::LookupSchedule;
use batchgen_dispatch::manifest::Layout;
use batchgen_dispatch::poll::PollConfig;
use batchgen_dispatch::retry::Backoff;
use batchgen_dispatch::{End, EngineConfig, Report};
use clap::Args;
use humantime::parse_duration;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::exit::Outcome;
use crate::output::{Level, paint, say_row};

/// The engine's flags: budget, concurrency, retries, polling, downloads, resume, summary.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Request budget for all API calls together: auto (find the key's limit and stay just
    /// under it), or a fixed N per second, or N/min.
    #[arg(long, value_name = "auto|N|N/min", default_value = "auto")]
    pub rate: RateSetting,
    /// With --rate auto, never more than N requests per second.
    #[arg(long, value_name = "N", value_parser = positive_rate)]
    pub max_rate: Option<f64>,
    /// Share the request budget with every worker using the same API key through this Redis
    /// (redis://[:password@]host[:port][/db]): one --rate (or one adaptive rate) for all of
    /// them, and a 429 seen by one pauses all. Without Redis nothing is sent (exit 5).
    #[arg(long, value_name = "URL")]
    pub shared_budget: Option<String>,
    /// Renders in progress at once, at most; lowered while the API refuses creates for
    /// renders in progress, raised again slowly.
    #[arg(long, value_name = "N", default_value_t = 500)]
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
    /// Continue the run whose journal is in DIR. Every run does: the same command continues
    /// (accepted for scripts written before that).
    #[arg(long)]
    pub resume: bool,
    /// Also re-attempt rows that failed for good in an earlier run (refused, or a failed render).
    #[arg(long)]
    pub retry_failed: bool,
    /// Make again the rows whose project changed since an earlier run although they have a
    /// video or are rendering (one new project each); without it they keep what they have and
    /// the manifest marks them changed.
    #[arg(long)]
    pub rerender_changed: bool,
    /// Also write the final summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Send rows an earlier run left `unknown` again (a create whose answer was lost, which
    /// could not be looked up): their first project, if it exists, may be paid for twice.
    #[arg(long)]
    pub resubmit_unknown: bool,
    /// After a create whose answer was lost, how long to keep looking for the project it may
    /// have made before sending it again (the vendor lists a project only once rendered).
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub lookup_window: Duration,
    /// Keep the run's state in PostgreSQL instead of DIR/journal.jsonl
    /// (postgres://user:password@host:port/db): several processes given the same inputs and
    /// store work on one run together. Best given through BATCHGEN_STORE, so the password is
    /// not on the command line (it is never printed or stored either way).
    #[arg(
        long,
        value_name = "URL",
        env = "BATCHGEN_STORE",
        hide_env_values = true
    )]
    pub store: Option<StoreArg>,
    /// With --store: the run's name in the store (default: the output directory's name, so
    /// the same command continues the same run however the CSV changes).
    #[arg(long, value_name = "NAME", requires = "store")]
    pub run: Option<String>,
    /// With --store: how long a worker's claim on a row lasts without renewal (it renews
    /// every third of it); a worker that dies leaves its rows to the others after this.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub lease: Duration,
}

/// `--store`'s text as given: never shown whole (its `Debug` hides the password), and never
/// refused by the command-line parser (whose message would quote it); read with
/// [`StoreArg::url`].
#[derive(Clone)]
pub struct StoreArg(String);

impl std::str::FromStr for StoreArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<StoreArg, Self::Err> {
        Ok(StoreArg(s.to_owned()))
    }
}

impl std::fmt::Debug for StoreArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreArg({})", batchgen_store::redact(&self.0))
    }
}

impl StoreArg {
    /// The URL, read (a bad one exits 2, its password not shown).
    pub fn url(&self) -> crate::error::Result<batchgen_store::StoreUrl> {
        batchgen_store::StoreUrl::parse(&self.0)
            .map_err(|message| Error::Usage(format!("failed to {message}")))
    }
}

/// The file in a `--store` run's output directory that says where its state is:
/// `{"store": "<URL, password redacted>", "run": "<name>"}`.
pub const STORE_FILE: &str = "store.json";

/// What `DIR/store.json` says: the store (redacted) and the run's name, if the file is there.
pub fn store_pointer(dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read(dir.join(STORE_FILE)).ok()?;
    let v: Value = serde_json::from_slice(&text).ok()?;
    Some((
        v["store"].as_str()?.to_owned(),
        v["run"].as_str()?.to_owned(),
    ))
}

/// The run's name in the store: `--run`, or the output directory's name.
pub fn run_name(run: Option<&str>, out: &Path) -> crate::error::Result<String> {
    if let Some(r) = run {
        if r.trim().is_empty() {
            return Err(Error::Usage(
                "failed to name the run: --run is empty; give a name such as the CSV's".into(),
            ));
        }
        return Ok(r.to_owned());
    }
    let name = std::path::absolute(out)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| !n.is_empty());
    name.ok_or_else(|| {
        Error::Usage(format!(
            "failed to name the run: {} has no name to use; give --run NAME",
            out.display()
        ))
    })
}

impl EngineArgs {
    /// The engine's configuration for output directory `out` and input `columns`.
    pub fn config(&self, out: &Path, columns: Vec<String>, layout: Layout) -> EngineConfig {
        EngineConfig {
            max_in_flight: self.max_in_flight.max(1),
            backoff: Backoff {
                max_attempts: self.max_attempts,
                ..Backoff::default()
            },
            poll: PollConfig {
                interval: self.poll_interval,
                cap: self.poll_cap,
                ..PollConfig::default()
            },
            render_timeout: self.render_timeout,
            download: self.download.then_some(self.download_concurrency.max(1)),
            retry_failed: self.retry_failed,
            rerender_changed: self.rerender_changed,
            resubmit_unknown: self.resubmit_unknown,
            lookup: LookupSchedule {
                window: self.lookup_window,
                ..LookupSchedule::default()
            },
            layout,
            ..EngineConfig::new(out, columns)
        }
    }
}

/// What a new journal's header records.
pub struct JournalSpec {
    /// The command writing it.
    pub kind: RunKind,
    /// What decides the run's remote objects.
    pub fingerprint: Fingerprint,
    /// The command line.
    pub command: Vec<String>,
    /// Rows in the input.
    pub rows: u64,
}

/// Opens the journal in `out`: new, or the one there taken over (the same command continues
/// the run in its directory, a `--sandbox` run too). Refusals (another API, account or key
/// column; the other command's journal) exit 2. `quiet`: no note that there was no journal.
pub fn open_journal(
    spec: JournalSpec,
    out: &Path,
    sandbox: bool,
    quiet: bool,
) -> crate::error::Result<(Journal, Option<Replay>)> {
    let JournalSpec {
        kind,
        fingerprint,
        command,
        rows,
    } = spec;
    let given = fingerprint.clone();
    match Journal::open_as(kind, out, fingerprint, command, Some(rows), true) {
        Ok(Opened::New(j)) => {
            if !quiet {
                crate::output::say!("note: no journal in {}; starting a new run", out.display());
            }
            Ok((j, None))
        }
        Ok(Opened::Resumed(j, r)) => Ok((j, Some(*r))),
        Err(e) => Err(journal_error(e, sandbox, &given)),
    }
}

fn journal_error(e: JournalError, sandbox: bool, given: &Fingerprint) -> Error {
    match e {
        JournalError::Mismatch {
            ref path,
            ref changed,
        } if !sandbox && changed.iter().any(|c| c == "account") => {
            Error::Usage(account_changed(path, given))
        }
        // A run against another API, or an earlier version's --sandbox run (which recorded its
        // emulator's port and key).
        JournalError::Mismatch { ref changed, .. }
            if sandbox && changed.iter().any(|c| c == "base_url" || c == "account") =>
        {
            Error::SandboxResume(e)
        }
        e => Error::Journal(e),
    }
}

/// Why a run directory refuses other credentials, naming both accounts by their tags (never a
/// key), and what to do.
fn account_changed(path: &Path, given: &Fingerprint) -> String {
    let recorded = batchgen_dispatch::journal::Replay::read(path)
        .ok()
        .and_then(|r| r.header.fingerprint.get("account").map(str::to_owned))
        .unwrap_or_else(|| "another account".into());
    let now = given.get("account").unwrap_or("these credentials");
    format!(
        "failed to continue the run in {}: it was started as {recorded} and these credentials are {now} (an app id, or a short hash of the API key, never the key itself); its projects belong to that account, so this one could neither follow nor find them and would pay for every row again. Run with the credentials the run was started with, or choose another --out for this account (a new key of the same account reads as another account: the API cannot tell)",
        path.parent().unwrap_or(path).display()
    )
}

/// The command line as given, with the password of any URL in it (`--store`) redacted (it
/// holds no other secret: keys come from the environment or files, and webhook tokens are made
/// per row, never passed).
pub fn command_line() -> Vec<String> {
    std::env::args_os()
        .map(|a| batchgen_store::redact(&a.to_string_lossy()))
        .collect()
}

/// What to tell the user to run to continue (a `--sandbox` run too: its new emulator makes
/// again what the old one had in progress).
pub fn resume_hint(command: &[String]) -> String {
    let mut words: Vec<String> = command.to_vec();
    if !words.iter().any(|w| w == "--resume") {
        words.push("--resume".into());
    }
    let line = words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    if words.iter().any(|w| w.contains(":***@")) {
        // The recorded command has the store URL's password redacted.
        return format!(
            "resume with: {line}\n(the store URL's password is not shown: put its password back, or set BATCHGEN_STORE to the URL and drop --store)"
        );
    }
    format!("resume with: {line}")
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

/// Ctrl-C / SIGTERM: the first cancels `shutdown` (the run stops cleanly), the second exits
/// at once after printing `hint`.
pub async fn watch_signals(shutdown: CancellationToken, hint: String) {
    let mut count = 0;
    loop {
        wait_signal().await;
        count += 1;
        if count == 1 {
            crate::output::say!(
                "\ninterrupted: finishing the requests in flight, then stopping (Ctrl-C again to exit at once)"
            );
            shutdown.cancel();
        } else {
            crate::output::say!("\nexiting at once; the journal is consistent\n{hint}");
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

/// What the summary is about.
pub struct Summary<'a> {
    /// The input CSV.
    pub data: &'a Path,
    /// The output directory.
    pub out: &'a Path,
    /// The engine's flags (rate, --summary-json).
    pub engine: &'a EngineArgs,
    /// Fields the command adds to the JSON summary (e.g. `webhooks`).
    pub extra: Vec<(&'static str, Value)>,
    /// Invalid rows to show (row, key, error), and how many there are in all.
    pub invalid: (&'a [(u64, String, String)], u64),
}

/// Prints the summary, writes --summary-json, picks the exit code.
pub fn finish(
    summary: Summary<'_>,
    report: &Report,
    hint: &str,
    quiet: bool,
) -> crate::error::Result<Outcome> {
    let s = &report.statuses;
    let p = &report.progress;
    let (outcome, word) = match &report.end {
        End::AuthRefused { .. } => (Outcome::AuthRefused, "auth_refused"),
        End::Unreachable { .. } => (Outcome::SomeRowsFailed, "unreachable"),
        End::BudgetLost { .. } => (Outcome::BudgetLost, "budget_lost"),
        End::Interrupted => (Outcome::Interrupted, "interrupted"),
        End::Finished if s.failed + s.invalid + s.pending + s.unknown > 0 => {
            (Outcome::SomeRowsFailed, "finished")
        }
        End::Finished => (Outcome::Success, "finished"),
    };
    let manifest = summary.out.join("manifest.csv");
    if let Some(path) = &summary.engine.summary_json {
        let failures: Vec<Value> = report
            .failures
            .iter()
            .map(|(row, key, error)| serde_json::json!({"row": row, "key": key, "error": error}))
            .collect();
        let mut json = serde_json::json!({
            "outcome": word,
            "exit_code": outcome.code(),
            "out": summary.out,
            "statuses": s,
            "progress": p,
            "requests_per_row": if p.rows > 0 { p.requests as f64 / p.rows as f64 } else { 0.0 },
            "rate": summary.engine.rate.to_string(),
            "peak_requests_per_window": report.peak_per_window,
            "failures": failures,
            "unknown": report.unknowns.iter().map(|(row, key, error)| serde_json::json!({"row": row, "key": key, "error": error})).collect::<Vec<Value>>(),
        });
        for (k, v) in summary.extra {
            json[k] = v;
        }
        let text = serde_json::to_vec_pretty(&json).expect("JSON values serialise");
        batchgen_dispatch::manifest::write_atomic(path, |w| w.write_all(&text))
            .action(|| format!("write {}", path.display()))?;
    }
    if let End::AuthRefused { message } = &report.end {
        crate::output::say!(
            "error: failed to {message}\nthe run stopped at the first refusal; nothing more was sent. Fix the key and run the same command with --resume"
        );
    }
    // With -q, what went wrong and the final line are still printed when the exit is not 0.
    if !quiet || outcome != Outcome::Success {
        let (shown, all) = summary.invalid;
        for (row, key, error) in shown {
            say_row(
                Level::Warn,
                "invalid",
                *row,
                key,
                error,
                &format!("invalid: row {row} ({key}): {error}"),
            );
        }
        if all > shown.len() as u64 {
            crate::output::say!(
                "... and {} more invalid rows: see {}",
                all - shown.len() as u64,
                manifest.display()
            );
        }
        for (row, key, error) in report.failures.iter().take(10) {
            say_row(
                Level::Error,
                "failed",
                *row,
                key,
                error,
                &format!("failed: row {row} ({key}): {error}"),
            );
        }
        if report.failures.len() > 10 {
            crate::output::say!(
                "... and {} more failed rows: see {}",
                report.failures.len() - 10,
                manifest.display()
            );
        }
        if let Some(why) = &report.lookups_unavailable {
            crate::output::say!("note: failed to {why}");
        }
        for (row, key, error) in report.unknowns.iter().take(10) {
            say_row(
                Level::Warn,
                "unknown",
                *row,
                key,
                error,
                &format!("unknown: row {row} ({key}): {error}"),
            );
        }
        if report.unknowns.len() > 10 {
            crate::output::say!(
                "... and {} more unknown rows: see {}",
                report.unknowns.len() - 10,
                manifest.display()
            );
        }
        let text = format!(
            "{}: {} ready{}, {}{} failed, {} invalid, {} pending{}{}{};{} {} requests ({:.1}/s) in {:.1}s; manifest: {}",
            summary.data.display(),
            paint(s.ready, console::Style::green),
            if p.kept_ready > 0 {
                format!(
                    " ({} made now, {} from earlier runs)",
                    p.ready_here(),
                    p.kept_ready
                )
            } else {
                String::new()
            },
            if s.draft > 0 {
                format!("{} draft (created, not rendered), ", s.draft)
            } else {
                String::new()
            },
            if s.failed > 0 {
                paint(s.failed, console::Style::red)
            } else {
                s.failed.to_string()
            },
            if s.invalid > 0 {
                paint(s.invalid, console::Style::yellow)
            } else {
                s.invalid.to_string()
            },
            s.pending,
            if s.unknown > 0 {
                format!(", {} unknown", s.unknown)
            } else {
                String::new()
            },
            if s.removed > 0 {
                format!(", {} removed", s.removed)
            } else {
                String::new()
            },
            if s.changed > 0 {
                format!(
                    "; {} changed since they were made (kept; --rerender-changed makes them again)",
                    s.changed
                )
            } else {
                String::new()
            },
            if s.credits > 0 {
                format!(" {} credits (as the vendor reported them);", s.credits)
            } else {
                String::new()
            },
            p.requests,
            p.requests_per_second(),
            p.elapsed.as_secs_f64(),
            manifest.display()
        );
        let mut fields = serde_json::Map::new();
        fields.insert("outcome".into(), word.into());
        fields.insert("exit_code".into(), outcome.code().into());
        fields.insert("out".into(), summary.out.display().to_string().into());
        fields.insert("manifest".into(), manifest.display().to_string().into());
        fields.insert(
            "statuses".into(),
            serde_json::to_value(s).unwrap_or_default(),
        );
        fields.insert("made_now".into(), p.ready_here().into());
        fields.insert("kept_from_earlier_runs".into(), p.skipped.into());
        fields.insert("requests".into(), p.requests.into());
        fields.insert("elapsed_secs".into(), p.elapsed.as_secs_f64().into());
        let level = if outcome == Outcome::Success {
            Level::Info
        } else {
            Level::Warn
        };
        crate::output::say_with(level, "summary", &text, fields);
    }
    if let End::Unreachable { message } = &report.end {
        crate::output::say!(
            "error: failed to {message}\nno request of this run ever reached the API, so it stopped instead of failing every row; nothing was created.\nIf the service was down, resume once it is back (below). If --base-url is wrong, start again with the right one and a new --out (a journal is tied to its base URL; this one holds nothing worth keeping):"
        );
        crate::output::say!("{hint}");
    }
    if let End::BudgetLost { message } = &report.end {
        crate::output::say!(
            "error: failed to {message}\nthe run stopped sending: with --shared-budget it never falls back to a budget of its own. Rows not finished are pending, renders in progress are journaled; nothing was sent twice. Once Redis answers again, continue with the same command:"
        );
        crate::output::say!("{hint}");
    }
    if report.end == End::Interrupted {
        // Printed even with --quiet: it is the one thing the user needs next.
        crate::output::say!("{hint}");
    }
    Ok(outcome)
}

/// `--max-rate`: a number of requests per second above zero.
fn positive_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!(
            "read max rate {s:?}: expected requests per second above 0, like 20 or 2.5"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_hints_quote_for_a_shell() {
        let cmd: Vec<String> = ["batchgen", "run", "my data.csv", "t.json", "--out", "o'ut"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            resume_hint(&cmd),
            r"resume with: batchgen run 'my data.csv' t.json --out 'o'\''ut' --resume"
        );
        let cmd: Vec<String> = [
            "batchgen",
            "run",
            "d.csv",
            "t.json",
            "--store",
            "postgres://u:***@h/db",
        ]
        .map(String::from)
        .to_vec();
        assert!(resume_hint(&cmd).contains("BATCHGEN_STORE"));
    }
}
