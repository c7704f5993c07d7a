//! Validation of rendered projects: the AI Studios project JSON Schema plus the semantic rules a
//! schema cannot say (unique clip ids, a script for every live AI model, usable URLs).
//!
//! Every check reports a [`Violation`] naming the JSON Pointer of the offending value, so that the
//! renderer can trace it back to the CSV column or placeholder it came from.
//!
//! ```
//! use batchgen_core::validate::validate_project;
//! let project = serde_json::json!({"scenes": []});
//! let violations = validate_project(&project);
//! assert_eq!(violations[0].pointer, "/scenes");
//! ```

mod rules;
pub(crate) mod schema;

pub use rules::{UrlRule, check_url, script_text_is_empty};
pub use schema::{SchemaValidator, schema, schema_json};

use serde_json::Value;
use std::fmt;
use std::sync::OnceLock;

/// One problem found in a project: where (an RFC 6901 JSON Pointer) and what.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Violation {
    /// JSON Pointer of the offending value, `""` for the whole document.
    pub pointer: String,
    /// What is wrong and what would fix it, a lowercase sentence fragment.
    pub message: String,
}

impl Violation {
    /// A violation at `pointer`.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "(document): {}", self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

/// The project validator: the compiled schema plus the semantic rules. Build it once and share it
/// (it is `Send + Sync`); [`validate_project`] uses a process-wide one.
#[derive(Debug)]
pub struct ProjectValidator {
    schema: SchemaValidator,
}

impl ProjectValidator {
    /// Compiles the shipped schema.
    pub fn new() -> Self {
        ProjectValidator {
            schema: SchemaValidator::project(),
        }
    }

    /// The process-wide validator, compiled on first use.
    pub fn shared() -> &'static ProjectValidator {
        static SHARED: OnceLock<ProjectValidator> = OnceLock::new();
        SHARED.get_or_init(ProjectValidator::new)
    }

    /// Every violation in `project`, schema violations first then semantic ones, each list in
    /// document order. Empty when the project is valid.
    pub fn validate(&self, project: &Value) -> Vec<Violation> {
        let mut out = self.schema.violations(project, "");
        rules::check_project(project, &mut out);
        out
    }

    /// `true` when [`validate`](Self::validate) would return nothing; cheaper.
    pub fn is_valid(&self, project: &Value) -> bool {
        self.schema.is_valid(project) && {
            let mut out = Vec::new();
            rules::check_project(project, &mut out);
            out.is_empty()
        }
    }
}

impl Default for ProjectValidator {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks a project against the AI Studios project schema and the semantic rules with the
/// process-wide [`ProjectValidator`]. Returns every violation found, empty when the project is valid.
pub fn validate_project(project: &Value) -> Vec<Violation> {
    ProjectValidator::shared().validate(project)
}

#[cfg(test)]
mod tests;
