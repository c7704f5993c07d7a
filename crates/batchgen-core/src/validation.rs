//! Validation of rendered rows, planned once per template.
//!
//! The template's fixed parts are checked once at compile time; a row is then checked in full
//! (schema and rules) and every violation is traced back to the placeholder, binding or patch
//! it came from.

use crate::error::{Origin, Problem};
use crate::pointer::is_within;
use crate::template::doc::Doc;
use crate::template::origins_for;
use crate::validate::{ProjectValidator, Violation};
use serde_json::Value;

/// How rows of one template are validated.
#[derive(Debug)]
pub(crate) struct RowValidator {
    validator: &'static ProjectValidator,
    fixed: Vec<Violation>,
}

impl RowValidator {
    /// Plans validation for `doc`, compiled from `document`.
    pub fn new(document: &Value, doc: &Doc, _patched: bool) -> Self {
        let validator = ProjectValidator::shared();
        let touched: Vec<&str> = doc
            .holes
            .iter()
            .map(|h| h.pointer.as_str())
            .chain(doc.bindings.iter().map(|b| b.pointer.as_str()))
            .collect();
        let fixed = validator
            .validate(document)
            .into_iter()
            .filter(|v| {
                !touched
                    .iter()
                    .any(|p| is_within(&v.pointer, p) || is_within(p, &v.pointer))
            })
            .collect();
        RowValidator { validator, fixed }
    }

    /// Violations in the template's fixed parts: every row would have them unless a patch fixes them.
    pub fn template_violations(&self) -> Vec<Violation> {
        self.fixed.clone()
    }

    /// Checks a rendered (unpatched) project.
    pub fn check_rendered(&self, bytes: &[u8], doc: &Doc) -> Result<(), Vec<Problem>> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            vec![Problem {
                pointer: None,
                origins: Vec::new(),
                message: format!("internal error: rendered JSON does not parse: {e}"),
            }]
        })?;
        self.check_value(&value, doc, &[])
    }

    /// Checks a project tree; `patches` are the patches applied to it (origins of last resort).
    pub fn check_value(
        &self,
        project: &Value,
        doc: &Doc,
        patches: &[Origin],
    ) -> Result<(), Vec<Problem>> {
        if self.validator.is_valid(project) {
            return Ok(());
        }
        Err(self
            .validator
            .validate(project)
            .into_iter()
            .map(|v| Problem {
                origins: origins_for(doc, &v.pointer, patches),
                pointer: Some(v.pointer),
                message: v.message,
            })
            .collect())
    }
}
