//! The access-token cache for [`crate::Credentials::App`]: one token shared by every caller,
//! renewed ahead of expiry or after a rejection, one fetch at a time.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
// tokio's clock: the same as std's in a run, and paused time in the tests.
use tokio::time::Instant;

use tokio::sync::Mutex;

use crate::Secret;
use crate::error::ApiErrorKind;

struct State {
    token: Option<(Secret, Instant)>,
    /// Incremented when a fetch attempt finishes.
    generation: u64,
    /// The outcome of the latest fetch, if it failed.
    last_error: Option<ApiErrorKind>,
}

/// Caches one access token.
///
/// Concurrent callers share one fetch: the fetch happens under an async mutex, and callers
/// that queued behind it take its result (the new token, or the same error) instead of
/// fetching again. A caller whose request was refused with a token passes that token as
/// `rejected`; the cache fetches a new one only if it still holds that same token, so a burst
/// of 401s triggers one refresh.
pub(crate) struct TokenCache {
    refresh_after: Duration,
    state: Mutex<State>,
    generation: AtomicU64,
    fetches: AtomicU64,
}

impl TokenCache {
    pub fn new(refresh_after: Duration) -> TokenCache {
        TokenCache {
            refresh_after,
            state: Mutex::new(State {
                token: None,
                generation: 0,
                last_error: None,
            }),
            generation: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
        }
    }

    /// How many fetches were started.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A usable token: the cached one if it is younger than `refresh_after` and is not
    /// `rejected`, otherwise the result of `fetch` (run at most once across concurrent callers).
    pub async fn get<F, Fut>(
        &self,
        rejected: Option<&Secret>,
        fetch: F,
    ) -> Result<Secret, ApiErrorKind>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Secret, ApiErrorKind>>,
    {
        let seen = self.generation.load(Ordering::Acquire);
        let mut state = self.state.lock().await;
        if let Some((token, at)) = &state.token
            && at.elapsed() < self.refresh_after
            && rejected != Some(token)
        {
            return Ok(token.clone());
        }
        if state.generation != seen
            && let Some(err) = &state.last_error
        {
            // A fetch ran and failed while we waited for the lock: share its outcome.
            return Err(err.clone());
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let outcome = fetch().await;
        // Published only once the fetch is over: a caller that read the old generation (it
        // arrived while this fetch ran) takes this outcome instead of fetching again.
        state.generation += 1;
        self.generation.store(state.generation, Ordering::Release);
        match outcome {
            Ok(token) => {
                state.token = Some((token.clone(), Instant::now()));
                state.last_error = None;
                Ok(token)
            }
            Err(err) => {
                state.token = None;
                state.last_error = Some(err.clone());
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    async fn slow_fetch(n: Arc<AtomicUsize>) -> Result<Secret, ApiErrorKind> {
        let i = n.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(Secret::new(format!("token-{i}")))
    }

    #[tokio::test(start_paused = true)]
    async fn caches_and_shares_one_fetch() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(3600)));
        let n = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, n) = (cache.clone(), n.clone());
            tasks.push(tokio::spawn(async move {
                cache.get(None, || slow_fetch(n)).await.unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().expose(), "token-0");
        }
        assert_eq!(n.load(Ordering::SeqCst), 1);
        assert_eq!(cache.fetches(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_rejections_refreshes_once() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(3600)));
        let n = Arc::new(AtomicUsize::new(0));
        let first = cache.get(None, || slow_fetch(n.clone())).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, n, stale) = (cache.clone(), n.clone(), first.clone());
            tasks.push(tokio::spawn(async move {
                cache.get(Some(&stale), || slow_fetch(n)).await.unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().expose(), "token-1");
        }
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn old_tokens_are_renewed_ahead_of_use() {
        // Paused time: the 20 ms fetch takes 20 ms exactly, and the sleeps below land on
        // either side of the 30 s age, never near it.
        let cache = TokenCache::new(Duration::from_secs(30));
        let n = Arc::new(AtomicUsize::new(0));
        let token = || async {
            let t = cache.get(None, || slow_fetch(n.clone())).await.unwrap();
            t.expose().to_owned()
        };
        assert_eq!(token().await, "token-0");
        assert_eq!(token().await, "token-0");
        tokio::time::sleep(Duration::from_secs(29)).await;
        assert_eq!(
            token().await,
            "token-0",
            "a token younger than its refresh age is kept"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(token().await, "token-1");
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_share_a_failed_fetch_and_the_next_caller_tries_again() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(3600)));
        let attempts = Arc::new(AtomicUsize::new(0));
        let failing = |attempts: Arc<AtomicUsize>| async move {
            attempts.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<Secret, _>(ApiErrorKind::Connect {
                reason: "connection refused".into(),
            })
        };
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (cache, attempts) = (cache.clone(), attempts.clone());
            tasks.push(tokio::spawn(async move {
                cache.get(None, || failing(attempts)).await
            }));
        }
        for t in tasks {
            assert!(matches!(
                t.await.unwrap(),
                Err(ApiErrorKind::Connect { .. })
            ));
        }
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        let n = Arc::new(AtomicUsize::new(0));
        assert!(cache.get(None, || slow_fetch(n)).await.is_ok());
    }
}
