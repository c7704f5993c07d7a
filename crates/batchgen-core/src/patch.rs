//! Patches applied after placeholders and bindings: the `--patch` file (RFC 6902, may hold
//! placeholders) for every row, then a row's `patch` column (RFC 6902) and `merge` column
//! (RFC 7396). Built on the json-patch crate: a failing RFC 6902 patch changes nothing.

use crate::error::{CompileError, Origin, Problem};
use crate::row::Header;
use crate::template::doc::Doc;
use json_patch::{Patch, PatchOperation};
use serde_json::Value;
use std::path::Path;

/// The `--patch` file, compiled.
#[derive(Debug, Clone)]
pub(crate) struct PatchFile {
    /// The patch document with its placeholders, when it has any.
    pub doc: Option<Doc>,
    /// The parsed patch, when it has no placeholders.
    pub fixed: Option<Patch>,
}

impl PatchFile {
    /// Parses and compiles a patch file's text against the CSV header, and (when it has no
    /// placeholders) tries it on the template so that a patch that cannot apply is found now.
    pub fn compile(
        origin: &Path,
        text: &str,
        header: &Header,
        template: &Value,
        missing: &mut Vec<CompileError>,
    ) -> Result<PatchFile, CompileError> {
        let fail = |message: String| CompileError::Patch {
            path: origin.to_path_buf(),
            message,
        };
        let value: Value =
            serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
                fail(format!(
                    "line {} column {}: {}",
                    e.line(),
                    e.column(),
                    strip_position(&e)
                ))
            })?;
        let patch = parse_ops(&value).map_err(fail)?;
        let mut unknown = Vec::new();
        let doc = Doc::compile(&value, header, Vec::new(), "patch", &mut unknown)?;
        let found = !unknown.is_empty();
        missing.extend(unknown.into_iter().map(|e| match e {
            CompileError::UnknownColumn {
                pointer,
                placeholder,
                name,
                hint,
            } => CompileError::UnknownColumn {
                pointer: format!("{} {pointer}", origin.display()),
                placeholder,
                name,
                hint,
            },
            other => other,
        }));
        if found {
            // Not tried on the template: the report of missing columns comes first.
            return Ok(PatchFile {
                doc: Some(doc),
                fixed: None,
            });
        }
        if doc.is_static() {
            let mut probe = template.clone();
            json_patch::patch(&mut probe, &patch).map_err(|e| {
                fail(format!(
                    "operation {} ({} {}) cannot apply to the template: {}",
                    e.operation,
                    op_name(&patch.0[e.operation]),
                    e.path,
                    e.kind
                ))
            })?;
            Ok(PatchFile {
                doc: None,
                fixed: Some(patch),
            })
        } else {
            Ok(PatchFile {
                doc: Some(doc),
                fixed: None,
            })
        }
    }
}

/// Parses an RFC 6902 patch, naming the operation that is malformed.
pub(crate) fn parse_ops(value: &Value) -> Result<Patch, String> {
    let ops = value
        .as_array()
        .ok_or_else(|| "an RFC 6902 patch is a JSON array of operations, e.g. [{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"x\"}]".to_string())?;
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let parsed: PatchOperation = serde_json::from_value(op.clone())
            .map_err(|e| format!("operation {i} is not an RFC 6902 operation: {e}"))?;
        out.push(parsed);
    }
    Ok(Patch(out))
}

/// Applies `patch` to `doc`, turning a failure into a row problem.
pub(crate) fn apply(doc: &mut Value, patch: &Patch, origin: Origin) -> Result<(), Problem> {
    json_patch::patch(doc, patch).map_err(|e| Problem {
        pointer: Some(e.path.to_string()),
        origins: vec![origin],
        message: format!(
            "patch operation {} ({}) cannot apply: {}{}",
            e.operation,
            op_name(&patch.0[e.operation]),
            e.kind,
            match e.kind {
                json_patch::PatchErrorKind::TestFailed => "",
                _ => " (the path must exist; to append to an array use /-)",
            }
        ),
    })
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let mut m = e.to_string();
    if let Some(cut) = m.find(" at line ") {
        m.truncate(cut);
    }
    m
}
