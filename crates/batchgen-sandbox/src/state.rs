//! Everything the handlers share: configuration fixed at start, the stores, the counters.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::budget::Budget;
use crate::export::ExportStore;
use crate::faults::Faults;
use crate::limits::{LimitHeaders, RenderSlots};
use crate::project::{IdGen, Phase, ProjectStore, Render};
use crate::stats::{Counters, Stats};
use crate::vendor_rules::VendorRule;
use crate::webhook::WebhookQueue;

/// A project that existed before the sandbox started, for v2 export tests.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SeededProject {
    /// The v2 folder holding it (`folder_001` ...).
    pub folder_id: String,
    /// Its id (24 hex characters), also listed by the v3 project list.
    pub project_id: String,
}

/// Past this many tokens, expired ones are forgotten when a new one is issued.
const PRUNE_TOKENS_ABOVE: usize = 1024;

pub(crate) struct Shared {
    pub base_url: String,
    pub api_key: String,
    pub app_id: String,
    pub user_key: String,
    pub token_ttl: Duration,
    pub render_time: Range<Duration>,
    pub render_fail_probability: f64,
    /// Whether the v3 project list exists (else 404).
    pub project_list: bool,
    pub counters: Counters,
    pub budget: Budget,
    pub limit_headers: LimitHeaders,
    pub render_slots: RenderSlots,
    pub vendor_rules: Vec<VendorRule>,
    /// The list also shows renders in progress and failed ones (`list_unexported`).
    pub list_unexported: bool,
    pub faults: Faults,
    /// Render durations and failures, drawn per project and per export.
    pub renders: Mutex<StdRng>,
    pub ids: Mutex<IdGen>,
    pub projects: RwLock<ProjectStore>,
    pub exports: RwLock<ExportStore>,
    /// Issued tokens and when each expires.
    pub tokens: Mutex<HashMap<String, Instant>>,
    pub webhooks: WebhookQueue,
    pub seeded: Vec<SeededProject>,
}

/// What a token lookup found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenState {
    Valid,
    Expired,
    Unknown,
}

impl Shared {
    /// Draws a render starting now.
    pub fn draw_render(&self, now: Instant, now_wall: SystemTime) -> Render {
        let mut rng = self.renders.lock().unwrap_or_else(|p| p.into_inner());
        Render::draw(
            &mut rng,
            &self.render_time,
            self.render_fail_probability,
            now,
            now_wall,
        )
    }

    /// Whether `token` was issued here and is still valid at `now`.
    pub fn token_state(&self, token: &str, now: Instant) -> TokenState {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        match tokens.get(token) {
            Some(&exp) if now < exp => TokenState::Valid,
            Some(_) => TokenState::Expired,
            None => TokenState::Unknown,
        }
    }

    /// Records a newly issued token.
    pub fn add_token(&self, token: String, now: Instant) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if tokens.len() > PRUNE_TOKENS_ABOVE {
            tokens.retain(|_, exp| *exp > now);
        }
        tokens.insert(token, now + self.token_ttl);
    }

    /// The counters plus the numbers derived from the renders' clocks.
    pub fn stats(&self) -> Stats {
        let now = Instant::now();
        let mut s = self.counters.snapshot();
        let projects = self.projects.read().unwrap_or_else(|p| p.into_inner());
        s.projects = projects.len() as u64;
        for p in projects.newest_first() {
            match p.phase(now) {
                Phase::Completed => s.renders_completed += 1,
                Phase::Failed { .. } => s.renders_failed += 1,
                Phase::Rendering { .. } => s.renders_in_progress += 1,
                Phase::Draft => {}
            }
        }
        drop(projects);
        let exports = self.exports.read().unwrap_or_else(|p| p.into_inner());
        for e in exports.iter() {
            match e.render.phase(now) {
                Phase::Completed => s.renders_completed += 1,
                Phase::Failed { .. } => s.renders_failed += 1,
                _ => {}
            }
        }
        s
    }
}
