//! `batchgen`: render, validate, submit and follow personalised AI Studios video projects from one
//! template and a CSV. This file only parses arguments, sets up logging and turns results into
//! exit codes; the work is in the library crates.
//!
//! Layout: `cli` (the clap types), `cmd/` (one module per command, and nothing else),
//! `batch/` (the one driver of `run` and `export` around the engine, and the engine's flags),
//! `api` (where the API is and as whom: the flags, the in-process sandbox), `display` (the
//! terminal display), `error` (the typed errors a command ends with, each with its exit code,
//! and their one printer), `exit` (outcomes to exit codes), `output` (logging, messages,
//! colours; what goes to stderr).

mod api;
mod batch;
mod cli;
mod cmd;
mod display;
mod error;
mod exit;
mod output;
mod report;
mod shard;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    output::init(
        cli.global.verbose,
        cli.global.quiet,
        output::LogFormat::from_arg(&cli.global.log_format),
        output::ColorChoice::from_arg(&cli.global.color),
    );
    let result = cmd::run(cli);
    exit::finish(result)
}
