//! The errors a command ends with, each knowing its exit code, and the one printer for them.
//!
//! Two tiers, as in cargo-nextest: expected errors (bad usage, an unusable input, a refused key,
//! a library's typed error) are variants of [`Error`]; a bug is [`Error::Internal`]. Library
//! errors keep their type up to here: their messages are fragments that read after
//! "failed to", and their causes are reached through [`std::error::Error::source`]. Only
//! [`report`] turns an error into text, walking that chain once; no message repeats its cause.

use std::error::Error as _;

use batchgen_aistudios::{ApiError, ClientError, CredentialsError};
use batchgen_core::{CompileError, InputError, TemplateError};
use batchgen_dispatch::EngineError;
use batchgen_dispatch::journal::JournalError;
use batchgen_sandbox::SandboxError;

/// The result of a command.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a command stopped before it could end with an [`crate::exit::Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage or an input that cannot be used, found before anything was done (exit 2).
    /// The message is complete: what is wrong, where, and what would fix it.
    #[error("{0}")]
    Usage(String),
    /// `--strict` and some rows are invalid: nothing was sent (exit 3). A complete message.
    #[error("{0}")]
    RowsInvalid(String),
    /// The API refused the credentials (exit 4).
    #[error(transparent)]
    AuthRefused(ApiError),
    /// `--shared-budget`: Redis cannot be reached, so nothing is sent: the run never falls back
    /// to a budget of its own (exit 5).
    #[error(transparent)]
    BudgetUnreachable(batchgen_dispatch::shared_budget::SharedBudgetError),
    /// A file or stream could not be used: "failed to {action}", then the OS's reason (exit 2).
    #[error("{action}")]
    Io {
        /// What was being done, a fragment after "failed to" ("write out/manifest.csv").
        action: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file batchgen reads back (a shard record, a shard's manifest), or a resource it needs
    /// (a port), cannot be used: "failed to {action}", the cause, then what to do (exit 2).
    #[error("{action}")]
    Unusable {
        /// What was being done, a fragment after "failed to".
        action: String,
        /// Why it failed.
        source: Box<dyn std::error::Error + Send + Sync>,
        /// What would fix it, if the cause does not say.
        hint: Option<String>,
    },
    /// The template cannot be compiled for this CSV (exit 2).
    #[error("{} does not fit {}", .template.display(), .data.display())]
    Fit {
        /// The template file.
        template: std::path::PathBuf,
        /// The CSV.
        data: std::path::PathBuf,
        /// What does not fit (boxed: it is the largest of the errors).
        source: Box<CompileError>,
    },
    /// A `--sandbox` run into a directory whose journal is of a run against another API (or of
    /// an earlier version's `--sandbox` run, which recorded its emulator's port and key): it
    /// cannot be continued (exit 2).
    #[error(transparent)]
    SandboxResume(JournalError),
    /// The in-process sandbox could not start (exit 2).
    #[error("start the sandbox")]
    Sandbox(#[from] SandboxError),
    /// The template cannot be read (exit 2).
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A patch or key cannot be used with this template and CSV (exit 2).
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The CSV cannot be read, or not to its end (exit 2).
    #[error(transparent)]
    Input(#[from] InputError),
    /// The run's journal cannot be opened, continued or written (exit 2).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The engine could not keep the run's files (exit 2).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The run store (`--store`) could not be used; its message never holds the password.
    #[error(transparent)]
    Store(#[from] batchgen_store::StoreError),
    /// No usable credentials (exit 2).
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The API client cannot be made from these flags (exit 2).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A call to the API failed for good (exit 2).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A bug: something that cannot happen did (exit 2). The message says what.
    #[error("{0} (this is a bug in batchgen)")]
    Internal(String),
}

impl Error {
    /// The process exit code this error ends the command with (see DESIGN.md): 3 for
    /// `--strict` refusals, 4 for refused credentials, 2 for everything else (nothing done, or
    /// the run's files could not be kept).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::RowsInvalid(_) => 3,
            Error::AuthRefused(_) => 4,
            Error::BudgetUnreachable(_) => crate::exit::BUDGET_LOST,
            _ => 2,
        }
    }

    /// Whether the message is an action that reads after "failed to" (a library's fragment,
    /// or an I/O action), rather than a complete sentence of its own.
    fn is_action(&self) -> bool {
        !matches!(
            self,
            Error::Usage(_) | Error::RowsInvalid(_) | Error::Fit { .. } | Error::Internal(_)
        )
    }

    /// What to do about it, when the message itself does not say.
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Unusable { hint, .. } => hint.as_deref(),
            Error::AuthRefused(_) => Some(
                "check the key (AISTUDIOS_API_KEY, --api-key-file, or --app-id with its user key)",
            ),
            Error::BudgetUnreachable(_) => Some(
                "nothing was sent: with --shared-budget the run never falls back to a budget of its own; start Redis there (or fix --shared-budget), then run the same command again",
            ),
            Error::SandboxResume(_) => Some(
                "a --sandbox run continues only the directory of a --sandbox run of this batchgen (earlier ones recorded their emulator's port): remove it or choose another --out",
            ),
            Error::Credentials(CredentialsError::Missing | CredentialsError::HalfPair { .. }) => {
                Some("or try the whole run against a local sandbox with --sandbox")
            }
            _ => None,
        }
    }

    /// An [`Error::Unusable`].
    pub fn unusable(
        action: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
        hint: Option<&str>,
    ) -> Error {
        Error::Unusable {
            action: action.into(),
            source: source.into(),
            hint: hint.map(str::to_owned),
        }
    }

    /// Whether the error is a closed pipe (`batchgen render | head`): not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(c) = cause {
            if c.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return true;
            }
            cause = c.source();
        }
        false
    }
}

/// The error as printed after `error: `: "failed to " before an action, then each cause in
/// turn after ": ", then the hint after "; ".
pub fn report(err: &Error) -> String {
    let mut text = if err.is_action() {
        format!("failed to {err}")
    } else {
        err.to_string()
    };
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    if let Some(hint) = err.hint() {
        text.push_str("; ");
        text.push_str(hint);
    }
    text
}

/// The error of a render stream writing to `to` ("stdout", a file): the CSV's, or the output's.
pub fn rendering(e: batchgen_core::RenderError<std::io::Error>, to: &std::path::Path) -> Error {
    match e {
        batchgen_core::RenderError::Input(e) => Error::Input(e),
        batchgen_core::RenderError::Sink(source) => Error::Io {
            action: format!("write {}", to.display()),
            source,
        },
    }
}

/// Names the action an I/O result was for, making it an [`Error::Io`].
pub trait IoAction<T> {
    /// `action` is a fragment after "failed to", e.g. `|| format!("write {}", path.display())`.
    fn action(self, action: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoAction<T> for std::result::Result<T, std::io::Error> {
    fn action(self, action: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            action: action(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn each_cause_is_printed_once_after_the_action() {
        let e = Error::Template(TemplateError::Read {
            path: PathBuf::from("t.json"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
        assert_eq!(report(&e), "failed to read template t.json: no such file");
        assert_eq!(e.exit_code(), 2);

        let e = Err::<(), _>(std::io::Error::other("disk full"))
            .action(|| "write out/manifest.csv".into())
            .unwrap_err();
        assert_eq!(report(&e), "failed to write out/manifest.csv: disk full");
    }

    #[test]
    fn complete_messages_are_printed_as_they_are_with_their_codes() {
        let e = Error::Usage("--shard 3/2: K must be at most N".into());
        assert_eq!(report(&e), "--shard 3/2: K must be at most N");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(Error::RowsInvalid("x".into()).exit_code(), 3);
    }

    #[test]
    fn a_sandbox_that_cannot_start_says_why_beneath() {
        let e = Error::Sandbox(SandboxError::InvalidConfig("a share outside 0..1".into()));
        assert_eq!(
            report(&e),
            "failed to start the sandbox: use this configuration: a share outside 0..1"
        );
    }

    #[test]
    fn missing_credentials_suggest_the_sandbox() {
        let e = Error::Credentials(CredentialsError::Missing);
        let text = report(&e);
        assert!(
            text.starts_with("failed to find credentials: set "),
            "{text}"
        );
        assert!(
            text.ends_with("; or try the whole run against a local sandbox with --sandbox"),
            "{text}"
        );
    }

    #[test]
    fn broken_pipes_are_found_beneath_an_action() {
        let e = Err::<(), _>(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .action(|| "write to stdout".into())
            .unwrap_err();
        assert!(e.is_broken_pipe());
        assert!(!Error::Usage("x".into()).is_broken_pipe());
    }
}
