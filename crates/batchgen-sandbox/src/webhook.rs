//! Webhook deliveries: one task and one timer queue for all of them.
//!
//! A project created with a `webhookUrl` queues one delivery due when its render ends
//! (completes or fails). The single delivery task sleeps until the earliest due entry,
//! builds the payload from the project as it then stands, and POSTs it; a non-2xx answer
//! or a connection error puts the delivery back in the queue with a doubling backoff
//! until the attempts run out. With `webhook_duplicate_probability`, some delivered payloads are
//! queued once more, a moment later, as real services sometimes do.
//!
//! Payload (snake case as the vendor documents):
//! `{"progress":100,"credit":1,"backendTaskId":"<uuid>","download_url":"<url>"}`; for a
//! failed render `{"progress":42,"backendTaskId":"<uuid>"}`: `progress` (an integer) where it
//! stopped, and no `credit` or `download_url`, which the docs expose only at progress 100.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use rand::RngExt;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::project::{Phase, ProjectId, format_task_id};
use crate::state::Shared;
use crate::stats::bump;

/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most attempts in flight at once; the rest wait in the queue.
const MAX_IN_FLIGHT: usize = 64;

/// One queued delivery.
#[derive(Debug, Clone, Copy)]
struct Job {
    due: Instant,
    seq: u64,
    project: ProjectId,
    /// Which render of the project this delivery reports (see `Project::generation`).
    generation: u32,
    /// 0 for the first attempt.
    attempt: u32,
    /// A deliberate second delivery (never duplicated again).
    duplicate: bool,
}

impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    // Reversed: BinaryHeap is a max-heap and the earliest due must come out first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// The handle handlers use to queue deliveries.
pub(crate) struct WebhookQueue {
    tx: mpsc::UnboundedSender<Job>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
    seq: std::sync::atomic::AtomicU64,
    attempts: u32,
    backoff: Duration,
    duplicate_probability: f64,
    rng: Mutex<StdRng>,
    client: reqwest::Client,
}

impl WebhookQueue {
    pub fn new(
        attempts: u32,
        backoff: Duration,
        duplicate_probability: f64,
        rng: StdRng,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .user_agent(concat!(
                "batchgen-sandbox/",
                env!("CARGO_PKG_VERSION"),
                " webhook"
            ))
            .build()?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(WebhookQueue {
            tx,
            rx: Mutex::new(Some(rx)),
            seq: Default::default(),
            attempts,
            backoff,
            duplicate_probability,
            rng: Mutex::new(rng),
            client,
        })
    }

    fn push(
        &self,
        due: Instant,
        project: ProjectId,
        generation: u32,
        attempt: u32,
        duplicate: bool,
    ) {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Fails only once the delivery task has stopped, when nothing is delivered anyway.
        let _ = self.tx.send(Job {
            due,
            seq,
            project,
            generation,
            attempt,
            duplicate,
        });
    }

    /// Queues the first delivery for render number `generation` of `project`, due at `due`.
    pub fn schedule(&self, project: ProjectId, generation: u32, due: Instant) {
        self.push(due, project, generation, 0, false);
    }

    /// Takes the receiving end, for the one delivery task.
    fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<Job>> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Runs the delivery task until `cancel` fires.
pub(crate) async fn run(shared: Arc<Shared>, cancel: CancellationToken) {
    let Some(mut rx) = shared.webhooks.take_receiver() else {
        return;
    };
    let mut queue: BinaryHeap<Job> = BinaryHeap::new();
    let mut in_flight: JoinSet<()> = JoinSet::new();
    loop {
        let next_due = queue.peek().map(|j| j.due);
        let can_send = in_flight.len() < MAX_IN_FLIGHT;
        tokio::select! {
            _ = cancel.cancelled() => break,
            job = rx.recv() => match job {
                Some(job) => queue.push(job),
                None => break,
            },
            _ = sleep_until(next_due), if next_due.is_some() && can_send => {
                let now = Instant::now();
                while in_flight.len() < MAX_IN_FLIGHT
                    && queue.peek().is_some_and(|j| j.due <= now)
                {
                    let Some(job) = queue.pop() else { break };
                    in_flight.spawn(deliver(shared.clone(), job));
                }
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    // Dropping the JoinSet aborts attempts still in flight.
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}

/// The payload for render `generation` of `project` as it stands now, and where to send
/// it; `None` when the project is gone or has been exported again since.
fn payload(
    shared: &Shared,
    project: ProjectId,
    generation: u32,
    now: Instant,
) -> Option<(String, Value)> {
    let projects = shared.projects.read().unwrap_or_else(|p| p.into_inner());
    let p = projects.get(&project.to_string())?;
    if p.generation != generation {
        return None;
    }
    let url = p.webhook_url.as_deref()?.to_owned();
    let task = format_task_id(p.task_id);
    // Exactly the documented fields; credit and download_url only at progress 100.
    let body = match (p.phase(now), &p.render) {
        (Phase::Completed, Some(render)) => json!({
            "progress": 100,
            "credit": render.credit(),
            "backendTaskId": task,
            "download_url": format!("{}/downloads/{}.mp4", shared.base_url, p.id),
        }),
        (Phase::Failed { progress }, _) => json!({
            "progress": progress.floor() as u64,
            "backendTaskId": task,
        }),
        // Not finished (cannot happen: deliveries are due when the render ends).
        _ => return None,
    };
    Some((url, body))
}

async fn deliver(shared: Arc<Shared>, job: Job) {
    let q = &shared.webhooks;
    let Some((url, body)) = payload(&shared, job.project, job.generation, Instant::now()) else {
        return;
    };
    let ok = match q.client.post(&url).json(&body).send().await {
        Ok(resp) => resp.status().is_success(),
        Err(_) => false,
    };
    let now = Instant::now();
    if ok {
        bump(&shared.counters.webhooks_sent);
        if !job.duplicate {
            let dup = {
                let mut rng = q.rng.lock().unwrap_or_else(|p| p.into_inner());
                let u: f64 = rng.random();
                let delay_ms: u64 = rng.random_range(50..300);
                (u < q.duplicate_probability).then_some(Duration::from_millis(delay_ms))
            };
            if let Some(delay) = dup {
                bump(&shared.counters.webhooks_duplicated);
                q.push(now + delay, job.project, job.generation, 0, true);
            }
        }
    } else if job.attempt + 1 < q.attempts {
        bump(&shared.counters.webhooks_retried);
        let backoff = q.backoff.saturating_mul(1u32 << job.attempt.min(16));
        q.push(
            now + backoff,
            job.project,
            job.generation,
            job.attempt + 1,
            job.duplicate,
        );
    } else {
        bump(&shared.counters.webhooks_failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_pops_earliest_first() {
        let t0 = Instant::now();
        let id = crate::project::ProjectId::parse("0123456789abcdef01234567").unwrap();
        let mk = |ms, seq| Job {
            due: t0 + Duration::from_millis(ms),
            seq,
            project: id,
            generation: 1,
            attempt: 0,
            duplicate: false,
        };
        let mut h = BinaryHeap::new();
        h.push(mk(30, 0));
        h.push(mk(10, 1));
        h.push(mk(20, 2));
        h.push(mk(10, 3));
        let order: Vec<u64> = std::iter::from_fn(|| h.pop().map(|j| j.seq)).collect();
        assert_eq!(order, [1, 3, 2, 0]);
    }
}
