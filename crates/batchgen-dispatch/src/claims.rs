//! Claims: which remote objects the rows of this run hold, and which rows have a create in
//! flight for which target. Export lookups need both.
//!
//! A v2 export has no name to search by. After a create whose answer was lost, the only way to
//! find the export it may have made is to list the project's exports and pick one created
//! after the request was sent. Two things could make that pick wrong, and claims rule both out:
//!
//! - the export already belongs to another row of this run (two rows may export the same
//!   project, e.g. with different watermarks): every export id a row holds — from the journal
//!   on resume, from create answers, from adoptions — is *held*, and a held export is never
//!   adopted again;
//! - another row of this run is itself sending a create for the same project right now, so an
//!   export that is not held yet may be that row's: while any other row has a create *pending*
//!   for the same target, a lookup adopts nothing and the create is sent again.
//!
//! A lookup adopts only when exactly one candidate is left and no other row is pending on the
//! target; the check and the hold happen under one lock, so two rows never adopt the same export.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::job::Found;

/// The run's claims (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Claims {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Remote ids some row of this run holds.
    held: HashSet<String>,
    /// Per target (e.g. `folder/project`), the rows with a create that may be in flight.
    pending: HashMap<String, HashSet<u64>>,
}

/// While alive, `row` counts as having a create pending for its target.
pub(crate) struct Pending<'a> {
    claims: &'a Claims,
    target: String,
    row: u64,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut s = self.claims.lock();
        if let Some(rows) = s.pending.get_mut(&self.target) {
            rows.remove(&self.row);
            if rows.is_empty() {
                s.pending.remove(&self.target);
            }
        }
    }
}

impl Claims {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that a row of this run holds `id`.
    pub fn hold(&self, id: &str) {
        self.lock().held.insert(id.to_owned());
    }

    /// Marks `row` as possibly having a create in flight for `target` until the guard drops.
    pub fn pending(&self, target: &str, row: u64) -> Pending<'_> {
        self.lock()
            .pending
            .entry(target.to_owned())
            .or_default()
            .insert(row);
        Pending {
            claims: self,
            target: target.to_owned(),
            row,
        }
    }

    /// Picks the export of `row`'s lost answer among `candidates` (exports of `target` created
    /// since the create was sent): the only one not held, provided no other row has a create
    /// pending on `target`. The one picked is held from then on.
    pub fn adopt(&self, row: u64, target: &str, candidates: Vec<String>) -> Found {
        let mut s = self.lock();
        let free: Vec<String> = candidates
            .into_iter()
            .filter(|c| !s.held.contains(c))
            .collect();
        let others = s
            .pending
            .get(target)
            .map_or(0, |rows| rows.iter().filter(|r| **r != row).count());
        match (free.len(), others) {
            (0, _) => Found::Nothing,
            (1, 0) => {
                let id = free.into_iter().next().expect("one candidate");
                s.held.insert(id.clone());
                Found::One(id)
            }
            (n, others) => Found::Ambiguous {
                candidates: n,
                others_pending: others,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn adopts_the_only_free_candidate_once() {
        let c = Claims::default();
        c.hold("e1");
        assert_eq!(
            c.adopt(1, "f/p", ids(&["e1", "e2"])),
            Found::One("e2".into())
        );
        // e2 is held now: another row finds nothing left.
        assert_eq!(c.adopt(2, "f/p", ids(&["e1", "e2"])), Found::Nothing);
        assert_eq!(c.adopt(3, "f/p", vec![]), Found::Nothing);
    }

    #[test]
    fn several_free_candidates_are_ambiguous() {
        let c = Claims::default();
        assert_eq!(
            c.adopt(1, "f/p", ids(&["e1", "e2"])),
            Found::Ambiguous {
                candidates: 2,
                others_pending: 0
            }
        );
    }

    #[test]
    fn another_row_pending_on_the_target_makes_it_ambiguous() {
        let c = Claims::default();
        let mine = c.pending("f/p", 1);
        {
            let _other = c.pending("f/p", 2);
            let _elsewhere = c.pending("f/q", 3);
            assert_eq!(
                c.adopt(1, "f/p", ids(&["e1"])),
                Found::Ambiguous {
                    candidates: 1,
                    others_pending: 1
                }
            );
        }
        // Row 2 is done; row 1's own pending create does not count against it.
        assert_eq!(c.adopt(1, "f/p", ids(&["e1"])), Found::One("e1".into()));
        drop(mine);
        assert!(c.lock().pending.is_empty());
    }
}
