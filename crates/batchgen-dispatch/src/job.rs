//! Jobs: what the engine is given per row, and the calls that submit, follow and find them.
//!
//! The engine is built around a [`JobKind`]: each kind brings a submit call, a poll call and a
//! lookup by name, and everything else (budget, retries, journal, resume, manifest, downloads,
//! progress, Ctrl-C) is shared. Today there is one kind, [`JobKind::CreateProject`]; v2 exports
//! will be another variant with its own three calls, not a second engine.

use batchgen_aistudios::{ApiError, Client, Progress, ProjectId, ProjectQuery};
use bytes::Bytes;
use std::sync::Arc;

/// What a job asks the API for.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum JobKind {
    /// Create (and render) one v3 project from this JSON body. The body's `name` must be the
    /// job's [`Job::name`] so the project can be found if the create answer is lost.
    CreateProject {
        /// The project JSON, compact, as sent.
        body: Bytes,
    },
}

/// One valid row's job.
#[derive(Clone, Debug)]
pub struct Job {
    /// Row number (1-based, as in the CSV).
    pub row: u64,
    /// Row key (unique in the run).
    pub key: String,
    /// The name the remote object carries, unique per run and key (see the crate docs).
    pub name: String,
    /// The file stem for the row's video (`videos/<stem>.mp4`), safe as a file name.
    pub file_stem: String,
    /// What to ask for.
    pub kind: JobKind,
    /// The row's input cells, for the manifest (shared, so snapshots are cheap).
    pub inputs: Arc<[String]>,
}

/// What the CLI feeds the engine, one per input row, in input order.
#[derive(Clone, Debug)]
pub enum JobInput {
    /// A row that rendered to a valid job.
    Valid(Job),
    /// A row that did not; it goes into the manifest as `invalid`.
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

impl JobInput {
    /// A valid row that creates a project.
    pub fn project(
        row: u64,
        key: String,
        name: String,
        file_stem: String,
        body: impl Into<Bytes>,
        inputs: Vec<String>,
    ) -> JobInput {
        JobInput::Valid(Job {
            row,
            key,
            name,
            file_stem,
            kind: JobKind::CreateProject { body: body.into() },
            inputs: inputs.into(),
        })
    }

    /// The row number.
    pub fn row(&self) -> u64 {
        match self {
            JobInput::Valid(j) => j.row,
            JobInput::Invalid { row, .. } => *row,
        }
    }
}

impl JobKind {
    /// Drops what only the submission needed (the project body), keeping what polling and
    /// lookups need: a row that is rendering holds no body in memory.
    pub(crate) fn release_payload(&mut self) {
        match self {
            JobKind::CreateProject { body } => *body = Bytes::new(),
        }
    }

    /// Sends the create request (one request); the remote id.
    pub(crate) async fn submit(&self, client: &Client) -> Result<String, ApiError> {
        match self {
            JobKind::CreateProject { body } => client
                .create_project(body)
                .await
                .map(|id| id.as_str().to_owned()),
        }
    }

    /// Asks where the remote object stands (one request).
    pub(crate) async fn poll(&self, client: &Client, remote: &str) -> Result<Progress, ApiError> {
        match self {
            JobKind::CreateProject { .. } => {
                let id = ProjectId::new(remote).map_err(|e| {
                    ApiError::new(
                        batchgen_aistudios::Call::Progress,
                        batchgen_aistudios::ApiErrorKind::InvalidId(e),
                    )
                })?;
                client.progress(&id).await
            }
        }
    }

    /// Looks for a remote object named exactly `name` (one request), other than those in
    /// `exclude`; the newest wins. Used after a lost create answer, before sending the create
    /// again. A project whose render already failed is still adopted: it is this row's project,
    /// and polling it reports the failure.
    pub(crate) async fn find(
        &self,
        client: &Client,
        name: &str,
        exclude: &[String],
    ) -> Result<Option<String>, ApiError> {
        match self {
            JobKind::CreateProject { .. } => {
                let page = client
                    .list_projects(&ProjectQuery::named(name).limit(100))
                    .await?;
                Ok(page
                    .projects
                    .into_iter()
                    .find(|p| {
                        p.name.as_deref() == Some(name)
                            && !exclude.iter().any(|x| x == p.id.as_str())
                    })
                    .map(|p| p.id.as_str().to_owned()))
            }
        }
    }
}
