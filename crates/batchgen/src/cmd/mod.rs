//! One module per command.

pub mod render;
pub mod sandbox;
mod schema;

use crate::cli::{Cli, Command};
use crate::exit::Outcome;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Render(args) => render::render(args, cli.global.quiet),
        Command::Validate(args) => render::validate(args, cli.global.quiet),
        Command::Schema => schema::run(),
        Command::Sandbox(args) => sandbox::run(args).map(|_| Outcome::Success),
    }
}
