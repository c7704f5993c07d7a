//! One module per command.

pub mod export;
pub mod exports;
pub mod manifest;
pub mod render;
pub mod run;
pub mod sandbox;
mod schema;
pub mod status;

use crate::cli::{Cli, Command};
use crate::exit::Outcome;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Render(args) => render::render(args, cli.global.quiet),
        Command::Validate(args) => render::validate(args, cli.global.quiet),
        Command::Schema => schema::run(),
        Command::Run(args) => run::run(*args, cli.global.quiet),
        Command::Export(args) => export::run(*args, cli.global.quiet),
        Command::Exports(args) => exports::run(args, cli.global.quiet),
        Command::Manifest(args) => manifest::run(args, cli.global.quiet),
        Command::Status(args) => status::run(args),
        Command::Sandbox(args) => sandbox::run(args).map(|_| Outcome::Success),
    }
}
