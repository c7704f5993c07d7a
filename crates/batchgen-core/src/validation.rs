//! Validation of rendered rows, planned once per template.
//!
//! A row can only differ from the template at its *sites* (placeholder strings and bindings). So
//! the template's fixed parts are checked once, at compile time, and a row is checked only where it
//! differs: each site's value against the schema that applies at its place (compiled once per
//! place), the URL rule where the place is a URL, and the script rule for the AI models whose script
//! a site supplies. That answers "is this row valid?" exactly, at a fraction of the cost of
//! validating the whole document; only an invalid row pays for a full validation, which gives its
//! messages. Templates whose sites can change the document's shape (typed `json` values, a clip's
//! `type`, `id` or `isDelete`) are validated in full for every row.

use crate::error::{Origin, Problem};
use crate::pointer::{self, is_within};
use crate::template::doc::{Doc, Span};
use crate::template::origins_for;
use crate::validate::{
    ProjectValidator, SchemaValidator, UrlRule, Violation, check_url, script_text_is_empty,
};
use crate::value_type::ValueType;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// How rows of one template are validated.
#[derive(Debug)]
pub(crate) struct RowValidator {
    validator: &'static ProjectValidator,
    fixed: Vec<Violation>,
    plan: Plan,
}

#[derive(Debug)]
enum Plan {
    /// Validate every rendered document in full.
    Full { reason: String },
    /// Check the sites only.
    Sites {
        slots: Vec<Slot>,
        groups: Vec<ScriptGroup>,
    },
}

/// One place of the document that rows can change: the sites there, outermost first.
#[derive(Debug)]
struct Slot {
    /// Site indexes (holes first, then bindings, as in `Scratch::spans`), outermost first.
    sites: Vec<usize>,
    /// When every site falls through (empty binding cells): is the template's own value valid here?
    fallback_ok: bool,
    /// The template's own value here, when no hole is at this place.
    fallback: Option<Value>,
    /// The schema that applies here; `None` when anything goes.
    schema: Option<Arc<SchemaValidator>>,
    /// The URL rule, when the place is a URL field.
    url: Option<UrlRule>,
}

/// A live AI model whose script comes (at least partly) from sites.
#[derive(Debug)]
struct ScriptGroup {
    /// Slots that supply a script text (`script/org`, `scripts/N/org`).
    slots: Vec<usize>,
}

impl RowValidator {
    /// Plans validation for `doc`, compiled from `document`. `patched` says rows may be patched
    /// (then the template's fixed parts are not final and rows are validated in full).
    pub fn new(document: &Value, doc: &Doc, patched: bool) -> Self {
        let validator = ProjectValidator::shared();
        let pointers: Vec<&str> = site_pointers(doc);
        let groups = script_groups(document);
        let fixed: Vec<Violation> = validator
            .validate(document)
            .into_iter()
            .filter(|v| {
                let covered = pointers.iter().any(|p| is_within(&v.pointer, p));
                let scripted = groups.iter().any(|(clip, _)| {
                    (v.pointer == *clip || v.pointer == format!("{clip}/script/org"))
                        && pointers.iter().any(|p| is_script_org(p, clip))
                });
                !covered && !scripted
            })
            .collect();
        let mut fixed = fixed;
        if !patched {
            fixed.extend(strings_where_strings_cannot_go(document, doc));
        }
        let plan = if patched {
            Plan::Full {
                reason: "rows may be patched".into(),
            }
        } else if !fixed.is_empty() {
            Plan::Full {
                reason: "the template's fixed parts are invalid".into(),
            }
        } else {
            plan_sites(document, doc, &groups).unwrap_or_else(|reason| Plan::Full { reason })
        };
        RowValidator {
            validator,
            fixed,
            plan,
        }
    }

    /// Violations in the template's fixed parts: every row would have them unless a patch fixes them.
    pub fn template_violations(&self) -> Vec<Violation> {
        self.fixed.clone()
    }

    /// Why rows are validated in full, when they are; `None` when only the sites are checked.
    pub fn full_reason(&self) -> Option<&str> {
        match &self.plan {
            Plan::Full { reason } => Some(reason),
            Plan::Sites { .. } => None,
        }
    }

    /// Checks a rendered (unpatched) project, `spans` being what each site wrote into `bytes`.
    pub fn check_rendered(
        &self,
        bytes: &[u8],
        spans: &[Span],
        doc: &Doc,
    ) -> Result<(), Vec<Problem>> {
        if let Plan::Sites { slots, groups } = &self.plan {
            if sites_are_valid(bytes, spans, slots, groups) {
                return Ok(());
            }
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            vec![Problem {
                pointer: None,
                origins: Vec::new(),
                message: format!("internal error: rendered JSON does not parse: {e}"),
            }]
        })?;
        self.check_value(&value, doc, &[])
    }

    /// Checks a project tree in full; `patches` are the patches applied to it (origins of last resort).
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
            .map(|v| {
                let message = typed_hint(doc, &v).unwrap_or_else(|| v.message.clone());
                Problem {
                    origins: origins_for(doc, &v.pointer, patches),
                    pointer: Some(v.pointer),
                    message,
                }
            })
            .collect())
    }
}

/// Plain placeholders (which always write a string) at places whose schema accepts no string at
/// all, such as `"layer": "{{layer}}"`: every row would be invalid, so say it once, up front, with
/// the typed helper to write instead.
fn strings_where_strings_cannot_go(document: &Value, doc: &Doc) -> Vec<Violation> {
    let mut out = Vec::new();
    for hole in doc.holes.iter().filter(|h| h.typed.is_none()) {
        if doc
            .bindings
            .iter()
            .any(|b| is_within(&hole.pointer, &b.pointer))
        {
            continue; // a binding can replace it
        }
        let Some(tokens) = pointer::tokens(&hole.pointer) else {
            continue;
        };
        let Ok(nodes) = crate::validate::schema::nodes_at(&tokens, document) else {
            continue;
        };
        if nodes.is_empty() {
            continue;
        }
        let schema = SchemaValidator::for_subschema(&serde_json::json!({ "allOf": nodes }));
        let mut samples: Vec<String> = ["", "0", "1.5", "x", "true", "https://example.com/a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for node in &nodes {
            enumerated_strings(node, 0, &mut samples);
        }
        if samples
            .into_iter()
            .any(|s| schema.is_valid(&Value::String(s)))
        {
            continue;
        }
        let probe = Violation::new(
            hole.pointer.clone(),
            schema
                .violations(&Value::String("x".into()), &hole.pointer)
                .into_iter()
                .next()
                .map_or_else(|| "this place takes no string".to_string(), |v| v.message),
        );
        let needs = probe
            .message
            .strip_prefix("expected ")
            .and_then(|m| m.split(", found").next())
            .unwrap_or(&probe.message)
            .to_string();
        let helper = match needs.as_str() {
            "an integer" => Some("int"),
            "a number" => Some("number"),
            "a boolean (true or false)" => Some("bool"),
            _ => None,
        };
        let message = match (helper, hole.columns.first()) {
            (Some(helper), Some(column)) if hole.columns.len() == 1 => {
                let written = if column.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    column.clone()
                } else {
                    format!("[{column}]")
                };
                format!(
                    "{:?} always writes a string, but this place needs {needs}: write \"{{{{{helper} {written}}}}}\" instead",
                    hole.text
                )
            }
            _ => format!(
                "{:?} always writes a string, but this place needs {needs}",
                hole.text
            ),
        };
        out.push(Violation::new(hole.pointer.clone(), message));
    }
    out
}

/// Every string an `enum` or `const` under `node` allows (following `$ref`s a few levels deep).
fn enumerated_strings(node: &Value, depth: usize, out: &mut Vec<String>) {
    if depth > 8 {
        return;
    }
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("enum", Value::Array(items)) => {
                        out.extend(items.iter().filter_map(Value::as_str).map(str::to_string))
                    }
                    ("const", Value::String(c)) => out.push(c.clone()),
                    ("$ref", Value::String(r)) => {
                        if let Some(def) = r
                            .strip_prefix("#/$defs/")
                            .and_then(|n| crate::validate::schema()["$defs"].get(n))
                        {
                            enumerated_strings(def, depth + 1, out);
                        }
                    }
                    _ => enumerated_strings(v, depth + 1, out),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| enumerated_strings(v, depth + 1, out)),
        _ => {}
    }
}

/// When a plain placeholder wrote a string where the schema wants a number, an integer or a
/// boolean, the message says which typed helper to write instead.
fn typed_hint(doc: &Doc, v: &Violation) -> Option<String> {
    let helper = [
        ("expected an integer", "int"),
        ("expected a number", "number"),
        ("expected a boolean", "bool"),
    ]
    .into_iter()
    .find(|(start, _)| v.message.starts_with(start))?
    .1;
    let hole = doc
        .holes
        .iter()
        .find(|h| h.pointer == v.pointer && h.typed.is_none())?;
    let column = hole.columns.first()?;
    let written = if column.chars().all(|c| c.is_alphanumeric() || c == '_') {
        column.clone()
    } else {
        format!("[{column}]")
    };
    Some(format!(
        "{}: write \"{{{{{helper} {written}}}}}\" in the template to make it a JSON {}",
        v.message,
        if helper == "bool" {
            "boolean"
        } else {
            "number"
        }
    ))
}

fn site_pointers(doc: &Doc) -> Vec<&str> {
    doc.holes
        .iter()
        .map(|h| h.pointer.as_str())
        .chain(doc.bindings.iter().map(|b| b.pointer.as_str()))
        .collect()
}

/// `(clip pointer, clip)` for every live AI model clip of the template.
fn script_groups(document: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (i, j, clip) in crate::project::clips(document) {
        let live_model = clip.get("type").and_then(Value::as_str) == Some("aiModel")
            && clip.get("isDelete").and_then(Value::as_bool) != Some(true);
        if live_model {
            out.push((format!("/scenes/{i}/clips/{j}"), clip));
        }
    }
    out
}

/// `true` when `pointer` is `clip/script/org` or `clip/scripts/N/org`.
fn is_script_org(pointer: &str, clip: &str) -> bool {
    let Some(rest) = pointer.strip_prefix(clip) else {
        return false;
    };
    if rest == "/script/org" {
        return true;
    }
    rest.strip_prefix("/scripts/")
        .and_then(|r| r.strip_suffix("/org"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The site plan, or why the template needs full validation.
fn plan_sites(document: &Value, doc: &Doc, groups: &[(String, &Value)]) -> Result<Plan, String> {
    let holes = doc.holes.len();
    // Sites that can change the document's shape or the rules' premises.
    for h in &doc.holes {
        if h.typed == Some(ValueType::Json) {
            return Err(format!("{} is a typed json value", h.pointer));
        }
    }
    for b in &doc.bindings {
        if b.ty == Some(ValueType::Json) {
            return Err(format!("column {:?} is typed json", b.column));
        }
    }
    let mut by_pointer: Vec<(String, Vec<usize>)> = Vec::new();
    let mut ordered: Vec<(usize, &str)> = doc
        .bindings
        .iter()
        .enumerate()
        .map(|(i, b)| (holes + i, b.pointer.as_str()))
        .chain(
            doc.holes
                .iter()
                .enumerate()
                .map(|(i, h)| (i, h.pointer.as_str())),
        )
        .collect();
    // Bindings before holes at the same place: a binding wraps the template's value.
    ordered.sort_by_key(|(site, _)| usize::from(*site < holes));
    for (site, p) in ordered {
        if let Some(clip_field) = clip_field(p) {
            if matches!(clip_field.1, "type" | "id" | "isDelete") {
                return Err(format!("{p} decides the clip's rules"));
            }
            let clip = clip_field.0;
            if groups.iter().any(|(c, _)| c == clip)
                && (is_within(p, &format!("{clip}/script"))
                    || is_within(p, &format!("{clip}/scripts")))
                && !is_script_org(p, clip)
            {
                return Err(format!("{p} replaces an AI model's script"));
            }
        }
        match by_pointer.iter_mut().find(|(q, _)| q == p) {
            Some((_, sites)) => sites.push(site),
            None => by_pointer.push((p.to_string(), vec![site])),
        }
    }
    let mut compiled: HashMap<String, Arc<SchemaValidator>> = HashMap::new();
    let mut slots = Vec::with_capacity(by_pointer.len());
    for (p, sites) in &by_pointer {
        let tokens = pointer::tokens(p).expect("site pointers are canonical");
        let nodes = crate::validate::schema::nodes_at(&tokens, document)?;
        let schema = if nodes.is_empty() {
            None
        } else {
            let composite = serde_json::json!({ "allOf": nodes });
            let key = composite.to_string();
            Some(
                compiled
                    .entry(key)
                    .or_insert_with(|| Arc::new(SchemaValidator::for_subschema(&composite)))
                    .clone(),
            )
        };
        let url = tokens.last().and_then(|k| UrlRule::for_key(k));
        let has_hole = sites.iter().any(|&s| s < holes);
        let fallback = if has_hole {
            None
        } else {
            document.pointer(p).cloned()
        };
        let mut slot = Slot {
            sites: sites.clone(),
            fallback_ok: true,
            fallback,
            schema,
            url,
        };
        if let Some(v) = &slot.fallback {
            slot.fallback_ok = value_ok(&slot, v);
        }
        slots.push(slot);
    }
    let mut script = Vec::new();
    for (clip, value) in groups {
        let members: Vec<usize> = by_pointer
            .iter()
            .enumerate()
            .filter(|(_, (p, _))| is_script_org(p, clip))
            .map(|(i, _)| i)
            .collect();
        if members.is_empty() {
            continue; // the script is fixed: checked at compile time
        }
        let fixed_text = |s: Option<&Value>, at: String| -> bool {
            !by_pointer.iter().any(|(p, _)| *p == at)
                && s.and_then(Value::as_str)
                    .is_some_and(|t| !script_text_is_empty(t))
        };
        let mut satisfied = fixed_text(
            value.get("script").and_then(|s| s.get("org")),
            format!("{clip}/script/org"),
        );
        if let Some(list) = value.get("scripts").and_then(Value::as_array) {
            for (k, s) in list.iter().enumerate() {
                satisfied |= fixed_text(s.get("org"), format!("{clip}/scripts/{k}/org"));
            }
        }
        if !satisfied {
            script.push(ScriptGroup { slots: members });
        }
    }
    Ok(Plan::Sites {
        slots,
        groups: script,
    })
}

/// `(clip pointer, first field)` when `p` is inside a clip: `/scenes/0/clips/1/type` → `("/scenes/0/clips/1", "type")`.
fn clip_field(p: &str) -> Option<(&str, &str)> {
    let rest = p.strip_prefix("/scenes/")?;
    let (i, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("clips/")?;
    let (j, field) = match rest.split_once('/') {
        Some((j, f)) => (j, f.split('/').next().unwrap_or_default()),
        None => return None,
    };
    if !i.bytes().all(|b| b.is_ascii_digit()) || !j.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let clip_len = "/scenes/".len() + i.len() + "/clips/".len() + j.len();
    Some((&p[..clip_len], field))
}

fn value_ok(slot: &Slot, v: &Value) -> bool {
    if let Some(s) = &slot.schema {
        if !s.is_valid(v) {
            return false;
        }
    }
    if let (Some(rule), Value::String(text)) = (slot.url, v) {
        if check_url(text, rule).is_err() {
            return false;
        }
    }
    true
}

/// The value at a slot in the last row: `Ok(None)` when not reached, `Err(())` when it does not parse.
fn slot_value(slot: &Slot, bytes: &[u8], spans: &[Span]) -> Result<Option<Value>, ()> {
    for &site in &slot.sites {
        match spans.get(site).copied().unwrap_or(Span::NotRun) {
            Span::NotRun => return Ok(None),
            Span::FellThrough => continue,
            Span::Wrote(start, end) => {
                return serde_json::from_slice(&bytes[start as usize..end as usize])
                    .map(Some)
                    .map_err(|_| ());
            }
        }
    }
    Ok(slot.fallback.clone())
}

fn sites_are_valid(bytes: &[u8], spans: &[Span], slots: &[Slot], groups: &[ScriptGroup]) -> bool {
    for slot in slots {
        // When every site falls through to a fixed template value, its validity is known.
        let falls = slot
            .sites
            .iter()
            .all(|&s| spans.get(s) == Some(&Span::FellThrough));
        if falls && slot.fallback.is_some() {
            if !slot.fallback_ok {
                return false;
            }
            continue;
        }
        match slot_value(slot, bytes, spans) {
            Ok(Some(v)) => {
                if !value_ok(slot, &v) {
                    return false;
                }
            }
            Ok(None) => {}
            Err(()) => return false,
        }
    }
    for g in groups {
        let says_something = g.slots.iter().any(|&i| {
            matches!(slot_value(&slots[i], bytes, spans), Ok(Some(Value::String(t))) if !script_text_is_empty(&t))
        });
        if !says_something {
            return false;
        }
    }
    true
}
