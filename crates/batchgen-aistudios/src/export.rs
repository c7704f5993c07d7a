//! v2 exports (`reference/aistudios-v2-exports.txt`): the export object, its status, and the
//! create request with its optional watermark.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::lenient::{field, id_string, kind_of, non_empty, text};

/// An export task's status.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportStatus {
    /// `processing`: the video is being made.
    Processing,
    /// `ready`: `src_url` points at the video.
    Ready,
    /// `failed`.
    Failed,
    /// A status this client does not know, as sent.
    Other(String),
}

impl ExportStatus {
    /// Reads a status word (case-insensitive).
    pub fn parse(s: &str) -> ExportStatus {
        match s.trim().to_ascii_lowercase().as_str() {
            "processing" => ExportStatus::Processing,
            "ready" => ExportStatus::Ready,
            "failed" => ExportStatus::Failed,
            _ => ExportStatus::Other(s.to_owned()),
        }
    }

    /// The word as the vendor writes it (`Other` as sent).
    pub fn as_str(&self) -> &str {
        match self {
            ExportStatus::Processing => "processing",
            ExportStatus::Ready => "ready",
            ExportStatus::Failed => "failed",
            ExportStatus::Other(s) => s,
        }
    }
}

/// An export object as the v2 endpoints return it.
///
/// `id`, `status` and `project_id` are required; every other field is optional because the
/// client accepts what the server leaves out. Ids given as numbers are kept as strings.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Export {
    /// The export's id (`export_001`).
    pub id: String,
    /// Its status.
    pub status: ExportStatus,
    /// The exported video, once `Ready`.
    pub src_url: Option<String>,
    /// The exported project.
    pub project_id: String,
    /// The project's folder; `None` for direct (folder-less) exports.
    pub folder_id: Option<String>,
    /// When the export was created, as the server wrote it.
    pub created_at: Option<String>,
    /// When it finished, once it has.
    pub finished_at: Option<String>,
    /// The export's name.
    pub name: Option<String>,
    /// Who made it.
    pub author_id: Option<String>,
    /// The server's description ("Export started.").
    pub descriptions: Option<String>,
}

impl Export {
    /// When the export was created, in milliseconds since the Unix epoch: `created_at` read as
    /// RFC 3339 (`2024-06-10T08:30:00Z`, `2024-06-10T10:30:00.250+02:00`; a lowercase `t` or
    /// `z`, or a space for the `T`, accepted). `None` when absent or not such a time.
    pub fn created_at_ms(&self) -> Option<u64> {
        self.created_at.as_deref().and_then(parse_rfc3339_ms)
    }

    /// Reads one export object; unknown fields are ignored.
    pub(crate) fn from_value(v: &Value) -> Result<Export, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("expected an export object, found {}", kind_of(v)))?;
        Export::from_object(obj)
    }

    fn from_object(obj: &Map<String, Value>) -> Result<Export, String> {
        let id = field(obj, &["id", "export_id", "exportId"])
            .and_then(id_string)
            .ok_or("the export has no id")?;
        let status = field(obj, &["status", "state"])
            .and_then(text)
            .map(|s| ExportStatus::parse(&s))
            .ok_or("the export has no status")?;
        let project_id = field(obj, &["project_id", "projectId"])
            .and_then(id_string)
            .ok_or("the export has no project_id")?;
        let opt = |names: &[&str]| field(obj, names).and_then(text);
        Ok(Export {
            id,
            status,
            src_url: field(obj, &["src_url", "srcUrl"]).and_then(non_empty),
            project_id,
            folder_id: field(obj, &["folder_id", "folderId"]).and_then(id_string),
            created_at: opt(&["created_at", "createdAt"]),
            finished_at: opt(&["finished_at", "finishedAt"]),
            name: opt(&["name"]),
            author_id: field(obj, &["author_id", "authorId"]).and_then(id_string),
            descriptions: opt(&["descriptions", "description"]),
        })
    }

    /// Reads a list answer: a bare array (as documented), or an object whose `exports`,
    /// `items`, `list` or `data` field is the array.
    pub(crate) fn list_from_value(v: &Value) -> Result<Vec<Export>, String> {
        let items = match v {
            Value::Array(items) => items,
            Value::Object(obj) => field(obj, &["exports", "items", "list", "data"])
                .and_then(Value::as_array)
                .ok_or("the list answer has no array of exports")?,
            other => {
                return Err(format!(
                    "expected a list of exports, found {}",
                    kind_of(other)
                ));
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(i, e)| Export::from_value(e).map_err(|m| format!("export {i}: {m}")))
            .collect()
    }
}

/// The body of a create-export request. `ExportRequest::default()` asks for no watermark and
/// sends `{}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExportRequest {
    /// An optional watermark.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
}

impl ExportRequest {
    /// A request with this watermark.
    pub fn with_watermark(watermark: Watermark) -> ExportRequest {
        ExportRequest {
            watermark: Some(watermark),
        }
    }

    /// Checks what the vendor documents before a request is spent on it: `src_url` not
    /// empty, positions within 0..=1, scale finite and above 0.
    pub(crate) fn check(&self) -> Result<(), String> {
        let Some(w) = &self.watermark else {
            return Ok(());
        };
        if w.src_url.trim().is_empty() {
            return Err("watermark.src_url is empty; give the watermark image's URL".into());
        }
        for (name, v) in [("pos_x", w.pos_x), ("pos_y", w.pos_y)] {
            if let Some(v) = v
                && !(0.0..=1.0).contains(&v)
            {
                return Err(format!(
                    "watermark.{name} is {v}; it must be within 0 and 1"
                ));
            }
        }
        if let Some(s) = w.scale
            && !(s.is_finite() && s > 0.0)
        {
            return Err(format!("watermark.scale is {s}; it must be above 0"));
        }
        Ok(())
    }
}

/// A watermark image laid over the exported video. Absent fields are not sent, so the
/// vendor's defaults apply (`pos_x` 0.5, `pos_y` 0.5, `scale` 1).
///
/// ```
/// use batchgen_aistudios::Watermark;
/// let w = Watermark::new("https://example.com/logo.png").position(0.9, 0.1);
/// assert_eq!(
///     serde_json::to_string(&w).unwrap(),
///     r#"{"src_url":"https://example.com/logo.png","pos_x":0.9,"pos_y":0.1}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Watermark {
    /// The watermark image's URL (required).
    pub src_url: String,
    /// Horizontal position, 0..=1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos_x: Option<f64>,
    /// Vertical position, 0..=1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos_y: Option<f64>,
    /// Size factor, above 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
}

impl Watermark {
    /// A watermark with the vendor's default position and scale.
    pub fn new(src_url: impl Into<String>) -> Watermark {
        Watermark {
            src_url: src_url.into(),
            pos_x: None,
            pos_y: None,
            scale: None,
        }
    }

    /// Sets the position (each 0..=1).
    pub fn position(mut self, x: f64, y: f64) -> Watermark {
        self.pos_x = Some(x);
        self.pos_y = Some(y);
        self
    }

    /// Sets the scale (above 0).
    pub fn scale(mut self, scale: f64) -> Watermark {
        self.scale = Some(scale);
        self
    }
}

/// Reads an RFC 3339 time as milliseconds since the Unix epoch (see [`Export::created_at_ms`]).
pub(crate) fn parse_rfc3339_ms(text: &str) -> Option<u64> {
    let mut t = text.trim().to_ascii_uppercase();
    if t.as_bytes().get(10) == Some(&b' ') {
        t.replace_range(10..11, "T");
    }
    let at =
        time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn created_at_reads_as_rfc3339() {
        for (text, secs) in [
            ("1970-01-01T00:00:00Z", 0u64),
            ("2000-02-29T00:00:00Z", 951_782_400),
            ("2024-06-10T08:30:00Z", 1_718_008_200),
            ("2100-01-01T00:00:00Z", 4_102_444_800),
        ] {
            assert_eq!(parse_rfc3339_ms(text), Some(secs * 1000), "{text}");
        }
        assert_eq!(
            parse_rfc3339_ms("2024-06-10T10:30:00.250+02:00"),
            Some(1_718_008_200_250)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-06-10t08:30:00.25z"),
            Some(1_718_008_200_250)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-06-10 03:30:00-05:00"),
            Some(1_718_008_200_000)
        );
        for bad in [
            "",
            "2024-06-10",
            "2024-06-10T08:30:00",
            "2024-13-10T08:30:00Z",
            "2024-06-10T08:30:00.Z",
            "2024-06-10T08:30:00+0200",
            "yesterday at noon",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    fn documented_ready() -> Value {
        json!({
            "id": "export_001",
            "status": "ready",
            "src_url": "https://example.com/exports/export_001.mp4",
            "project_id": "project_001",
            "created_at": "2023-10-02T09:00:00Z",
            "finished_at": "2023-10-02T09:15:00Z",
            "name": "Exported Video",
            "author_id": "user_123",
            "folder_id": "folder_001",
            "descriptions": "Export completed successfully."
        })
    }

    #[test]
    fn reads_the_documented_objects() {
        let e = Export::from_value(&documented_ready()).unwrap();
        assert_eq!(e.id, "export_001");
        assert_eq!(e.status, ExportStatus::Ready);
        assert_eq!(
            e.src_url.as_deref(),
            Some("https://example.com/exports/export_001.mp4")
        );
        assert_eq!(e.project_id, "project_001");
        assert_eq!(e.folder_id.as_deref(), Some("folder_001"));
        assert_eq!(e.created_at.as_deref(), Some("2023-10-02T09:00:00Z"));
        assert_eq!(e.finished_at.as_deref(), Some("2023-10-02T09:15:00Z"));
        assert_eq!(e.name.as_deref(), Some("Exported Video"));
        assert_eq!(e.author_id.as_deref(), Some("user_123"));
        assert_eq!(
            e.descriptions.as_deref(),
            Some("Export completed successfully.")
        );

        let processing = json!({
            "id": "export_001", "status": "processing", "src_url": null, "project_id": "project_001",
            "created_at": "2023-10-02T09:00:00Z", "finished_at": null, "name": "Exported Video",
            "author_id": "user_123", "folder_id": null, "descriptions": "Export started."
        });
        let e = Export::from_value(&processing).unwrap();
        assert_eq!(e.status, ExportStatus::Processing);
        assert_eq!((e.src_url, e.folder_id, e.finished_at), (None, None, None));
    }

    #[test]
    fn liberal_in_what_it_accepts() {
        let e =
            Export::from_value(&json!({"id": 7, "status": "QUEUED", "projectId": 12, "extra": []}))
                .unwrap();
        assert_eq!(e.id, "7");
        assert_eq!(e.project_id, "12");
        assert_eq!(e.status, ExportStatus::Other("QUEUED".into()));
        assert_eq!(ExportStatus::parse("Failed"), ExportStatus::Failed);
        assert!(Export::from_value(&json!({"status": "ready", "project_id": "p"})).is_err());
        assert!(Export::from_value(&json!({"id": "e", "project_id": "p"})).is_err());
        assert!(Export::from_value(&json!({"id": "e", "status": "ready"})).is_err());
    }

    #[test]
    fn list_shapes() {
        assert_eq!(
            Export::list_from_value(&json!([documented_ready()]))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            Export::list_from_value(&json!({"exports": [documented_ready()]}))
                .unwrap()
                .len(),
            1
        );
        assert!(Export::list_from_value(&json!([])).unwrap().is_empty());
        assert!(Export::list_from_value(&json!({"count": 1})).is_err());
        assert!(Export::list_from_value(&json!([{"id": "x"}])).is_err());
    }

    #[test]
    fn request_bodies_omit_absent_fields() {
        assert_eq!(
            serde_json::to_string(&ExportRequest::default()).unwrap(),
            "{}"
        );
        let r = ExportRequest::with_watermark(Watermark::new("https://example.com/logo.png"));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"watermark":{"src_url":"https://example.com/logo.png"}}"#
        );
        let r = ExportRequest::with_watermark(
            Watermark::new("https://example.com/logo.png")
                .position(0.5, 0.5)
                .scale(1.0),
        );
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"watermark": {"src_url": "https://example.com/logo.png", "pos_x": 0.5, "pos_y": 0.5, "scale": 1.0}})
        );
    }

    #[test]
    fn request_checks() {
        assert!(ExportRequest::default().check().is_ok());
        let w = |w: Watermark| ExportRequest::with_watermark(w).check();
        assert!(
            w(Watermark::new("https://e/l.png")
                .position(0.0, 1.0)
                .scale(0.1))
            .is_ok()
        );
        assert_eq!(
            w(Watermark::new("https://e/l.png").position(1.5, 0.5)).unwrap_err(),
            "watermark.pos_x is 1.5; it must be within 0 and 1"
        );
        assert!(w(Watermark::new("https://e/l.png").position(0.5, -0.1)).is_err());
        assert!(w(Watermark::new("https://e/l.png").scale(0.0)).is_err());
        assert!(w(Watermark::new("https://e/l.png").scale(f64::NAN)).is_err());
        assert!(w(Watermark::new(" ")).is_err());
    }
}
