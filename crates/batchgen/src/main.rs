//! `batchgen`: render, validate, submit and follow personalised AI Studios video projects from one
//! template and a CSV. This file only parses arguments, sets up logging and turns results into
//! exit codes; the work is in the library crates.

mod cli;
mod cmd;
mod exit;
mod output;
mod progress;
mod report;
mod shard;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    output::init_logging(cli.global.verbose, cli.global.quiet);
    let result = cmd::run(cli);
    exit::finish(result)
}
