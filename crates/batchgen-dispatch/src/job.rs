//! Jobs: what the engine is given per row, and the calls that submit, follow and find them.
//!
//! The engine is built around a [`JobKind`]: each kind brings a submit call, a poll call and a
//! lookup (to find what a create whose answer was lost made), and everything else (budget,
//! retries, journal, resume, manifest, downloads, progress, Ctrl-C) is shared. Three kinds:
//! [`JobKind::CreateProject`] (`batchgen run`), [`JobKind::ExportProject`] (`batchgen
//! export`, the v3 export of an existing project) and [`JobKind::Export`] (`batchgen export
//! --api v2`).

use std::fmt;
use std::time::Duration;

use batchgen_aistudios::{
    ApiError, Client, ExportRequest, ExportStatus, Progress, ProjectExport, ProjectId, ProjectInfo,
    ProjectState, Resolution,
};
use bytes::Bytes;
use std::sync::Arc;

use crate::claims::Claims;
use crate::naming;
use crate::webhook::WebhookUrls;

/// How much earlier than this machine's clock the server may stamp an export: a lookup after
/// a lost answer considers exports created up to this long before the create was sent.
pub const EXPORT_CLOCK_SKEW: Duration = Duration::from_secs(5);

/// What a job asks the API for.
#[derive(Clone)]
#[non_exhaustive]
pub enum JobKind {
    /// Create (and render) one v3 project from this JSON body. The body's `name` must be the
    /// job's [`Job::name`] so the project can be found if the create answer is lost.
    CreateProject {
        /// The project JSON, compact, as sent.
        body: Bytes,
    },
    /// Export an existing project through v3 (`POST /api/odin/v3/editor/project/export`): a
    /// draft made by `batchgen run --draft` or one made in the vendor's editor. The remote id
    /// is the project's id; it is followed like a created project (progress, webhook).
    ///
    /// Every export starts a paid render, so one whose answer was lost is looked up (the
    /// project's state and last change, `GET /editor/project/{id}`) before it is sent again.
    ExportProject {
        /// The export request as sent (its `webhookUrl` set per row with webhooks).
        request: ProjectExport,
    },
    /// Export an existing project through the v2 endpoints, in `folder_id` (or "direct" when
    /// `None`), with the request's optional watermark. The remote id is the export id.
    Export {
        /// The project's folder; `None` for the direct endpoints.
        folder_id: Option<String>,
        /// The project to export.
        project_id: String,
        /// The export request (its watermark).
        request: ExportRequest,
    },
}

// By hand: a project body may hold a webhook URL with its token, which must not reach a log.
impl fmt::Debug for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobKind::CreateProject { body } => f
                .debug_struct("CreateProject")
                .field("body", &format_args!("<{} bytes>", body.len()))
                .finish(),
            JobKind::ExportProject { request } => f
                .debug_struct("ExportProject")
                .field("project_id", &request.project_id)
                .field("workspace_id", &request.workspace_id)
                .field("resolution", &request.resolution)
                .field(
                    "webhook_url",
                    &request.webhook_url.as_ref().map(|_| "<per-row url>"),
                )
                .finish(),
            JobKind::Export {
                folder_id,
                project_id,
                request,
            } => f
                .debug_struct("Export")
                .field("folder_id", folder_id)
                .field("project_id", project_id)
                .field("request", request)
                .finish(),
        }
    }
}

/// What one poll found.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Polled {
    /// Not finished; the percentage if the API reports one.
    Rendering { percent: Option<f64> },
    /// Finished: the video is at `download_url`.
    Done { download_url: String },
    /// Failed; the message reads after "failed to".
    Failed { message: String },
}

/// What a lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Exactly this remote object: adopt it.
    One(String),
    /// Nothing: send the create again.
    Nothing,
    /// The lookup cannot tell whether the lost create acted, and sending it again could pay
    /// twice: the row ends `unknown`, with this reason.
    Undecidable(String),
    /// More than one remote object could be the row's, or another row of the run may be
    /// creating one right now: send the create again rather than guess.
    Ambiguous {
        candidates: usize,
        others_pending: usize,
    },
}

/// What a lookup goes by.
pub(crate) struct Lookup<'a> {
    /// The row looking.
    pub row: u64,
    /// Remote objects of the row given up for a new submission: never adopted.
    pub exclude: &'a [String],
    /// When the create whose answer was lost was sent (ms since the epoch), if known.
    pub since_ms: Option<u64>,
    /// Remote objects other rows of the run hold, and their pending creates.
    pub claims: &'a Claims,
}

/// One valid row's job.
#[derive(Clone, Debug)]
pub struct Job {
    /// Row number (1-based, as in the CSV).
    pub row: u64,
    /// Row key (unique in the run).
    pub key: String,
    /// The name the remote object carries, unique per run and key (see [`crate::naming`]).
    pub name: String,
    /// The file stem for the row's video (`videos/<stem>.mp4`), safe as a file name.
    pub file_stem: String,
    /// What to ask for.
    pub kind: JobKind,
    /// A digest of what the row asks for (the rendered project before naming, or the export
    /// request and its target): the journal records it with each create, and a later run
    /// compares to know whether the row changed.
    pub hash: String,
    /// A project created and not rendered (`isExport: false`): the row ends `draft` with its
    /// project id once created, and nothing follows it.
    pub draft: bool,
    /// The row's input cells, for the manifest (shared, so snapshots are cheap).
    pub inputs: Arc<[String]>,
}

/// What the CLI feeds the engine, one per input row, in input order.
#[derive(Clone, Debug)]
pub enum JobInput {
    /// A row that rendered to a project: `batchgen run`.
    Project(ProjectRow),
    /// A row that names a project to export through v3: `batchgen export`.
    ProjectExport(ProjectExportRow),
    /// A row that names a project to export through v2: `batchgen export --api v2`.
    Export(ExportRow),
    /// A row that did not make a job; it goes into the manifest as `invalid`.
    Invalid {
        /// Row number.
        row: u64,
        /// Row key.
        key: String,
        /// Why it is invalid.
        error: String,
        /// The row's input cells.
        inputs: Vec<String>,
    },
}

/// What `batchgen run` sets in every project it sends (`--resolution`, `--workspace`,
/// `--draft`), and `batchgen export` in every v3 export (`--resolution`, `--workspace`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectFlags {
    /// `resolution`: `4k`, `1080`, `720` or `480`.
    pub resolution: Option<String>,
    /// `workspaceId`.
    pub workspace_id: Option<String>,
    /// `isExport: false`: create every project as a draft, not rendered.
    pub draft: bool,
    /// `--name TEMPLATE`: the rendered body's `name` is the project's name as it is (the
    /// caller made it unique per row), not `"<name> [<key>] #<run tag>"`.
    pub names_as_given: bool,
}

/// A valid row of `batchgen run`: the project rendered from it. The engine names the project
/// (see [`crate::naming`]) and, with webhooks, sets its callback URL.
#[derive(Clone, Debug)]
pub struct ProjectRow {
    /// Row number (1-based, as in the CSV).
    pub row: u64,
    /// Row key (unique in the run).
    pub key: String,
    /// The file stem for the row's video (`videos/<stem>.mp4`), safe as a file name.
    pub file_stem: String,
    /// The rendered project: one JSON object, compact.
    pub body: Bytes,
    /// The row's input cells, for the manifest.
    pub inputs: Vec<String>,
}

/// A valid row of `batchgen export` (v3): export project `project_id` with the run's
/// `--resolution` and `--workspace` ([`ProjectFlags`]). Its [`Job::name`] is the key.
#[derive(Clone, Debug)]
pub struct ProjectExportRow {
    /// Row number (1-based, as in the CSV).
    pub row: u64,
    /// Row key (unique in the run).
    pub key: String,
    /// The file stem for the row's video (`videos/<stem>.mp4`), safe as a file name.
    pub file_stem: String,
    /// The project to export.
    pub project_id: ProjectId,
    /// The row's input cells, for the manifest.
    pub inputs: Vec<String>,
}

/// A valid row of `batchgen export --api v2`: export project `project_id` (in `folder_id`, or direct
/// when `None`). Its [`Job::name`] is the key: exports carry no name of batchgen's choosing.
#[derive(Clone, Debug)]
pub struct ExportRow {
    /// Row number (1-based, as in the CSV).
    pub row: u64,
    /// Row key (unique in the run).
    pub key: String,
    /// The file stem for the row's video (`videos/<stem>.mp4`), safe as a file name.
    pub file_stem: String,
    /// The project's folder; `None` for the direct endpoints.
    pub folder_id: Option<String>,
    /// The project to export.
    pub project_id: String,
    /// The export request (its watermark).
    pub request: ExportRequest,
    /// The row's input cells, for the manifest.
    pub inputs: Vec<String>,
}

impl JobInput {
    /// The row number.
    pub fn row(&self) -> u64 {
        match self {
            JobInput::Project(p) => p.row,
            JobInput::ProjectExport(e) => e.row,
            JobInput::Export(e) => e.row,
            JobInput::Invalid { row, .. } => *row,
        }
    }

    /// The row key.
    pub fn key(&self) -> &str {
        match self {
            JobInput::Project(p) => &p.key,
            JobInput::ProjectExport(e) => &e.key,
            JobInput::Export(e) => &e.key,
            JobInput::Invalid { key, .. } => key,
        }
    }

    /// The row's job in run `tag` (its project named, its callback URL set from `webhooks`),
    /// or the row as invalid: `(row, key, error, inputs)`.
    pub(crate) fn into_job(
        self,
        tag: &str,
        webhooks: Option<&WebhookUrls>,
        projects: &ProjectFlags,
    ) -> Result<Job, (u64, String, String, Vec<String>)> {
        match self {
            JobInput::Project(p) => {
                let url = webhooks.map(|w| w.url(p.row));
                let edits = naming::BodyEdits {
                    webhook_url: url.as_deref(),
                    resolution: projects.resolution.as_deref(),
                    workspace_id: projects.workspace_id.as_deref(),
                    draft: projects.draft,
                    name_as_given: projects.names_as_given,
                };
                match naming::edit_project(&p.body, &p.key, tag, &edits) {
                    Ok(named) => Ok(Job {
                        hash: digest(&[&p.body]),
                        row: p.row,
                        key: p.key,
                        name: named.name,
                        file_stem: p.file_stem,
                        kind: JobKind::CreateProject {
                            body: named.body.into(),
                        },
                        draft: named.draft,
                        inputs: p.inputs.into(),
                    }),
                    Err(e) => Err((p.row, p.key, e.to_string(), p.inputs)),
                }
            }
            JobInput::ProjectExport(e) => {
                let resolution = match projects.resolution.as_deref().map(str::parse::<Resolution>)
                {
                    None => None,
                    Some(Ok(r)) => Some(r),
                    Some(Err(err)) => return Err((e.row, e.key, err.to_string(), e.inputs)),
                };
                let mut request = ProjectExport::new(e.project_id);
                request.resolution = resolution;
                request.workspace_id.clone_from(&projects.workspace_id);
                // What the row asks for: the project and its settings, not the per-run URL.
                let hash = digest(&[&serde_json::to_vec(&request).unwrap_or_default()]);
                request.webhook_url = webhooks.map(|w| w.url(e.row));
                Ok(Job {
                    hash,
                    row: e.row,
                    name: e.key.clone(),
                    key: e.key,
                    file_stem: e.file_stem,
                    kind: JobKind::ExportProject { request },
                    draft: false,
                    inputs: e.inputs.into(),
                })
            }
            JobInput::Export(e) => Ok(Job {
                hash: digest(&[
                    e.folder_id.as_deref().unwrap_or("").as_bytes(),
                    b"/",
                    e.project_id.as_bytes(),
                    b"\n",
                    &serde_json::to_vec(&e.request).unwrap_or_default(),
                ]),
                row: e.row,
                name: e.key.clone(),
                key: e.key,
                file_stem: e.file_stem,
                kind: JobKind::Export {
                    folder_id: e.folder_id,
                    project_id: e.project_id,
                    request: e.request,
                },
                draft: false,
                inputs: e.inputs.into(),
            }),
            JobInput::Invalid {
                row,
                key,
                error,
                inputs,
            } => Err((row, key, error, inputs)),
        }
    }
}

/// Whether the v3 export of `info`'s project whose answer was lost (sent at `since_ms`, if
/// known) started a render, from the project as `GET /editor/project/{id}` shows it:
///
/// - still a draft: the export never acted — send it again;
/// - rendering, exported or failed, last changed (`updatedAt`) at or after the send minus
///   [`EXPORT_CLOCK_SKEW`]: that render is the export's — adopt the project, and follow it;
/// - rendering, exported or failed, last changed before: an older render (a project exported
///   before, sent anyway) — the export never acted, send it again;
/// - no readable `updatedAt` (or no send time): a render in progress is adopted (sending
///   again would restart it and pay twice); a finished or failed one cannot be told from an
///   older render, so the row ends `unknown` rather than pay twice.
pub(crate) fn find_export(info: &ProjectInfo, since_ms: Option<u64>) -> Found {
    decide_export(
        info.id.as_str(),
        &info.state,
        info.updated_at_ms(),
        since_ms,
    )
}

/// [`find_export`] on the fields it reads.
fn decide_export(
    id: &str,
    state: &ProjectState,
    updated_at_ms: Option<u64>,
    since_ms: Option<u64>,
) -> Found {
    if *state == ProjectState::Draft {
        return Found::Nothing;
    }
    match (updated_at_ms, since_ms) {
        (Some(at), Some(since)) => {
            if at >= since.saturating_sub(EXPORT_CLOCK_SKEW.as_millis() as u64) {
                Found::One(id.to_owned())
            } else {
                Found::Nothing
            }
        }
        _ if *state == ProjectState::Rendering => Found::One(id.to_owned()),
        _ => Found::Undecidable(format!(
            "project {id} is {} and its answer gives no time of its last change, so it cannot be told whether this export or an earlier one rendered it",
            state_word(state)
        )),
    }
}

/// A state in messages.
fn state_word(s: &ProjectState) -> &str {
    match s {
        ProjectState::Rendering => "rendering",
        ProjectState::Completed => "exported",
        ProjectState::Failed => "failed",
        ProjectState::Draft => "a draft",
        ProjectState::Unknown => "in no state the answer gives",
        ProjectState::Other(w) => w,
        _ => "in a state not documented",
    }
}

/// `sha256:` and the hex SHA-256 of `parts`, concatenated.
fn digest(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

impl JobKind {
    /// Drops what only the submission needed (the project body), keeping what polling and
    /// lookups need: a row that is rendering holds no body in memory.
    pub(crate) fn release_payload(&mut self) {
        match self {
            JobKind::CreateProject { body } => *body = Bytes::new(),
            JobKind::ExportProject { .. } | JobKind::Export { .. } => {}
        }
    }

    /// For exports, what concurrent creates are compared by (`folder/project`); `None` for
    /// projects, whose lookups go by a name unique to the row, and v3 exports, whose lookup
    /// reads the one project (the CLI refuses a project exported by two rows of one run).
    pub(crate) fn target(&self) -> Option<String> {
        match self {
            JobKind::CreateProject { .. } | JobKind::ExportProject { .. } => None,
            JobKind::Export {
                folder_id,
                project_id,
                ..
            } => Some(format!(
                "{}/{project_id}",
                folder_id.as_deref().unwrap_or("")
            )),
        }
    }

    /// Whether the remote object carries the job's name (a project; an export has none of
    /// batchgen's choosing).
    pub(crate) fn named(&self) -> bool {
        matches!(self, JobKind::CreateProject { .. })
    }

    /// The project id a manifest shows before anything is sent: the project exported.
    pub(crate) fn known_project(&self) -> Option<&str> {
        match self {
            JobKind::CreateProject { .. } => None,
            JobKind::ExportProject { request } => Some(request.project_id.as_str()),
            JobKind::Export { project_id, .. } => Some(project_id),
        }
    }

    /// The manifest's `project_id` once the remote object is `remote` (or given up: `None`),
    /// and its `export_id` ([`crate::manifest::Layout::Exports`]).
    pub(crate) fn manifest_ids(
        &self,
        remote: Option<String>,
    ) -> (Option<String>, Option<Option<String>>) {
        match self {
            JobKind::CreateProject { .. } => (remote, None),
            // The remote object is the project itself.
            JobKind::ExportProject { request } => (
                Some(remote.unwrap_or_else(|| request.project_id.as_str().to_owned())),
                None,
            ),
            JobKind::Export { project_id, .. } => (Some(project_id.clone()), Some(remote)),
        }
    }

    /// Why a row whose create answer was lost ends `unknown`: `why` no lookup could tell, and
    /// what the user can do.
    pub(crate) fn unknown_message(&self, name: &str, why: &str) -> String {
        match self {
            JobKind::ExportProject { request } => format!(
                "find out whether the export whose answer was lost started a render of project {}: {why}; it may be rendering and be paid for (look at it in the vendor's dashboard); the row is not sent again unless a later run is given --resubmit-unknown",
                request.project_id
            ),
            _ => format!(
                "find out whether the create whose answer was lost made a project: {why}; a project named \"{name}\" may exist and render (look for it in the vendor's dashboard); the row is not sent again unless a later run is given --resubmit-unknown"
            ),
        }
    }

    /// Whether the kind's lookup list shows a remote object only once its work is done — the
    /// v3 project list shows only exported projects — so that a lookup finding nothing must be
    /// asked again over the time a render takes ([`crate::lookup`]). The v2 export list shows
    /// exports in progress, and a v3 export's project shows its state at once: one lookup
    /// answers.
    pub(crate) fn listed_only_when_done(&self) -> bool {
        matches!(self, JobKind::CreateProject { .. })
    }

    /// What a create is called in messages ("create the project", "create the export").
    pub(crate) fn create_what(&self) -> &'static str {
        match self {
            JobKind::CreateProject { .. } => "create the project",
            JobKind::ExportProject { .. } => "export the project",
            JobKind::Export { .. } => "create the export",
        }
    }

    /// Sends the create request (one request); the remote id.
    pub(crate) async fn submit(&self, client: &Client) -> Result<String, ApiError> {
        match self {
            JobKind::CreateProject { body } => client
                .create_project(body)
                .await
                .map(|id| id.as_str().to_owned()),
            JobKind::ExportProject { request } => client
                .export_project(request)
                .await
                .map(|id| id.as_str().to_owned()),
            JobKind::Export {
                folder_id,
                project_id,
                request,
            } => client
                .create_export(folder_id.as_deref(), project_id, request)
                .await
                .map(|e| e.id),
        }
    }

    /// Asks where the remote object stands (one request).
    pub(crate) async fn poll(&self, client: &Client, remote: &str) -> Result<Polled, ApiError> {
        match self {
            JobKind::CreateProject { .. } | JobKind::ExportProject { .. } => {
                let id = ProjectId::new(remote).map_err(|e| {
                    ApiError::new(
                        batchgen_aistudios::Call::Progress,
                        batchgen_aistudios::ApiErrorKind::InvalidId(e),
                    )
                })?;
                Ok(match client.progress(&id).await? {
                    Progress::Rendering { percent } => Polled::Rendering {
                        percent: Some(percent),
                    },
                    Progress::Done { download_url } => Polled::Done { download_url },
                    Progress::Failed { code, message } => Polled::Failed {
                        message: format!("render project {remote}: {message} ({code})"),
                    },
                })
            }
            JobKind::Export {
                folder_id,
                project_id,
                ..
            } => {
                let e = client
                    .export_status(folder_id.as_deref(), project_id, remote)
                    .await?;
                Ok(match (&e.status, e.src_url) {
                    (ExportStatus::Ready, Some(url)) => Polled::Done { download_url: url },
                    (ExportStatus::Failed, _) => Polled::Failed {
                        message: format!(
                            "export project {project_id} (export {remote}): {}",
                            e.descriptions
                                .as_deref()
                                .filter(|d| !d.trim().is_empty())
                                .unwrap_or("the export failed")
                        ),
                    },
                    // Processing, ready without a URL yet, or a status not documented:
                    // keep following until --render-timeout.
                    (status, _) => {
                        if let ExportStatus::Other(word) = status {
                            tracing::debug!(export = remote, status = %word, "export status not documented; polling on");
                        }
                        Polled::Rendering { percent: None }
                    }
                })
            }
        }
    }

    /// Looks for the remote object a create whose answer was lost may have made (one request).
    ///
    /// - Projects: not here. The engine looks in the run's shared project list
    ///   (`engine::project_list`) for the newest project named exactly as the row's, other
    ///   than those it gave up. A project whose render already failed is still adopted: it is
    ///   this row's project, and polling it reports the failure.
    /// - Exports: the project's exports (`GET /v2/exports?project_id=`) created at or after
    ///   `lookup.since_ms` minus [`EXPORT_CLOCK_SKEW`], not excluded and not held by another
    ///   row of the run; adopted only when exactly one is left and no other row of the run has
    ///   a create pending for the same project (see [`crate::claims`]). Without a known send
    ///   time, or an export without a readable `created_at`, nothing is adopted.
    /// - v3 exports: see [`find_export`].
    pub(crate) async fn find(
        &self,
        client: &Client,
        lookup: &Lookup<'_>,
    ) -> Result<Found, ApiError> {
        match self {
            // One list serves every row of the run that looks at about the same time: the
            // engine looks in it itself (`engine::project_list`).
            JobKind::CreateProject { .. } => {
                unreachable!("a project's lookup is made in the run's shared project list")
            }
            JobKind::ExportProject { request } => {
                match client.get_project(&request.project_id).await {
                    Ok(info) => Ok(find_export(&info, lookup.since_ms)),
                    // No such project: no export of it can have started (sending it again
                    // fails the row with the server's own words).
                    Err(e) if e.status() == Some(404) => Ok(Found::Nothing),
                    Err(e) => Err(e),
                }
            }
            JobKind::Export {
                folder_id,
                project_id,
                ..
            } => {
                let exports = client
                    .list_exports(folder_id.as_deref(), Some(project_id))
                    .await?;
                let Some(since) = lookup.since_ms else {
                    return Ok(Found::Nothing);
                };
                let not_before = since.saturating_sub(EXPORT_CLOCK_SKEW.as_millis() as u64);
                let candidates: Vec<String> = exports
                    .into_iter()
                    .filter(|e| &e.project_id == project_id)
                    .filter(|e| {
                        folder_id.is_none() || e.folder_id.is_none() || e.folder_id == *folder_id
                    })
                    .filter(|e| e.created_at_ms().is_some_and(|at| at >= not_before))
                    .filter(|e| !lookup.exclude.contains(&e.id))
                    .map(|e| e.id)
                    .collect();
                let target = self.target().unwrap_or_default();
                Ok(lookup.claims.adopt(lookup.row, &target, candidates))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_v3_export_is_adopted_only_when_the_project_changed_since_it_was_sent() {
        let since = 1_000_000;
        let skew = EXPORT_CLOCK_SKEW.as_millis() as u64;
        let one = Found::One("p".into());
        // A draft: the export never acted.
        assert_eq!(
            decide_export("p", &ProjectState::Draft, Some(since), Some(since)),
            Found::Nothing
        );
        for state in [
            ProjectState::Rendering,
            ProjectState::Completed,
            ProjectState::Failed,
        ] {
            // Changed after the send (or within the clock skew before it): this export's.
            assert_eq!(
                decide_export("p", &state, Some(since + 10), Some(since)),
                one
            );
            assert_eq!(
                decide_export("p", &state, Some(since - skew), Some(since)),
                one
            );
            // Changed before: an older render; the export never acted.
            assert_eq!(
                decide_export("p", &state, Some(since - skew - 1), Some(since)),
                Found::Nothing
            );
        }
        // No time: a render in progress is adopted (sending again would restart it), a
        // finished one cannot be told from an older render.
        assert_eq!(
            decide_export("p", &ProjectState::Rendering, None, Some(since)),
            one
        );
        match decide_export("p", &ProjectState::Completed, None, Some(since)) {
            Found::Undecidable(why) => assert!(
                why.starts_with("project p is exported and its answer gives no time"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide_export("p", &ProjectState::Failed, Some(since), None),
            Found::Undecidable(_)
        ));
    }
}
