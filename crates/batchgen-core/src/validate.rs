//! Validation of rendered projects (under construction: the schema and rules land next).

use serde_json::Value;

/// One problem found in a project: where (RFC 6901 JSON Pointer) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON Pointer of the offending value, `""` for the whole document.
    pub pointer: String,
    /// What is wrong and what would fix it, a lowercase sentence fragment.
    pub message: String,
}

/// Checks a project against the AI Studios project schema and the semantic rules.
/// Returns every violation found, empty when the project is valid.
pub fn validate_project(_project: &Value) -> Vec<Violation> {
    Vec::new()
}
