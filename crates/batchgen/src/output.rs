//! Logging setup and small output helpers shared by the commands.

use std::io::IsTerminal;

/// Logs go to stderr through `tracing`; `-v` for debug, `-vv` for trace, `--quiet` for errors
/// only. `BATCHGEN_LOG` (an env-filter directive) overrides both.
pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,batchgen=debug,batchgen_dispatch=debug,batchgen_aistudios=debug",
        _ => "debug,batchgen=trace,batchgen_dispatch=trace,batchgen_aistudios=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BATCHGEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
