//! Exit codes, and turning errors into messages at the edge.
//!
//! 0 all good; 2 bad usage or unusable input (nothing done); 3 finished but some rows invalid or
//! failed; 4 authentication refused; 130 interrupted.

use std::process::ExitCode;

/// What a command ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked.
    Success,
    /// The job finished but some rows are invalid or failed.
    SomeRowsFailed,
    /// The API refused the credentials; the run stopped at once.
    AuthRefused,
    /// Interrupted (Ctrl-C / SIGTERM); the run can be resumed.
    Interrupted,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::SomeRowsFailed => 3,
            Outcome::AuthRefused => 4,
            Outcome::Interrupted => 130,
        }
    }
}

/// An error that ends the command with a specific exit code; any other error exits 2.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Fatal {
    /// The exit code.
    pub code: u8,
    /// The message, complete.
    pub message: String,
}

/// Prints the error, if any, and picks the exit code.
pub fn finish(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let code = err.downcast_ref::<Fatal>().map_or(2, |f| f.code);
            crate::output::say!("error: {}", render_chain(&err));
            ExitCode::from(code)
        }
    }
}

/// The exit code an error ends the command with: a [`Fatal`]'s, else 2.
pub fn code_of(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<Fatal>().map_or(2, |f| f.code)
}

/// The error as printed (without the `error: ` prefix).
pub fn message_of(err: &anyhow::Error) -> String {
    render_chain(err)
}

fn render_chain(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
