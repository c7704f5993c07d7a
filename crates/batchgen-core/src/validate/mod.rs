//! Validation of rendered projects: the AI Studios project JSON Schema plus the semantic rules a
//! schema cannot say (unique `sceneIdx` and clip ids, a script for every live avatar in either of
//! the vendor's forms, script ids that match the avatar, usable URLs), and the check of a project's
//! avatars against the account's ([`AvatarList`]).
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

mod avatars;
pub(crate) mod rules;
pub(crate) mod schema;
pub(crate) mod script;
mod url;

pub use avatars::{Avatar, AvatarList};
pub use schema::{SchemaValidator, schema, schema_json};
pub use script::script_text_is_empty;
pub use url::{UrlRule, check_url};

use serde_json::Value;
use std::fmt;
use std::sync::OnceLock;

/// One problem found in a project: where (an RFC 6901 JSON Pointer), what, and which rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Violation {
    /// JSON Pointer of the offending value, `""` for the whole document.
    pub pointer: String,
    /// What is wrong and what would fix it, a lowercase sentence fragment.
    pub message: String,
    /// Which rule, with what a caller needs to react to it (a hint, the other values involved)
    /// without reading the message.
    pub kind: ViolationKind,
}

/// The rule a [`Violation`] breaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ViolationKind {
    /// A schema keyword. `expected_type` is the one JSON type the place takes, when the value has
    /// another type (`"layer": "3"` gives [`JsonType::Integer`]).
    Schema {
        /// The JSON type wanted, when the violation is a wrong type with a single answer.
        expected_type: Option<JsonType>,
    },
    /// A URL field holds no usable URL.
    Url,
    /// Two clips of a scene share an id.
    ClipId,
    /// Two scenes share a `sceneIdx`.
    SceneIndex {
        /// Pointer of the first scene's `sceneIdx`.
        first: String,
    },
    /// A script rule of scene `scene` (what the avatars say, their voice, their ids).
    Script {
        /// The scene's index in `scenes`.
        scene: usize,
        /// Pointers of the other values the rule compared this one with (the avatar's
        /// `model.ai_name` for a `modelId`), so that a caller can say which one a row changed.
        related: Vec<String>,
    },
    /// An avatar or its clothes is not among the account's ([`AvatarList`]).
    UnknownAvatar {
        /// The closest known id, when one is close.
        closest: Option<String>,
    },
    /// Anything else.
    Other,
}

/// A JSON type, as a schema names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JsonType {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean,
    /// A number without a fraction.
    Integer,
    /// Any number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl Violation {
    /// A violation at `pointer`, of kind [`ViolationKind::Other`].
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            pointer: pointer.into(),
            message: message.into(),
            kind: ViolationKind::Other,
        }
    }

    /// The same violation with its kind set.
    pub fn with_kind(mut self, kind: ViolationKind) -> Self {
        self.kind = kind;
        self
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
