//! `batchgen schema`: print the project JSON Schema.

use crate::exit::Outcome;
use std::io::Write;

pub fn run() -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    out.write_all(batchgen_core::validate::schema_json().as_bytes())?;
    out.flush()?;
    Ok(Outcome::Success)
}
