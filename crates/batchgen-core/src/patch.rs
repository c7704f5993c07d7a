//! Patches applied after placeholders and bindings: the `--patch` file (RFC 6902, may hold
//! placeholders) for every row, then a row's `patch` column (RFC 6902) and `merge` column
//! (RFC 7396). Built on the json-patch crate: a failing RFC 6902 patch changes nothing.

use crate::error::{CompileError, Origin, Problem};
use crate::hole::Scope;
use crate::row::Header;
use crate::template::doc::{self, Doc};
use handlebars::Handlebars;
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

/// The patches of one row: the `--patch` file, then the row's `patch` and `merge` cells (those
/// that are not blank).
#[derive(Debug)]
pub(crate) struct RowPatches<'a> {
    /// The `--patch` file, if any.
    pub file: Option<&'a PatchFile>,
    /// The row's `patch` cell (RFC 6902), if not blank.
    pub patch_cell: Option<&'a str>,
    /// The row's `merge` cell (RFC 7396), if not blank.
    pub merge_cell: Option<&'a str>,
}

impl RowPatches<'_> {
    /// Applies the patches in order to `project` (the row rendered), rendering the patch file's
    /// placeholders for the row first. Returns where the patches came from (for messages), or the
    /// row's problems: a patch that does not parse or cannot apply.
    pub fn apply(
        &self,
        project: &mut Value,
        scope: &Scope<'_>,
        registry: &Handlebars<'static>,
        scratch: &mut doc::Scratch,
    ) -> Result<Vec<Origin>, Vec<Problem>> {
        let mut applied = Vec::new();
        if let Some(pf) = self.file {
            let ops = match (&pf.fixed, &pf.doc) {
                (Some(fixed), _) => std::borrow::Cow::Borrowed(fixed),
                (None, Some(doc)) => {
                    let mut bytes = Vec::new();
                    let mut problems = Vec::new();
                    doc.render(scope, registry, scratch, &mut bytes, &mut problems);
                    if !problems.is_empty() {
                        for p in &mut problems {
                            p.origins.push(Origin::PatchFile);
                        }
                        return Err(problems);
                    }
                    let value: Value =
                        serde_json::from_slice(&bytes).expect("a rendered patch is JSON");
                    let parsed = parse_ops(&value).map_err(|m| {
                        vec![Problem {
                            pointer: None,
                            origins: vec![Origin::PatchFile],
                            message: m,
                        }]
                    })?;
                    std::borrow::Cow::Owned(parsed)
                }
                (None, None) => unreachable!("a patch file is fixed or has a document"),
            };
            apply(project, &ops, Origin::PatchFile).map_err(|p| vec![p])?;
            applied.push(Origin::PatchFile);
        }
        if let Some(cell) = self.patch_cell {
            let origin = Origin::Column("patch".into());
            let ops = serde_json::from_str::<Value>(cell)
                .map_err(|e| e.to_string())
                .and_then(|v| parse_ops(&v))
                .map_err(|m| {
                    vec![Problem {
                        pointer: None,
                        origins: vec![origin.clone()],
                        message: format!(
                            "not an RFC 6902 patch: {m} (a column named \"patch\" is read as a per-row JSON Patch; rename it if it holds something else)"
                        ),
                    }]
                })?;
            apply(project, &ops, origin.clone()).map_err(|p| vec![p])?;
            applied.push(origin);
        }
        if let Some(cell) = self.merge_cell {
            let origin = Origin::Column("merge".into());
            let merge: Value = serde_json::from_str(cell).map_err(|e| {
                vec![Problem {
                    pointer: None,
                    origins: vec![origin.clone()],
                    message: format!(
                        "not an RFC 7396 merge patch (a JSON object): {e} (a column named \"merge\" is read as a per-row merge patch; rename it if it holds something else)"
                    ),
                }]
            })?;
            json_patch::merge(project, &merge);
            applied.push(origin);
        }
        Ok(applied)
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
