//! One project list for all the rows of a run that look for a lost create at about the same
//! time.
//!
//! The vendor's list (`GET /api/odin/v3/editor/project`) answers every exported project of the
//! account at once: it documents no filter by name and no paging. So a lookup costs one request
//! of the budget and a parse of the whole list, and a run of 10,000 rows parses up to 10,000
//! projects per lookup. Rows whose lookups fall due together share one list:
//!
//! - a lookup says how fresh its list must be: sent at or after some instant ([`SharedList::sent_after`]);
//! - the last list fetched serves it if that list is fresh enough; otherwise it fetches one;
//! - fetches go one at a time, so the lookups that come while one is in flight wait for it
//!   and take it if it is fresh enough for them.
//!
//! The engine's lookup phase decides the freshness (see `engine::lookup`): a lookup inside its
//! window takes a list sent up to [`STALE`] before it (but never one sent before the lost
//! create); the last lookup of the window, the one that decides whether the create is sent
//! again, takes only a list sent after the window closed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use batchgen_aistudios::ProjectPage;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How much older than a lookup inside its window the list it takes may be.
pub(super) const STALE: Duration = Duration::from_secs(1);

/// The projects of one list answer, by name, and when its request was sent.
#[derive(Debug)]
pub(super) struct Listing {
    sent_at: Instant,
    by_name: HashMap<String, Vec<String>>,
}

impl Listing {
    /// The projects of `page`, whose request was sent at `sent_at`.
    pub(super) fn of_page(sent_at: Instant, page: ProjectPage) -> Listing {
        let named = page
            .projects
            .into_iter()
            .filter_map(|p| Some((p.id.as_str().to_owned(), p.name?)));
        Listing::new(sent_at, named)
    }

    /// The projects `(id, name)`, in the server's order, of a list sent at `sent_at`.
    pub(super) fn new(
        sent_at: Instant,
        named: impl IntoIterator<Item = (String, String)>,
    ) -> Listing {
        let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
        for (id, name) in named {
            by_name.entry(name).or_default().push(id);
        }
        Listing { sent_at, by_name }
    }

    /// When the list's request was sent.
    pub(super) fn sent_at(&self) -> Instant {
        self.sent_at
    }

    /// The first project named exactly `name` that is not in `exclude`, in the server's order.
    pub(super) fn find(&self, name: &str, exclude: &[String]) -> Option<&str> {
        self.by_name
            .get(name)?
            .iter()
            .find(|id| !exclude.contains(id))
            .map(String::as_str)
    }
}

/// The last list fetched, shared by the run's lookups.
#[derive(Debug, Default)]
pub(super) struct SharedList {
    last: Mutex<Option<Arc<Listing>>>,
}

impl SharedList {
    /// A list whose request was sent at or after `not_before`: the last one fetched if it was,
    /// else the one `fetch` gets now (its request is sent after this call began). One fetch at
    /// a time; a failed fetch leaves the last list as it was, and its error is the caller's.
    pub(super) async fn sent_after<E, F, Fut>(
        &self,
        not_before: Instant,
        fetch: F,
    ) -> Result<Arc<Listing>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Listing, E>>,
    {
        let mut last = self.last.lock().await;
        if let Some(listing) = last.as_ref().filter(|l| l.sent_at >= not_before) {
            return Ok(Arc::clone(listing));
        }
        let listing = Arc::new(fetch().await?);
        *last = Some(Arc::clone(&listing));
        Ok(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn listing(sent_at: Instant, projects: &[(&str, &str)]) -> Listing {
        Listing::new(
            sent_at,
            projects
                .iter()
                .map(|(id, name)| (id.to_string(), name.to_string())),
        )
    }

    #[test]
    fn finds_by_exact_name_in_order_skipping_excluded() {
        let l = listing(
            Instant::now(),
            &[("p1", "row 1"), ("p2", "row 1"), ("p3", "row 10")],
        );
        assert_eq!(l.find("row 1", &[]), Some("p1"));
        assert_eq!(l.find("row 1", &["p1".into()]), Some("p2"));
        assert_eq!(l.find("row 1", &["p1".into(), "p2".into()]), None);
        assert_eq!(l.find("row", &[]), None);
        assert_eq!(l.find("row 10", &[]), Some("p3"));
    }

    /// Lookups that need no fresher list than the last share it; one that needs a list sent
    /// after the last was fetches again; concurrent lookups wait for the fetch in flight and
    /// take it when it is fresh enough for them.
    #[tokio::test(start_paused = true)]
    async fn lookups_share_a_list_fresh_enough_for_them() {
        let list = SharedList::default();
        let fetches = AtomicU32::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            let sent_at = Instant::now();
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, ()>(listing(sent_at, &[("p1", "row 1")]))
        };
        let t0 = Instant::now();
        let first = list.sent_after(t0, fetch).await.unwrap();
        assert_eq!(first.find("row 1", &[]), Some("p1"));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // Sent at t0: good for a lookup that takes a list sent at or after t0 …
        tokio::time::sleep(Duration::from_millis(500)).await;
        list.sent_after(t0, fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // … not for one that needs a list sent after it.
        list.sent_after(Instant::now(), fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // Ten lookups at once, each content with a list sent in the last second: one fetch.
        let now = Instant::now() + Duration::from_secs(2);
        tokio::time::sleep_until(now).await;
        let all = futures::future::join_all(
            (0..10).map(|_| list.sent_after(now - Duration::from_secs(1), fetch)),
        )
        .await;
        assert!(all.iter().all(Result::is_ok));
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_fetch_keeps_the_last_list_and_is_the_callers() {
        let list = SharedList::default();
        let t0 = Instant::now();
        list.sent_after(t0, || async { Ok::<_, &str>(listing(t0, &[("p1", "a")])) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let later = Instant::now();
        let failed = list
            .sent_after(later, || async { Err::<Listing, _>("500") })
            .await;
        assert_eq!(failed.unwrap_err(), "500");
        // The old list still serves who can take it.
        let old = list
            .sent_after(t0, || async { Err::<Listing, _>("unused") })
            .await
            .unwrap();
        assert_eq!(old.find("a", &[]), Some("p1"));
    }
}
