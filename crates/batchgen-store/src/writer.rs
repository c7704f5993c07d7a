//! The writer task: a worker's events and releases, in order, several per transaction (group
//! commit, as the file journal's writer does); a `submitting` only while the row's lease is
//! this worker's.

use std::sync::Arc;

use batchgen_dispatch::journal::{Event, JournalError};
use tokio::sync::{mpsc, oneshot};

use crate::pg::Inner;

/// What the writer is given.
pub(crate) enum Op {
    /// Record the event; acknowledge once committed, if asked.
    Event(Event, Option<oneshot::Sender<Result<(), JournalError>>>),
    /// Give the row back.
    Release(String),
}

/// The row key an event is about (`None`: the run's own events).
fn event_key(e: &Event) -> Option<&str> {
    match e {
        Event::Submitting { key, .. }
        | Event::Submitted { key, .. }
        | Event::Ready { key, .. }
        | Event::Failed { key, .. }
        | Event::Downloaded { key, .. }
        | Event::Unknown { key, .. }
        | Event::Invalid { key, .. } => Some(key),
        _ => None,
    }
}

/// Runs until every sender is gone; returns the first failure, after which every ack fails.
pub(crate) async fn write_loop(
    inner: Arc<Inner>,
    mut rx: mpsc::UnboundedReceiver<Op>,
) -> Result<(), String> {
    let mut failed: Option<String> = None;
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        if let Some(e) = &failed {
            for op in batch.drain(..) {
                if let Op::Event(_, Some(ack)) = op {
                    let _ = ack.send(Err(JournalError::Store(e.clone())));
                }
            }
            continue;
        }
        match write_batch(&inner, &batch).await {
            Ok(refused) => {
                for (i, op) in batch.drain(..).enumerate() {
                    if let Op::Event(event, Some(ack)) = op {
                        let answer = match refused.contains(&i) {
                            true => Err(lease_lost(&event)),
                            false => Ok(()),
                        };
                        let _ = ack.send(answer);
                    }
                }
            }
            Err(e) => {
                let message = inner.query_error(e).to_string();
                tracing::error!(error = %message, "the run store failed");
                for op in batch.drain(..) {
                    if let Op::Event(_, Some(ack)) = op {
                        let _ = ack.send(Err(JournalError::Store(message.clone())));
                    }
                }
                failed = Some(message);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn lease_lost(event: &Event) -> JournalError {
    match event {
        Event::Submitting { row, key, .. } => JournalError::LeaseLost {
            row: *row,
            key: key.clone(),
        },
        _ => JournalError::Store("a lease check refused an event other than submitting".into()),
    }
}

/// Writes `batch` in one transaction; the indexes of the `submitting` events refused because
/// this worker's lease on their row is gone.
async fn write_batch(inner: &Inner, batch: &[Op]) -> Result<Vec<usize>, sqlx::Error> {
    let mut refused = Vec::new();
    let mut tx = inner.pool.begin().await?;
    for (i, op) in batch.iter().enumerate() {
        match op {
            Op::Event(event, _) => {
                if let Event::Submitting { key, .. } = event {
                    let held: Option<i32> = sqlx::query_scalar(
                        "SELECT 1 FROM batchgen_rows WHERE run = $1 AND key = $2 AND holder = $3 AND lease_until > now() FOR UPDATE",
                    )
                    .bind(&inner.run)
                    .bind(key)
                    .bind(&inner.worker)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if held.is_none() {
                        refused.push(i);
                        continue;
                    }
                }
                let body = serde_json::to_string(event).expect("an event serializes");
                sqlx::query(
                    "INSERT INTO batchgen_events (run, key, body, worker) VALUES ($1, $2, $3::jsonb, $4)",
                )
                .bind(&inner.run)
                .bind(event_key(event))
                .bind(body)
                .bind(&inner.worker)
                .execute(&mut *tx)
                .await?;
            }
            Op::Release(key) => {
                sqlx::query(
                    "UPDATE batchgen_rows SET holder = NULL, lease_until = NULL WHERE run = $1 AND key = $2 AND holder = $3",
                )
                .bind(&inner.run)
                .bind(key)
                .bind(&inner.worker)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(refused)
}
