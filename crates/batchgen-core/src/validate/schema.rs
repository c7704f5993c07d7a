//! The shipped JSON Schema of an AI Studios project and its compiled form.

use super::{JsonType, Violation, ViolationKind};
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;
use std::sync::OnceLock;

const SCHEMA_JSON: &str = include_str!("../../schema/aistudios-project.schema.json");

/// The project JSON Schema (draft 2020-12) as text, exactly as shipped and as `batchgen schema`
/// prints it.
pub fn schema_json() -> &'static str {
    SCHEMA_JSON
}

/// The project JSON Schema, parsed.
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::from_str(SCHEMA_JSON).expect("the shipped schema is valid JSON")
    })
}

/// A compiled schema: the whole project schema, or one of its definitions (a clip, a scene) so that
/// a part of a project can be checked alone.
#[derive(Debug)]
pub struct SchemaValidator {
    inner: jsonschema::Validator,
}

impl SchemaValidator {
    /// The whole project schema.
    pub fn project() -> Self {
        Self::compile(schema())
    }

    /// The schema for the value at `pointer` inside a project *when it is a plain location*:
    /// `definition` names an entry of `$defs` (`"clip"`, `"scene"`, ...). Returns `None` when there is
    /// no such definition.
    pub fn definition(definition: &str) -> Option<Self> {
        schema().get("$defs")?.get(definition)?;
        Some(Self::for_subschema(
            &serde_json::json!({ "$ref": format!("#/$defs/{definition}") }),
        ))
    }

    /// Compiles `subschema` in the context of the project schema, so that its `$ref`s to
    /// `#/$defs/...` resolve.
    pub fn for_subschema(subschema: &Value) -> Self {
        let mut doc = subschema.clone();
        if let (Value::Object(map), Some(defs)) = (&mut doc, schema().get("$defs")) {
            map.insert("$defs".into(), defs.clone());
            map.insert("$schema".into(), schema()["$schema"].clone());
        }
        Self::compile(&doc)
    }

    fn compile(doc: &Value) -> Self {
        let inner = jsonschema::options()
            .build(doc)
            .expect("the shipped schema compiles");
        SchemaValidator { inner }
    }

    /// `true` when `value` satisfies the schema.
    pub fn is_valid(&self, value: &Value) -> bool {
        self.inner.is_valid(value)
    }

    /// Every violation of the schema in `value`, pointers prefixed with `base` (the pointer of
    /// `value` inside the project).
    pub fn violations(&self, value: &Value, base: &str) -> Vec<Violation> {
        if self.inner.is_valid(value) {
            return Vec::new();
        }
        let mut out: Vec<Violation> = self
            .inner
            .iter_errors(value)
            .map(|e| {
                let pointer = format!("{base}{}", e.instance_path().as_str());
                let message = describe(e.kind(), e.instance(), &e.to_string());
                let expected_type = match e.kind() {
                    ValidationErrorKind::Type {
                        kind: jsonschema::error::TypeKind::Single(t),
                    } => Some(json_type(t.as_str())),
                    _ => None,
                };
                Violation::new(pointer, message).with_kind(ViolationKind::Schema { expected_type })
            })
            .collect();
        out.dedup();
        out
    }
}

/// A person's account of one schema error: what was expected, what was found.
fn describe(kind: &ValidationErrorKind, instance: &Value, fallback: &str) -> String {
    match kind {
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                jsonschema::error::TypeKind::Single(t) => article(t.as_str()).to_string(),
                jsonschema::error::TypeKind::Multiple(set) => {
                    let names: Vec<&str> = set.iter().map(|t| t.as_str()).collect();
                    names.join(" or ")
                }
            };
            format!("expected {expected}, found {}", found(instance))
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            format!("missing required field \"{name}\"")
        }
        ValidationErrorKind::Enum { options } => {
            let list: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(|v| v.to_string()).collect())
                .unwrap_or_default();
            let quoted = match instance {
                Value::Number(_) | Value::Bool(_) => Some(Value::String(instance.to_string())),
                _ => None,
            };
            let hint = match quoted {
                Some(q) if options.as_array().is_some_and(|o| o.contains(&q)) => {
                    format!(": write it as a string, {q}")
                }
                _ => String::new(),
            };
            format!(
                "expected one of {}, found {}{hint}",
                list.join(", "),
                found(instance)
            )
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!("expected {expected_value}, found {}", found(instance))
        }
        ValidationErrorKind::Minimum { limit } => {
            format!("{} is below the minimum {limit}", found(instance))
        }
        ValidationErrorKind::Maximum { limit } => {
            format!("{} is above the maximum {limit}", found(instance))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("{} must be greater than {limit}", found(instance))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("{} must be less than {limit}", found(instance))
        }
        ValidationErrorKind::MinItems { limit: 1 } => "must not be empty".to_string(),
        ValidationErrorKind::MinItems { limit } => format!("must have at least {limit} items"),
        ValidationErrorKind::MaxItems { limit } => format!(
            "holds {} entries but takes at most {limit}",
            instance.as_array().map_or(0, Vec::len)
        ),
        ValidationErrorKind::Pattern { .. }
            if instance.as_str().is_some_and(|s| s.trim().is_empty()) =>
        {
            "must not be empty or only spaces".to_string()
        }
        ValidationErrorKind::MinLength { limit: 1 } => "must not be empty".to_string(),
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {limit} characters long")
        }
        _ => fallback.to_string(),
    }
}

fn json_type(t: &str) -> JsonType {
    match t {
        "array" => JsonType::Array,
        "boolean" => JsonType::Boolean,
        "integer" => JsonType::Integer,
        "null" => JsonType::Null,
        "number" => JsonType::Number,
        "object" => JsonType::Object,
        _ => JsonType::String,
    }
}

fn article(t: &str) -> &'static str {
    match t {
        "array" => "an array",
        "boolean" => "a boolean (true or false)",
        "integer" => "an integer",
        "null" => "null",
        "number" => "a number",
        "object" => "an object",
        _ => "a string",
    }
}

/// A short, bounded rendering of a found value for messages.
pub(crate) fn found(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("{n}"),
        Value::String(s) => {
            let shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                format!("the string {:?}…", shown)
            } else {
                format!("the string {s:?}")
            }
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The raw schema nodes that apply to the value at `tokens` inside a project shaped like
/// `instance` (the template: its fixed values decide `if` conditions on the way down). An empty
/// list means the place is unconstrained. An `Err` names a schema construct the walk does not
/// follow (the caller then validates whole documents).
pub(crate) fn nodes_at(tokens: &[String], instance: &Value) -> Result<Vec<&'static Value>, String> {
    let mut level: Vec<&'static Value> = vec![schema()];
    let mut inst = Some(instance);
    for token in tokens {
        let mut expanded = Vec::new();
        for node in &level {
            expand(node, inst, &mut expanded)?;
        }
        let mut next = Vec::new();
        for node in expanded {
            if let Some(p) = node.get("properties").and_then(|p| p.get(token.as_str())) {
                next.push(p);
            }
            if let Some(items) = node.get("items") {
                if token.parse::<usize>().is_ok() {
                    next.push(items);
                }
            }
        }
        level = next;
        inst = inst.and_then(|v| match v {
            Value::Object(m) => m.get(token.as_str()),
            Value::Array(a) => token.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        });
    }
    Ok(level)
}

/// Follows `$ref`, `allOf` and `if`/`then`/`else` from `node`, collecting every node that applies.
fn expand(
    node: &'static Value,
    instance: Option<&Value>,
    out: &mut Vec<&'static Value>,
) -> Result<(), String> {
    let map = match node {
        Value::Bool(_) => {
            out.push(node);
            return Ok(());
        }
        Value::Object(map) => map,
        _ => return Err("a schema node that is not an object".into()),
    };
    for unsupported in [
        "anyOf",
        "oneOf",
        "not",
        "additionalProperties",
        "patternProperties",
        "prefixItems",
        "dependentSchemas",
        "unevaluatedProperties",
        "unevaluatedItems",
        "$dynamicRef",
    ] {
        if map.contains_key(unsupported) {
            return Err(format!("schema keyword {unsupported}"));
        }
    }
    if let Some(r) = map.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .ok_or_else(|| format!("schema $ref {r}"))?;
        let target = schema()["$defs"]
            .get(name)
            .ok_or_else(|| format!("schema $ref {r}"))?;
        expand(target, instance, out)?;
    }
    out.push(node);
    if let Some(all) = map.get("allOf").and_then(Value::as_array) {
        for sub in all {
            expand(sub, instance, out)?;
        }
    }
    if let Some(cond) = map.get("if") {
        let instance = instance.ok_or("an `if` with no template value to decide it")?;
        let holds = SchemaValidator::for_subschema(cond).is_valid(instance);
        let branch = if holds {
            map.get("then")
        } else {
            map.get("else")
        };
        if let Some(b) = branch {
            expand(b, Some(instance), out)?;
        }
    }
    Ok(())
}
