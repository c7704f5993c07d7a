//! One module per command.

pub mod account;
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

/// `--summary-json` is written on every exit: a run that ends writes its own summary; one that
/// ends with an error (a refusal before anything was sent, or a failure after) writes this,
/// atomically, so a scheduler never reads an earlier run's summary as this one's.
fn on_error_too(
    summary: Option<std::path::PathBuf>,
    result: crate::error::Result<Outcome>,
) -> crate::error::Result<Outcome> {
    if let (Some(path), Err(e)) = (&summary, &result) {
        let json = serde_json::json!({
            "outcome": "error",
            "exit_code": e.exit_code(),
            "error": crate::error::report(e),
        });
        let text = serde_json::to_vec_pretty(&json).expect("JSON serialises");
        if let Err(w) =
            batchgen_dispatch::manifest::write_atomic(path, |w| std::io::Write::write_all(w, &text))
        {
            crate::output::say!("warning: cannot write {}: {w}", path.display());
        }
    }
    result
}

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> crate::error::Result<Outcome> {
    match cli.command {
        Command::Render(args) => render::render(args, cli.global.quiet),
        Command::Validate(args) => render::validate(args, cli.global.quiet),
        Command::Schema => schema::run(),
        Command::Run(args) => {
            let summary = args.engine.summary_json.clone();
            on_error_too(summary, run::run(*args, cli.global.quiet))
        }
        Command::Export(args) => {
            let summary = args.engine.summary_json.clone();
            on_error_too(summary, export::run(*args, cli.global.quiet))
        }
        Command::Models(args) => account::run(account::List::Models, args, cli.global.quiet),
        Command::Workspaces(args) => {
            account::run(account::List::Workspaces, args, cli.global.quiet)
        }
        Command::Exports(args) => exports::run(args, cli.global.quiet),
        Command::Manifest(args) => manifest::run(args, cli.global.quiet),
        Command::Status(args) => status::run(args),
        Command::Sandbox(args) => sandbox::run(args).map(|_| Outcome::Success),
    }
}
