//! `batchgen schema`: print the project JSON Schema.

use crate::error::IoAction as _;
use crate::exit::Outcome;
use std::io::Write;

pub fn run() -> crate::error::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    out.write_all(batchgen_core::validate::schema_json().as_bytes())
        .and_then(|()| out.flush())
        .action(|| "write to stdout".into())?;
    Ok(Outcome::Success)
}
