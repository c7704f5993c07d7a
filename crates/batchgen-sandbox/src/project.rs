//! Projects: what a create records, and how far its render has got.
//!
//! A render is never *run*: a project records when it was created, how long its render
//! takes and whether (and where) it fails, and every answer computes the progress from
//! the clock. No task or timer exists per project, so 10,000 renders in flight cost
//! only their records and indexes (about 1 KiB each, measured by `examples/scale.rs`)
//! and no CPU while nobody asks.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

use rand::RngExt;
use rand::rngs::StdRng;

/// A project id as the vendor makes them: 12 bytes shown as 24 lowercase hex characters
/// (a MongoDB ObjectId: 4 bytes of Unix seconds, 5 random bytes, a 3-byte counter).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct ProjectId([u8; 12]);

impl ProjectId {
    /// Parses 24 lowercase hex characters; anything else is no project id.
    pub fn parse(s: &str) -> Option<Self> {
        if s.bytes().any(|c| c.is_ascii_uppercase()) {
            return None;
        }
        let mut out = [0u8; 12];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(ProjectId(out))
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Makes project ids and webhook task ids.
pub(crate) struct IdGen {
    rng: StdRng,
    process: [u8; 5],
    counter: u32,
}

impl IdGen {
    pub fn new(mut rng: StdRng) -> Self {
        let process = rng.random();
        let counter = rng.random::<u32>() & 0x00FF_FFFF;
        IdGen {
            rng,
            process,
            counter,
        }
    }

    /// A fresh project id stamped with `at`.
    pub fn project_id(&mut self, at: SystemTime) -> ProjectId {
        let secs = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0);
        self.counter = (self.counter + 1) & 0x00FF_FFFF;
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&secs.to_be_bytes());
        b[4..9].copy_from_slice(&self.process);
        b[9..].copy_from_slice(&self.counter.to_be_bytes()[1..]);
        ProjectId(b)
    }

    /// A backend task id, shaped like a UUID so it cannot be mistaken for a project id.
    pub fn task_id(&mut self) -> u128 {
        self.rng.random()
    }
}

/// Formats a task id as a UUID (`8-4-4-4-12` hex).
pub(crate) fn format_task_id(t: u128) -> String {
    let h = format!("{t:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Why a render failed, chosen per project (the vendor documents no reasons).
const FAILURE_REASONS: [&str; 3] = [
    "the speech engine could not synthesise the script",
    "a clip's source could not be fetched",
    "the renderer stopped unexpectedly",
];

/// A render: how long it takes and whether, and where, it fails. Shared by v3 projects
/// and v2 exports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Render {
    pub started: Instant,
    pub started_at: SystemTime,
    pub duration: Duration,
    /// `Some(f)`: the render fails once `f` (0.1..0.9) of it has elapsed.
    pub fails_at: Option<f32>,
}

/// Where a render stands at some instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Phase {
    /// Saved only (`isExport: false`): never renders.
    Draft,
    /// Rendering: `progress` below 100.
    Rendering { progress: f64 },
    /// Finished; the video can be downloaded.
    Completed,
    /// Ended in failure at `progress`.
    Failed { progress: f64 },
}

impl Phase {
    /// The state name answers use.
    pub fn state(&self) -> &'static str {
        match self {
            Phase::Draft => "draft",
            Phase::Rendering { .. } => "rendering",
            Phase::Completed => "exported",
            Phase::Failed { .. } => "failed",
        }
    }

    /// Progress 0..=100 as answers report it.
    pub fn progress(&self) -> f64 {
        match *self {
            Phase::Draft => 0.0,
            Phase::Rendering { progress } | Phase::Failed { progress } => progress,
            Phase::Completed => 100.0,
        }
    }
}

impl Render {
    /// Draws a render starting now from the configured range and failure share.
    pub fn draw(
        rng: &mut StdRng,
        range: &std::ops::Range<Duration>,
        fail_probability: f64,
        now: Instant,
        now_wall: SystemTime,
    ) -> Self {
        // Always draw the same three numbers so the stream stays aligned whatever the probabilities.
        let duration = crate::faults::draw_duration(rng, range);
        let fail: f64 = rng.random();
        let at: f32 = rng.random_range(0.1..0.9);
        Render {
            started: now,
            started_at: now_wall,
            duration,
            fails_at: (fail < fail_probability).then_some(at),
        }
    }

    /// When the render stops, done or failed.
    pub fn ends_at(&self) -> Instant {
        self.started + self.end_offset()
    }

    /// Wall-clock time the render stops.
    pub fn ends_at_wall(&self) -> SystemTime {
        self.started_at + self.end_offset()
    }

    fn end_offset(&self) -> Duration {
        match self.fails_at {
            Some(f) => self.duration.mul_f32(f),
            None => self.duration,
        }
    }

    /// Where the render stands at `now`.
    pub fn phase(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.started);
        let frac = if self.duration.is_zero() {
            1.0
        } else {
            elapsed.as_secs_f64() / self.duration.as_secs_f64()
        };
        if let Some(f) = self.fails_at
            && frac >= f64::from(f)
        {
            return Phase::Failed {
                progress: round2(f64::from(f) * 100.0),
            };
        }
        if frac >= 1.0 {
            Phase::Completed
        } else {
            Phase::Rendering {
                progress: round2(frac * 100.0).min(99.99),
            }
        }
    }

    /// Credits a finished render costs: one per started minute of render time.
    pub fn credit(&self) -> u64 {
        self.duration.as_secs().div_ceil(60).max(1)
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).floor() / 100.0
}

/// One v3 project.
#[derive(Debug)]
pub(crate) struct Project {
    pub id: ProjectId,
    pub name: Box<str>,
    /// `landscape` (the default) or `portrait`, as sent.
    pub orientation: Box<str>,
    /// The `scenes` array as sent (JSON text), for get-project.
    pub scenes: Box<str>,
    pub created_at: SystemTime,
    /// Creation, or the last export.
    pub updated_at: SystemTime,
    /// The current render; `None` for a draft (`isExport: false`) never exported.
    pub render: Option<Render>,
    /// Renders started so far: 1 for a create with `isExport`, plus one per export call.
    /// Webhook deliveries carry it so that a delivery queued for an earlier render of a
    /// re-exported project is dropped.
    pub generation: u32,
    /// Where the current render's webhook goes.
    pub webhook_url: Option<Box<str>>,
    /// The current render's backend task id (a new one per render).
    pub task_id: u128,
    /// v2 folder number for seeded projects (`folder_001` is 1); `None` for v3-created ones.
    pub folder: Option<u32>,
}

impl Project {
    pub fn phase(&self, now: Instant) -> Phase {
        match &self.render {
            Some(r) => r.phase(now),
            None => Phase::Draft,
        }
    }

    /// Why the render failed, when it did.
    pub fn failure_reason(&self) -> &'static str {
        FAILURE_REASONS[(self.task_id % FAILURE_REASONS.len() as u128) as usize]
    }
}

/// Name of the v2 folder numbered `n`.
pub(crate) fn folder_name(n: u32) -> String {
    format!("folder_{n:03}")
}

/// Parses `folder_001` back to 1.
pub(crate) fn parse_folder(s: &str) -> Option<u32> {
    s.strip_prefix("folder_")?.parse().ok().filter(|&n| n > 0)
}

/// What an insert found out about the new project.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Inserted {
    pub duplicate_body: bool,
    pub duplicate_name: bool,
}

/// Every project, in creation order, with the indexes answers need. Deleted projects leave
/// a hole, so indexes stay valid.
#[derive(Default)]
pub(crate) struct ProjectStore {
    index: HashMap<ProjectId, usize>,
    list: Vec<Option<Project>>,
    bodies: HashSet<u64>,
    names: HashSet<Box<str>>,
}

impl ProjectStore {
    /// Adds a project. `body_hash` is the hash of the request body (none for seeded
    /// projects); `explicit_name` says whether the body named the project.
    pub fn insert(&mut self, p: Project, body_hash: Option<u64>, explicit_name: bool) -> Inserted {
        let mut found = Inserted::default();
        if let Some(h) = body_hash {
            found.duplicate_body = !self.bodies.insert(h);
        }
        if explicit_name {
            found.duplicate_name = !self.names.insert(p.name.clone());
        }
        self.index.insert(p.id, self.list.len());
        self.list.push(Some(p));
        found
    }

    /// The project with id `id` (24 hex characters), if any.
    pub fn get(&self, id: &str) -> Option<&Project> {
        let id = ProjectId::parse(id)?;
        self.index.get(&id).and_then(|&i| self.list[i].as_ref())
    }

    /// The project with id `id`, to change it.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Project> {
        let id = ProjectId::parse(id)?;
        let i = *self.index.get(&id)?;
        self.list[i].as_mut()
    }

    /// Deletes the project with id `id`; whether it existed.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(id) = ProjectId::parse(id) else {
            return false;
        };
        match self.index.remove(&id) {
            Some(i) => self.list[i].take().is_some(),
            None => false,
        }
    }

    /// Every project, newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &Project> {
        self.list.iter().rev().flatten()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Stream, stream_rng};

    fn render(secs: u64, fails_at: Option<f32>) -> Render {
        Render {
            started: Instant::now(),
            started_at: SystemTime::now(),
            duration: Duration::from_secs(secs),
            fails_at,
        }
    }

    #[test]
    fn ids_are_24_lowercase_hex_and_unique() {
        let mut g = IdGen::new(stream_rng(1, Stream::Ids));
        let now = SystemTime::now();
        let a = g.project_id(now).to_string();
        let b = g.project_id(now).to_string();
        assert_eq!(a.len(), 24);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, b);
        assert_eq!(ProjectId::parse(&a).unwrap().to_string(), a);
        assert!(ProjectId::parse("ABCDEF0123456789abcdef01").is_none());
        assert!(ProjectId::parse("abc").is_none());
        let t = format_task_id(g.task_id());
        assert_eq!(t.len(), 36);
        assert_eq!(t.matches('-').count(), 4);
    }

    #[test]
    fn progress_rises_then_completes() {
        let r = render(10, None);
        let p1 = r.phase(r.started + Duration::from_secs(2));
        let p2 = r.phase(r.started + Duration::from_secs(7));
        assert_eq!(p1, Phase::Rendering { progress: 20.0 });
        assert_eq!(p2, Phase::Rendering { progress: 70.0 });
        assert_eq!(
            r.phase(r.started + Duration::from_secs(10)),
            Phase::Completed
        );
        assert_eq!(r.phase(r.started), Phase::Rendering { progress: 0.0 });
        // Never shows 100 while rendering.
        let near = r.phase(r.started + Duration::from_millis(9_999));
        assert!(near.progress() < 100.0, "{near:?}");
    }

    #[test]
    fn failing_render_stops_where_it_failed() {
        let r = render(10, Some(0.5));
        assert_eq!(
            r.phase(r.started + Duration::from_secs(3)),
            Phase::Rendering { progress: 30.0 }
        );
        assert_eq!(
            r.phase(r.started + Duration::from_secs(5)),
            Phase::Failed { progress: 50.0 }
        );
        assert_eq!(r.ends_at(), r.started + Duration::from_secs(5));
        assert_eq!(
            r.phase(r.started + Duration::from_secs(60)).state(),
            "failed"
        );
    }

    #[test]
    fn credit_is_per_started_minute() {
        assert_eq!(render(1, None).credit(), 1);
        assert_eq!(render(60, None).credit(), 1);
        assert_eq!(render(61, None).credit(), 2);
    }

    #[test]
    fn store_finds_duplicates_and_lists_newest_first() {
        let mut g = IdGen::new(stream_rng(1, Stream::Ids));
        let mut s = ProjectStore::default();
        let mk = |g: &mut IdGen, name: &str| Project {
            id: g.project_id(SystemTime::now()),
            name: name.into(),
            orientation: "landscape".into(),
            scenes: "[]".into(),
            created_at: SystemTime::now(),
            updated_at: SystemTime::now(),
            render: Some(render(1, None)),
            generation: 1,
            webhook_url: None,
            task_id: 0,
            folder: None,
        };
        let a = mk(&mut g, "a");
        let a_id = a.id.to_string();
        assert_eq!(s.insert(a, Some(1), true), Inserted::default());
        let again = s.insert(mk(&mut g, "a"), Some(1), true);
        assert!(again.duplicate_body && again.duplicate_name);
        let unnamed = s.insert(mk(&mut g, "Default Template"), Some(2), false);
        assert_eq!(unnamed, Inserted::default());
        assert_eq!(s.len(), 3);
        assert_eq!(s.get(&a_id).unwrap().name.as_ref(), "a");
        assert_eq!(
            s.newest_first().next().unwrap().name.as_ref(),
            "Default Template"
        );
        assert!(s.get("000000000000000000000000").is_none());
        assert!(s.remove(&a_id));
        assert!(!s.remove(&a_id));
        assert!(s.get(&a_id).is_none());
        assert_eq!((s.len(), s.newest_first().count()), (2, 2));
    }

    #[test]
    fn folders_round_trip() {
        assert_eq!(folder_name(7), "folder_007");
        assert_eq!(parse_folder("folder_007"), Some(7));
        assert_eq!(parse_folder("folder_x"), None);
        assert_eq!(parse_folder("folder_000"), None);
    }
}
