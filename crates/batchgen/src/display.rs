//! The run's display: an `indicatif` bar on a terminal, plain periodic lines otherwise
//! (pipelines, CI logs), JSON progress objects with `--log-format json`, nothing with
//! `--quiet`. It only reads the engine's counters.
//!
//! What it shows: `N/T` rows done over the whole run (rows kept from earlier runs of the
//! directory included), the counts by state, videos per minute (made by this process) and an
//! estimate of the time left ([`Eta`]) that waits for evidence and then moves smoothly.
//! Lines logged while the bar is drawn are printed around it ([`crate::output`]).

use std::io::IsTerminal;
use std::time::Duration;

use batchgen_dispatch::{ProgressHandle, Snapshot};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;

use crate::output;

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
        let task = if std::io::stderr().is_terminal() && !output::json() {
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

/// An estimate of the time left that does not swing: none until this process has finished
/// [`Eta::MIN_DONE`] rows and seen [`Eta::MIN_ELAPSED`]; then the pace (rows per second) is an
/// exponentially weighted average with a time constant of [`Eta::TAU`], fed with the pace of
/// each interval between two observations, so one burst of renders ending together moves the
/// estimate a little, not by half.
#[derive(Debug, Default, Clone)]
pub struct Eta {
    last: Option<(Duration, u64)>,
    pace: Option<f64>,
}

impl Eta {
    /// Rows this process must have finished before an estimate is shown.
    pub const MIN_DONE: u64 = 3;
    /// Time that must have passed before an estimate is shown.
    pub const MIN_ELAPSED: Duration = Duration::from_secs(5);
    /// The averaging time constant.
    pub const TAU: Duration = Duration::from_secs(60);

    /// Takes in that `done_here` rows were finished by this process at `elapsed`, with `left`
    /// rows still to finish; the time left, once it can be told.
    pub fn observe(&mut self, elapsed: Duration, done_here: u64, left: u64) -> Option<Duration> {
        match self.last {
            None => {
                // The first pace is the average so far.
                if done_here > 0 && elapsed > Duration::ZERO {
                    self.pace = Some(done_here as f64 / elapsed.as_secs_f64());
                }
            }
            Some((t0, d0)) => {
                let dt = elapsed.saturating_sub(t0).as_secs_f64();
                if dt > 0.0 {
                    let sample = done_here.saturating_sub(d0) as f64 / dt;
                    let weight = 1.0 - (-dt / Self::TAU.as_secs_f64()).exp();
                    self.pace = Some(match self.pace {
                        Some(p) => p + weight * (sample - p),
                        None if done_here > 0 => done_here as f64 / elapsed.as_secs_f64(),
                        None => return None,
                    });
                }
            }
        }
        if self.last.is_none_or(|(t0, _)| elapsed > t0) {
            self.last = Some((elapsed, done_here));
        }
        if left == 0 || done_here < Self::MIN_DONE || elapsed < Self::MIN_ELAPSED {
            return None;
        }
        let pace = self.pace.filter(|p| *p > 0.0)?;
        Some(Duration::from_secs_f64((left as f64 / pace).min(1e9)))
    }
}

/// Rows finished by this process (kept rows are not; kept drafts, which `done()` does not
/// count, make it a lower bound).
fn done_here(s: &Snapshot) -> u64 {
    s.done().saturating_sub(s.skipped)
}

/// Videos per minute made by this process.
fn per_minute(s: &Snapshot) -> f64 {
    let m = s.elapsed.as_secs_f64() / 60.0;
    if m > 0.0 {
        s.ready_here() as f64 / m
    } else {
        0.0
    }
}

/// One line of counts: `ready 12 · failed 1 · invalid 2 · rendering 20 · submitting 3 · 6.0 videos/min · 4.9 req/s · eta 1m05s`.
pub fn describe(s: &Snapshot, eta: Option<Duration>) -> String {
    let mut text = format!(
        "{} {} · {} {} · invalid {} · rendering {} · submitting {}",
        output::paint("ready", console::Style::green),
        s.ready,
        output::paint("failed", console::Style::red),
        s.failed,
        s.invalid,
        s.rendering,
        s.submitting
    );
    if s.unknown > 0 {
        text.push_str(&format!(" · unknown {}", s.unknown));
    }
    if s.downloading > 0 || s.downloaded > 0 {
        text.push_str(&format!(" · downloaded {}", s.downloaded));
    }
    text.push_str(&format!(
        " · {:.1} videos/min · {:.1} req/s",
        per_minute(s),
        s.requests_per_second()
    ));
    if let Some(eta) = eta {
        text.push_str(&format!(" · eta {}", human(eta)));
    }
    text
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

/// The time left for `s` at `eta`'s pace.
fn estimate(eta: &mut Eta, s: &Snapshot, total: u64) -> Option<Duration> {
    eta.observe(s.elapsed, done_here(s), total.saturating_sub(s.done()))
}

async fn bar(progress: ProgressHandle, total: u64, mut stop: oneshot::Receiver<()>) {
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = if output::color() {
        "{spinner:.cyan} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {wide_msg}"
    } else {
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}"
    };
    pb.set_style(
        ProgressStyle::with_template(template)
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let shown = output::Bar::register(pb);
    let mut eta = Eta::default();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        let s = progress.snapshot();
        let left = estimate(&mut eta, &s, total);
        shown.bar().set_position(s.done());
        shown.bar().set_message(describe(&s, left));
    }
    // Dropping `shown` clears the bar.
}

async fn lines(
    progress: ProgressHandle,
    total: u64,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let mut eta = Eta::default();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        let s = progress.snapshot();
        let left = estimate(&mut eta, &s, total);
        let text = format!(
            "progress: {}/{} done · {}",
            s.done(),
            total,
            describe(&s, left)
        );
        let mut fields = serde_json::Map::new();
        fields.insert("done".into(), s.done().into());
        fields.insert("total".into(), total.into());
        if let Ok(serde_json::Value::Object(counts)) = serde_json::to_value(&s) {
            fields.extend(counts);
        }
        fields.insert(
            "videos_per_minute".into(),
            ((per_minute(&s) * 10.0).round() / 10.0).into(),
        );
        fields.insert("eta_secs".into(), left.map(|d| d.as_secs()).into());
        output::say_with(output::Level::Info, "progress", &text, fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_well() {
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
            describe(&s, Some(Duration::from_secs(20))),
            "ready 40 · failed 5 · invalid 5 · rendering 10 · submitting 0 · 120.0 videos/min · 5.0 req/s · eta 20s"
        );
        // Videos kept from an earlier run are not this run's pace.
        let kept = Snapshot {
            kept_ready: 30,
            skipped: 30,
            ..s.clone()
        };
        assert!(describe(&kept, None).contains(" 30.0 videos/min "));
        assert_eq!(done_here(&kept), 20);
        assert_eq!(human(Duration::from_secs(3725)), "1h02m");
        assert_eq!(human(Duration::from_secs(65)), "1m05s");
    }

    #[test]
    fn the_estimate_waits_for_evidence_then_moves_smoothly() {
        let mut eta = Eta::default();
        let secs = Duration::from_secs;
        // Nothing finished yet, or too early: no estimate.
        assert_eq!(eta.observe(secs(1), 0, 100), None);
        assert_eq!(eta.observe(secs(2), 2, 98), None);
        assert_eq!(eta.observe(secs(4), 4, 96), None, "too early");
        // A steady pace of 1 row/s: the estimate is the rows left.
        let mut last = None;
        for t in 5..=60 {
            last = eta.observe(secs(t), t, 100 - t);
        }
        let steady = last.unwrap().as_secs_f64();
        assert!((steady - 40.0).abs() < 2.0, "{steady}");
        // A burst of 20 rows ending together moves it by little, not to a quarter.
        let after_burst = eta.observe(secs(61), 81, 19).unwrap().as_secs_f64();
        let naive = 19.0 / (20.0 + 1.0); // the burst's own pace, as a naive estimate
        assert!(after_burst > 10.0 * naive, "{after_burst} vs {naive}");
        assert!(after_burst < 19.0, "{after_burst}: the burst still counts");
        // Nothing left: no estimate.
        assert_eq!(eta.observe(secs(62), 100, 0), None);
    }
}
