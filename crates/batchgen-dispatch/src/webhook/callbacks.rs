//! [`Callbacks`]: where webhook deliveries meet the rows that wait for them.
//!
//! The webhook receiver ([`crate::webhook`]) [`deliver`](Callbacks::deliver)s each verified
//! callback for a row; the row's task, while it follows its render, waits on its slot as well
//! as on its next (safety-net) poll, and whichever comes first ends the render. The row's task
//! alone journals the outcome and updates the manifest, so a render ends **exactly once**
//! whatever arrives: a second delivery of the same callback, a callback after a poll already
//! found the video, or a callback for a row not being followed yet (it waits in the slot until
//! the row's task takes it).
//!
//! Memory: one small slot per row that received a callback or finished; nothing per row
//! otherwise.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// What a webhook said about a render.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The render finished; the video is at this URL.
    Ready {
        /// The video's URL.
        download_url: String,
        /// Credits the render cost (the payload's `credit`), when given.
        credits: Option<u64>,
    },
    /// The render stopped at this percentage and will not finish.
    Failed {
        /// Where it stopped (0–100).
        progress: f64,
    },
}

/// What became of a delivered callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Taken: the row ends with it (now, or when its task gets to it), unless an earlier
    /// callback or a poll ended it first.
    Accepted,
    /// The row had already ended (ready or failed): ignored. Duplicates land here.
    AlreadyDone,
    /// The run has no such row: ignored.
    UnknownRow,
}

#[derive(Debug, Default)]
struct Slot {
    /// The first outcome delivered and not yet taken.
    outcome: Option<Outcome>,
    /// The row has ended: later callbacks are ignored.
    done: bool,
    /// Wakes the row's task (a permit is stored if it is not waiting yet).
    notify: Arc<Notify>,
}

/// The registry shared by the webhook receiver and the engine. Clones share it.
#[derive(Clone, Debug)]
pub struct Callbacks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rows: u64,
    slots: Mutex<HashMap<u64, Slot>>,
}

impl Callbacks {
    /// A registry for a run whose rows are numbered `1..=rows`.
    pub fn new(rows: u64) -> Callbacks {
        Callbacks {
            inner: Arc::new(Inner {
                rows,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Slot>> {
        self.inner.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `outcome` to row `row`. Never blocks on the row's task.
    pub fn deliver(&self, row: u64, outcome: Outcome) -> Delivery {
        if row == 0 || row > self.inner.rows {
            return Delivery::UnknownRow;
        }
        let mut slots = self.slots();
        let slot = slots.entry(row).or_default();
        if slot.done {
            return Delivery::AlreadyDone;
        }
        if slot.outcome.is_none() {
            slot.outcome = Some(outcome);
        }
        slot.notify.notify_one();
        Delivery::Accepted
    }

    /// What the row's task waits on between polls.
    pub(crate) fn watch(&self, row: u64) -> Arc<Notify> {
        Arc::clone(&self.slots().entry(row).or_default().notify)
    }

    /// The outcome delivered for `row` and not yet taken.
    pub(crate) fn take(&self, row: u64) -> Option<Outcome> {
        self.slots().get_mut(&row).and_then(|s| s.outcome.take())
    }

    /// Whether an outcome was delivered for `row` and not yet taken.
    pub(crate) fn has_outcome(&self, row: u64) -> bool {
        self.slots().get(&row).is_some_and(|s| s.outcome.is_some())
    }

    /// Marks `row` as ended: later callbacks are acknowledged and ignored.
    pub(crate) fn finish(&self, row: u64) {
        let mut slots = self.slots();
        let slot = slots.entry(row).or_default();
        slot.done = true;
        slot.outcome = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ready(n: u32) -> Outcome {
        Outcome::Ready {
            download_url: format!("http://cdn/{n}.mp4"),
            credits: None,
        }
    }

    #[test]
    fn the_first_outcome_wins_and_ended_rows_ignore_the_rest() {
        let c = Callbacks::new(3);
        assert_eq!(c.deliver(0, ready(0)), Delivery::UnknownRow);
        assert_eq!(c.deliver(4, ready(4)), Delivery::UnknownRow);
        assert_eq!(c.deliver(2, ready(1)), Delivery::Accepted);
        assert_eq!(c.deliver(2, ready(2)), Delivery::Accepted);
        assert_eq!(c.take(2), Some(ready(1)));
        assert_eq!(c.take(2), None);
        c.finish(2);
        assert_eq!(c.deliver(2, ready(3)), Delivery::AlreadyDone);
        assert_eq!(c.take(2), None);
        // A row that ended before any callback came.
        c.finish(3);
        assert_eq!(
            c.deliver(3, Outcome::Failed { progress: 40.0 }),
            Delivery::AlreadyDone
        );
    }

    /// On paused time: the 20 ms sleep puts the waiter to sleep before the delivery (it runs
    /// whenever the test task yields), and the timeouts are hang guards only (time moves only
    /// when nothing can run, so they fire only if the wake-up never comes).
    #[tokio::test(start_paused = true)]
    async fn a_delivery_wakes_the_waiting_row_even_if_it_came_first() {
        let c = Callbacks::new(2);
        // Delivered before the row waits: the stored permit wakes it at once.
        c.deliver(1, ready(1));
        let n = c.watch(1);
        tokio::time::timeout(Duration::from_secs(1), n.notified())
            .await
            .expect("woken by the stored permit");
        assert_eq!(c.take(1), Some(ready(1)));

        let n = c.watch(2);
        let waiter = tokio::spawn(async move { n.notified().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.deliver(2, ready(2));
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken by the delivery")
            .unwrap();
    }
}
