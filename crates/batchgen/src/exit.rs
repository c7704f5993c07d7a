//! Exit codes: what a command ended with, and the process's exit code for it or for its error
//! ([`crate::error::Error::exit_code`]).
//!
//! 0 all good; 2 bad usage or unusable input (nothing done); 3 finished but some rows invalid or
//! failed; 4 authentication refused; 5 the shared budget (`--shared-budget`, Redis) could not be
//! reached, at start (nothing sent) or mid-run (the run stopped sending; the same command
//! continues); 130 interrupted.

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
    /// The shared budget stopped answering; the run stopped sending and can be continued.
    BudgetLost,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::SomeRowsFailed => 3,
            Outcome::AuthRefused => 4,
            Outcome::BudgetLost => BUDGET_LOST,
            Outcome::Interrupted => 130,
        }
    }
}

/// The exit code when the shared budget (Redis) cannot be reached.
pub const BUDGET_LOST: u8 = 5;

/// Prints the error, if any (one line, see [`crate::error::report`]), and picks the exit code.
pub fn finish(result: crate::error::Result<Outcome>) -> ExitCode {
    match result {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            crate::output::say!("error: {}", crate::error::report(&err));
            ExitCode::from(err.exit_code())
        }
    }
}
