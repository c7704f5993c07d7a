//! v2 exports: the export object of `reference/aistudios-v2-exports.txt` and its store.

use tokio::time::Instant;

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::project::{Phase, ProjectId, Render, folder_name};

/// The `author_id` every export carries (the sandbox has one account).
pub(crate) const AUTHOR_ID: &str = "user_sandbox";

/// One export task.
#[derive(Debug)]
pub(crate) struct Export {
    /// 1-based; the id is `export_001`, `export_002`, ...
    pub number: u32,
    pub project_id: ProjectId,
    pub folder: Option<u32>,
    pub name: Box<str>,
    pub render: Render,
}

impl Export {
    pub fn id(&self) -> String {
        export_id(self.number)
    }

    /// The export object exactly as documented, as it stands at `now`.
    pub fn to_json(&self, now: Instant, base_url: &str) -> Value {
        let phase = self.render.phase(now);
        let (status, src_url, finished_at, descriptions) = match phase {
            Phase::Completed => (
                "ready",
                Some(format!("{base_url}/downloads/{}.mp4", self.id())),
                Some(rfc3339(self.render.ends_at_wall())),
                "Export completed successfully.".to_owned(),
            ),
            Phase::Failed { .. } => (
                "failed",
                None,
                Some(rfc3339(self.render.ends_at_wall())),
                "Export failed: the renderer stopped unexpectedly.".to_owned(),
            ),
            Phase::Rendering { .. } | Phase::Draft => {
                ("processing", None, None, "Export started.".to_owned())
            }
        };
        json!({
            "id": self.id(),
            "status": status,
            "src_url": src_url,
            "project_id": self.project_id.to_string(),
            "created_at": rfc3339(self.render.started_at),
            "finished_at": finished_at,
            "name": self.name.as_ref(),
            "author_id": AUTHOR_ID,
            "folder_id": self.folder.map(folder_name),
            "descriptions": descriptions,
        })
    }
}

/// `export_001` for 1.
pub(crate) fn export_id(n: u32) -> String {
    format!("export_{n:03}")
}

/// Every export, in creation order.
#[derive(Default)]
pub(crate) struct ExportStore {
    list: Vec<Export>,
}

impl ExportStore {
    /// The number the next export gets.
    pub fn next_number(&self) -> u32 {
        self.list.len() as u32 + 1
    }

    pub fn push(&mut self, e: Export) {
        debug_assert_eq!(e.number, self.next_number());
        self.list.push(e);
    }

    /// The export with id `id` (exactly as the sandbox wrote it), if any.
    pub fn get(&self, id: &str) -> Option<&Export> {
        let n: u32 = id.strip_prefix("export_")?.parse().ok()?;
        let e = self.list.get(n.checked_sub(1)? as usize)?;
        (e.id() == id).then_some(e)
    }

    /// Every export, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Export> {
        self.list.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Stream, stream_rng};
    use crate::project::IdGen;
    use std::time::{Duration, SystemTime};

    fn export(number: u32, secs: u64, fails_at: Option<f32>) -> Export {
        let mut ids = IdGen::new(stream_rng(1, Stream::Ids));
        Export {
            number,
            project_id: ids.project_id(SystemTime::now()),
            folder: Some(1),
            name: "Exported Video".into(),
            render: Render {
                started: Instant::now(),
                started_at: SystemTime::now(),
                duration: Duration::from_secs(secs),
                fails_at,
            },
        }
    }

    #[test]
    fn export_object_moves_from_processing_to_ready() {
        let e = export(1, 10, None);
        let early = e.to_json(e.render.started, "http://h");
        assert_eq!(early["status"], "processing");
        assert_eq!(early["src_url"], Value::Null);
        assert_eq!(early["finished_at"], Value::Null);
        assert_eq!(early["folder_id"], "folder_001");
        assert_eq!(early["id"], "export_001");
        let keys: Vec<_> = early.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "id",
                "status",
                "src_url",
                "project_id",
                "created_at",
                "finished_at",
                "name",
                "author_id",
                "folder_id",
                "descriptions"
            ]
        );
        let late = e.to_json(e.render.started + Duration::from_secs(11), "http://h");
        assert_eq!(late["status"], "ready");
        assert_eq!(late["src_url"], "http://h/downloads/export_001.mp4");
        assert!(late["finished_at"].is_string());
    }

    #[test]
    fn failed_export_has_no_src_url() {
        let e = export(1, 10, Some(0.5));
        let late = e.to_json(e.render.started + Duration::from_secs(6), "http://h");
        assert_eq!(late["status"], "failed");
        assert_eq!(late["src_url"], Value::Null);
    }

    #[test]
    fn store_finds_exports_by_exact_id() {
        let mut s = ExportStore::default();
        s.push(export(1, 1, None));
        s.push(export(2, 1, None));
        assert_eq!(s.get("export_002").unwrap().number, 2);
        assert!(s.get("export_2").is_none());
        assert!(s.get("export_003").is_none());
        assert!(s.get("export_000").is_none());
        assert!(s.get("nope").is_none());
    }
}
