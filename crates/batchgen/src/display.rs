//! The run's display: an `indicatif` bar on a terminal, plain periodic lines otherwise
//! (pipelines, CI logs), nothing with `--quiet`. It only reads the engine's counters.

use std::io::IsTerminal;
use std::time::Duration;

use batchgen_dispatch::{ProgressHandle, Snapshot};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;

/// How often plain lines are printed when stderr is not a terminal; `BATCHGEN_PROGRESS_EVERY`
/// (e.g. `2s`) overrides it.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// A running display; [`Display::finish`] stops it.
pub struct Display {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Display {
    /// Starts showing `progress` for a run of `total` rows.
    pub fn start(progress: ProgressHandle, total: u64, quiet: bool) -> Display {
        if quiet {
            return Display {
                stop: None,
                task: None,
            };
        }
        let (tx, rx) = oneshot::channel();
        let task = if std::io::stderr().is_terminal() {
            tokio::spawn(bar(progress, total, rx))
        } else {
            let every = std::env::var("BATCHGEN_PROGRESS_EVERY")
                .ok()
                .and_then(|v| humantime::parse_duration(&v).ok())
                .filter(|d| !d.is_zero())
                .unwrap_or(LINE_EVERY);
            tokio::spawn(lines(progress, total, every, rx))
        };
        Display {
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the display (the bar is cleared; the summary follows).
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// One line of counts: `ready 12 · failed 1 · invalid 2 · rendering 20 · submitting 3 · 4.9 req/s · eta 1m05s`.
pub fn describe(s: &Snapshot, total: u64) -> String {
    let mut text = format!(
        "ready {} · failed {} · invalid {} · rendering {} · submitting {}",
        s.ready, s.failed, s.invalid, s.rendering, s.submitting
    );
    if s.downloading > 0 || s.downloaded > 0 {
        text.push_str(&format!(" · downloaded {}", s.downloaded));
    }
    text.push_str(&format!(" · {:.1} req/s", s.requests_per_second()));
    if let Some(eta) = eta(s, total) {
        text.push_str(&format!(" · eta {}", human(eta)));
    }
    text
}

/// Time left at the pace of rows finished in this run so far.
fn eta(s: &Snapshot, total: u64) -> Option<Duration> {
    let done_here = s.done().saturating_sub(s.skipped);
    let left = total.saturating_sub(s.done());
    if done_here == 0 || left == 0 {
        return None;
    }
    let per_row = s.elapsed.as_secs_f64() / done_here as f64;
    Some(Duration::from_secs_f64(per_row * left as f64))
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

async fn bar(progress: ProgressHandle, total: u64, mut stop: oneshot::Receiver<()>) {
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        let s = progress.snapshot();
        pb.set_position(s.done());
        pb.set_message(describe(&s, total));
    }
    pb.finish_and_clear();
}

async fn lines(
    progress: ProgressHandle,
    total: u64,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        let s = progress.snapshot();
        eprintln!(
            "progress: {}/{} done · {}",
            s.done(),
            total,
            describe(&s, total)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_well_and_estimate_time_left() {
        let s = Snapshot {
            ready: 40,
            failed: 5,
            invalid: 5,
            rendering: 10,
            requests: 100,
            elapsed: Duration::from_secs(20),
            ..Snapshot::default()
        };
        assert_eq!(
            describe(&s, 100),
            "ready 40 · failed 5 · invalid 5 · rendering 10 · submitting 0 · 5.0 req/s · eta 20s"
        );
        assert_eq!(human(Duration::from_secs(3725)), "1h02m");
        assert_eq!(human(Duration::from_secs(65)), "1m05s");
    }
}
