//! [`InFlight`]: the bound on renders in progress, lowered when the vendor refuses creates
//! for having too many, raised again slowly.
//!
//! The vendor publishes no concurrency limit, so the bound starts high (`--max-in-flight`,
//! default 500) and the rate limit sets the pace. A create refused for concurrency
//! ([`is_concurrency_refusal`]: a code or message about concurrency, queues or renders in
//! progress, which polls never get) shows where the vendor's limit is: the rows holding a
//! slot at that moment, minus the one refused. The bound drops to that at once (slots in use
//! are taken back as their rows end) and rises by one for every [`RAISE_EVERY`] creates
//! accepted since, up to `--max-in-flight`, so a limit that grows is found again.

use std::sync::{Arc, Mutex};

use batchgen_aistudios::ApiError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Creates accepted (without a concurrency refusal) per slot given back.
pub const RAISE_EVERY: u32 = 20;

/// Whether `error` refuses a create for having too many renders in progress (or queued):
/// a vendor code containing `CONCURREN`, `QUEUE`, `RENDER_LIMIT`, `TOO_MANY_RENDERS` or
/// `IN_PROGRESS`, or a message mentioning concurrency, a queue, or too many renders or
/// projects in progress. The sandbox sends 429 `CONCURRENT_RENDER_LIMIT`.
pub fn is_concurrency_refusal(error: &ApiError) -> bool {
    let code = error.vendor_code().unwrap_or_default().to_ascii_uppercase();
    if [
        "CONCURREN",
        "QUEUE",
        "RENDER_LIMIT",
        "TOO_MANY_RENDERS",
        "IN_PROGRESS",
    ]
    .iter()
    .any(|w| code.contains(w))
    {
        return true;
    }
    let text = error.to_string().to_ascii_lowercase();
    text.contains("concurren")
        || text.contains("queue is full")
        || text.contains("too many renders")
        || text.contains("too many projects in progress")
        || text.contains("renders in progress")
}

#[derive(Debug)]
struct State {
    limit: usize,
    max: usize,
    /// Slots in use that go away instead of coming back when their rows end.
    debt: usize,
    accepted_since: u32,
    lowered: u64,
}

/// The bound on rows holding a render slot. Share it with `Arc`.
#[derive(Debug)]
pub struct InFlight {
    sem: Arc<Semaphore>,
    state: Mutex<State>,
}

/// One row's render slot; given back (or, after a lowering, taken away) when dropped.
#[derive(Debug)]
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    owner: Arc<InFlight>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.owner.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.debt > 0 {
            st.debt -= 1;
            if let Some(p) = self.permit.take() {
                p.forget();
            }
        }
    }
}

impl InFlight {
    /// At most `max` slots (at least 1).
    pub fn new(max: usize) -> Arc<InFlight> {
        let max = max.max(1);
        Arc::new(InFlight {
            sem: Arc::new(Semaphore::new(max)),
            state: Mutex::new(State {
                limit: max,
                max,
                debt: 0,
                accepted_since: 0,
                lowered: 0,
            }),
        })
    }

    /// Waits for a slot.
    pub async fn acquire(self: &Arc<Self>) -> Slot {
        let permit = Arc::clone(&self.sem)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        Slot {
            permit: Some(permit),
            owner: Arc::clone(self),
        }
    }

    /// A create was refused for concurrency: the bound drops to the slots in use, minus one.
    pub fn refused(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let in_use = (st.limit + st.debt).saturating_sub(self.sem.available_permits());
        let new = in_use.saturating_sub(1).max(1);
        st.accepted_since = 0;
        if new < st.limit {
            let cut = st.limit - new;
            let forgotten = self.sem.forget_permits(cut);
            st.debt += cut - forgotten;
            st.limit = new;
            st.lowered += 1;
            tracing::info!(
                bound = new,
                "the API refused a create for renders in progress; lowering the in-flight bound"
            );
        }
    }

    /// A create was accepted: every [`RAISE_EVERY`] of them raise the bound by one.
    pub fn accepted(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.limit >= st.max {
            return;
        }
        st.accepted_since += 1;
        if st.accepted_since >= RAISE_EVERY {
            st.accepted_since = 0;
            st.limit += 1;
            if st.debt > 0 {
                st.debt -= 1;
            } else {
                self.sem.add_permits(1);
            }
        }
    }

    /// The bound now.
    pub fn limit(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).limit
    }

    /// How many times a refusal lowered the bound.
    pub fn lowered(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).lowered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use batchgen_aistudios::{ApiErrorKind, Call};

    fn refusal(status: u16, code: &str, msg: &str) -> ApiError {
        ApiError::new(
            Call::CreateProject,
            ApiErrorKind::Rejected {
                status,
                code: Some(code.into()),
                message: msg.into(),
                retry_after: None,
            },
        )
    }

    #[test]
    fn refusals_for_concurrency_are_recognised() {
        assert!(is_concurrency_refusal(&refusal(
            429,
            "CONCURRENT_RENDER_LIMIT",
            "x"
        )));
        assert!(is_concurrency_refusal(&refusal(400, "QUEUE_FULL", "x")));
        assert!(is_concurrency_refusal(&refusal(
            400,
            "E42",
            "Too many renders in progress for this account"
        )));
        assert!(!is_concurrency_refusal(&refusal(
            429,
            "TOO_MANY_REQUESTS",
            "rate limit exceeded"
        )));
        assert!(!is_concurrency_refusal(&refusal(
            400,
            "INVALID_PARAMETER",
            "/scenes: bad"
        )));
    }

    #[tokio::test]
    async fn the_bound_drops_to_what_was_in_use_and_climbs_back_slowly() {
        let f = InFlight::new(10);
        let mut slots = Vec::new();
        for _ in 0..6 {
            slots.push(f.acquire().await);
        }
        // The vendor refused the 6th: it allows 5.
        f.refused();
        assert_eq!(f.limit(), 5);
        // Nothing is free until two rows end: the first one's slot is taken away.
        drop(slots.pop());
        let waiting = tokio::spawn({
            let f = Arc::clone(&f);
            async move { f.acquire().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "5 in use of a bound of 5");
        drop(slots.pop());
        let got = waiting.await.unwrap();
        slots.push(got);
        assert_eq!(f.lowered(), 1);
        // 20 accepted creates give one slot back, up to the maximum.
        for _ in 0..RAISE_EVERY {
            f.accepted();
        }
        assert_eq!(f.limit(), 6);
        let one_more = f.acquire().await;
        drop(one_more);
        for _ in 0..RAISE_EVERY * 10 {
            f.accepted();
        }
        assert_eq!(f.limit(), 10);
    }
}
