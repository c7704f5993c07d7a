//! The site checker: validation of rendered rows, planned once per template.
//!
//! A row can only differ from the template at its *sites* (placeholder strings and bindings). So
//! the template's fixed parts are checked once, at compile time, and a row is checked only where it
//! differs: each site's value against the schema that applies at its place (compiled once per
//! place), the URL rule where the place is a URL, the script rules of each scene where a site feeds
//! them (run on a small copy of the scene's script fields with the row's values laid over it), and
//! the uniqueness of `sceneIdx` where a site sets one. That answers "is this row valid?" exactly, at
//! a fraction of the cost of validating the whole document; only an invalid row pays for a full
//! validation, which gives its messages. Templates whose sites can change the document's shape
//! (typed `json` values, a clip's `type`, `id` or `isDelete`, whole scenes) are validated in full
//! for every row.

use crate::error::{Origin, Problem};
use crate::pointer::{self, is_within};
use crate::template::doc::{Doc, Span};
use crate::template::origins_for;
use crate::validate::{
    JsonType, ProjectValidator, SchemaValidator, UrlRule, Violation, ViolationKind, check_url,
    rules, script,
};
use crate::value_type::ValueType;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// How rows of one template are validated.
#[derive(Debug)]
pub(crate) struct SiteChecker {
    /// Tells this checker's [`CheckScratch`] from another's.
    id: u64,
    validator: &'static ProjectValidator,
    fixed: Vec<Violation>,
    plan: Plan,
}

/// What the site checker reuses from row to row on one rendering thread, so that checking a
/// row allocates only for the values its sites wrote.
#[derive(Debug, Default)]
pub(crate) struct CheckScratch {
    /// The checker these scenes belong to ([`SiteChecker::id`]); 0 before the first row.
    owner: u64,
    /// Each slot's value in the row being checked, kept only for slots that feed rules.
    values: Vec<Option<Value>>,
    /// Per [`SceneCheck`], its rule fields with the last row's values laid over them.
    scenes: Vec<Value>,
}

/// Numbers checkers from 1, so that a scratch never mistakes one for another.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

#[derive(Debug)]
enum Plan {
    /// Validate every rendered document in full.
    Full { reason: String },
    /// Check the sites only.
    Sites {
        slots: Vec<Slot>,
        scenes: Vec<SceneCheck>,
        indexes: Option<Vec<IndexSource>>,
    },
}

/// One place of the document that rows can change: the sites there, outermost first.
#[derive(Debug)]
struct Slot {
    /// Site indexes (holes first, then bindings, as in `Scratch::spans`), outermost first.
    sites: Vec<usize>,
    /// When every site falls through (empty binding cells): is the template's own value valid here?
    fallback_ok: bool,
    /// Whether a scene's script rules or the `sceneIdx` check read this slot's value.
    feeds: bool,
    /// The template's own value here, when no hole is at this place.
    fallback: Option<Value>,
    /// The schema that applies here; `None` when anything goes.
    schema: Option<Arc<SchemaValidator>>,
    /// The URL rule, when the place is a URL field.
    url: Option<UrlRule>,
}

/// A scene whose script rules read values that sites set.
#[derive(Debug)]
struct SceneCheck {
    /// The scene's index.
    scene: usize,
    /// The template's values of the fields the rules read ([`script::rule_fields`]).
    fields: Value,
    /// The slots feeding the rules, outermost first.
    overlays: Vec<Overlay>,
}

/// A slot whose value a scene's script rules read.
#[derive(Debug)]
struct Overlay {
    slot: usize,
    /// The pointer inside the scene (`/clips/0/script/org`).
    inside: String,
    /// Its reference tokens, unescaped.
    tokens: Vec<String>,
    /// The template's value there; `None` when the template's fields lack the place.
    original: Option<Value>,
    /// Whether an earlier (outer) overlay's place holds this one's.
    covered: bool,
}

impl Overlay {
    /// The place in `fields` this overlay writes; `None` when the row's outer values lack it.
    fn place<'a>(&self, fields: &'a mut Value) -> Option<&'a mut Value> {
        self.tokens.iter().try_fold(fields, |at, token| match at {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        })
    }
}

/// Where a scene's `sceneIdx` comes from, when some scene's comes from a site.
#[derive(Debug)]
enum IndexSource {
    Fixed(Option<Value>),
    Slot(usize),
}

impl SiteChecker {
    /// Plans validation for `doc`, compiled from `document`. `patched` says rows may be patched
    /// (then the template's fixed parts are not final and rows are validated in full).
    pub fn new(document: &Value, doc: &Doc, patched: bool) -> Self {
        let validator = ProjectValidator::shared();
        let pointers: Vec<&str> = site_pointers(doc);
        let fed = FedRules::of(&pointers);
        let fixed: Vec<Violation> = validator
            .validate(document)
            .into_iter()
            .filter(|v| {
                let covered = pointers.iter().any(|p| is_within(&v.pointer, p));
                let row_decides = match &v.kind {
                    ViolationKind::Script { scene, .. } => fed.scenes.contains(scene),
                    ViolationKind::SceneIndex { .. } => fed.indexes,
                    _ => false,
                };
                !covered && !row_decides
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
            plan_sites(document, doc).unwrap_or_else(|reason| Plan::Full { reason })
        };
        SiteChecker {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
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

    /// Checks a rendered (unpatched) project, `spans` being what each site wrote into `bytes`;
    /// `scratch` is this thread's, reused from row to row.
    pub fn check_rendered(
        &self,
        bytes: &[u8],
        spans: &[Span],
        doc: &Doc,
        scratch: &mut CheckScratch,
    ) -> Result<(), Vec<Problem>> {
        if let Plan::Sites {
            slots,
            scenes,
            indexes,
        } = &self.plan
        {
            if scratch.owner != self.id {
                scratch.owner = self.id;
                scratch.scenes = scenes.iter().map(|c| c.fields.clone()).collect();
            }
            let row = Row { bytes, spans };
            if row.sites_are_valid(slots, scenes, indexes.as_deref(), scratch) {
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
                let mut message = typed_hint(doc, &v).unwrap_or_else(|| v.message.clone());
                let mut origins = origins_for(doc, &v.pointer, patches);
                if let ViolationKind::Script { related, .. } = &v.kind {
                    // The row changed the other side: say so, and name where that came from.
                    let own_fixed = origins == [Origin::Template] || origins.is_empty();
                    for r in related {
                        let theirs = origins_for(doc, r, patches);
                        if own_fixed && theirs != [Origin::Template] {
                            message.push_str(&format!(
                                "; this row changes {r}, so it must set {} too",
                                v.pointer
                            ));
                            origins = theirs;
                        }
                    }
                }
                Problem {
                    origins,
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
        let probe = schema
            .violations(&Value::String("x".into()), &hole.pointer)
            .into_iter()
            .next();
        let expected = probe.as_ref().and_then(|v| match v.kind {
            ViolationKind::Schema { expected_type } => expected_type,
            _ => None,
        });
        let (helper, needs) = match expected {
            Some(JsonType::Integer) => (Some("int"), "an integer".to_string()),
            Some(JsonType::Number) => (Some("number"), "a number".to_string()),
            Some(JsonType::Boolean) => (Some("bool"), "a boolean (true or false)".to_string()),
            _ => (
                None,
                probe.map_or_else(
                    || "no string".to_string(),
                    |v| format!("what the schema says: {}", v.message),
                ),
            ),
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
    let helper = match v.kind {
        ViolationKind::Schema {
            expected_type: Some(JsonType::Integer),
        } => "int",
        ViolationKind::Schema {
            expected_type: Some(JsonType::Number),
        } => "number",
        ViolationKind::Schema {
            expected_type: Some(JsonType::Boolean),
        } => "bool",
        _ => return None,
    };
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

/// Which rule checks depend on a row: the scenes whose script rules read a site's value, and
/// whether some `sceneIdx` comes from a site.
struct FedRules {
    scenes: Vec<usize>,
    indexes: bool,
}

impl FedRules {
    fn of(pointers: &[&str]) -> FedRules {
        let mut fed = FedRules {
            scenes: Vec::new(),
            indexes: false,
        };
        for p in pointers {
            let Some(tokens) = pointer::tokens(p) else {
                continue;
            };
            match scene_place(&tokens) {
                Some((_, rest)) if rest == ["sceneIdx"] => fed.indexes = true,
                Some((i, rest)) if script::feeds_rules(&rest) && !fed.scenes.contains(&i) => {
                    fed.scenes.push(i)
                }
                _ => {}
            }
        }
        fed
    }
}

/// `(scene index, the tokens inside the scene)` for a pointer strictly inside a scene.
fn scene_place(tokens: &[String]) -> Option<(usize, Vec<&str>)> {
    match tokens {
        [scenes, i, rest @ ..] if scenes == "scenes" && !rest.is_empty() => {
            let i = i.parse().ok()?;
            Some((i, rest.iter().map(String::as_str).collect()))
        }
        _ => None,
    }
}

/// The site plan, or why the template needs full validation.
fn plan_sites(document: &Value, doc: &Doc) -> Result<Plan, String> {
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
        }
        if p.is_empty()
            || p == "/scenes"
            || (p.starts_with("/scenes/") && p[8..].bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!(
                "{} replaces whole scenes",
                if p.is_empty() { "the document root" } else { p }
            ));
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
            feeds: false,
            fallback,
            schema,
            url,
        };
        if let Some(v) = &slot.fallback {
            slot.fallback_ok = value_ok(&slot, v);
        }
        slots.push(slot);
    }
    // The scenes whose script rules read a site's value, and sceneIdx from sites.
    let mut scenes: Vec<SceneCheck> = Vec::new();
    let mut index_slots: Vec<(usize, usize)> = Vec::new();
    for (k, (p, _)) in by_pointer.iter().enumerate() {
        let tokens = pointer::tokens(p).expect("site pointers are canonical");
        match scene_place(&tokens) {
            Some((i, rest)) if rest == ["sceneIdx"] => {
                index_slots.push((i, k));
                slots[k].feeds = true;
            }
            Some((i, rest)) if script::feeds_rules(&rest) => {
                slots[k].feeds = true;
                let overlay = Overlay {
                    slot: k,
                    inside: p[format!("/scenes/{i}").len()..].to_string(),
                    tokens: rest.iter().map(|t| t.to_string()).collect(),
                    original: None,
                    covered: false,
                };
                match scenes.iter_mut().find(|c| c.scene == i) {
                    Some(c) => c.overlays.push(overlay),
                    None => {
                        let scene = document
                            .pointer(&format!("/scenes/{i}"))
                            .ok_or_else(|| format!("{p} is in no scene"))?;
                        scenes.push(SceneCheck {
                            scene: i,
                            fields: script::rule_fields(scene),
                            overlays: vec![overlay],
                        });
                    }
                }
            }
            _ => {}
        }
    }
    for c in &mut scenes {
        // Outermost first, so that a value inside lands in what an outer site wrote.
        c.overlays.sort_by_key(|o| o.tokens.len());
        for n in 0..c.overlays.len() {
            let (outer, rest) = c.overlays.split_at_mut(n);
            let o = &mut rest[0];
            o.original = c.fields.pointer(&o.inside).cloned();
            o.covered = outer.iter().any(|q| is_within(&o.inside, &q.inside));
        }
    }
    let indexes = if index_slots.is_empty() {
        None
    } else {
        let count = document
            .get("scenes")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        Some(
            (0..count)
                .map(|i| match index_slots.iter().find(|(s, _)| *s == i) {
                    Some((_, k)) => IndexSource::Slot(*k),
                    None => IndexSource::Fixed(
                        document.pointer(&format!("/scenes/{i}/sceneIdx")).cloned(),
                    ),
                })
                .collect(),
        )
    };
    Ok(Plan::Sites {
        slots,
        scenes,
        indexes,
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

/// One rendered row as the site checker reads it: its bytes and what each site wrote there.
struct Row<'a> {
    bytes: &'a [u8],
    spans: &'a [Span],
}

impl Row<'_> {
    /// The value at `slot`: `Ok(None)` when not reached, `Err(())` when it does not parse.
    fn value(&self, slot: &Slot) -> Result<Option<Value>, ()> {
        for &site in &slot.sites {
            match self.spans.get(site).copied().unwrap_or(Span::NotRun) {
                Span::NotRun => return Ok(None),
                Span::FellThrough => continue,
                Span::Wrote(start, end) => {
                    return serde_json::from_slice(&self.bytes[start as usize..end as usize])
                        .map(Some)
                        .map_err(|_| ());
                }
            }
        }
        Ok(slot.fallback.clone())
    }

    /// Whether the row is valid at its sites: each slot's value where it stands, then the script
    /// rules of the scenes they feed, then `sceneIdx` uniqueness. `false` means "validate in full".
    fn sites_are_valid(
        &self,
        slots: &[Slot],
        scenes: &[SceneCheck],
        indexes: Option<&[IndexSource]>,
        scratch: &mut CheckScratch,
    ) -> bool {
        let values = &mut scratch.values;
        values.clear();
        for slot in slots {
            // When every site falls through to a fixed template value, its validity is known.
            let falls = slot
                .sites
                .iter()
                .all(|&s| self.spans.get(s) == Some(&Span::FellThrough));
            if falls && slot.fallback.is_some() {
                if !slot.fallback_ok {
                    return false;
                }
                values.push(if slot.feeds {
                    slot.fallback.clone()
                } else {
                    None
                });
                continue;
            }
            match self.value(slot) {
                Ok(Some(v)) => {
                    if !value_ok(slot, &v) {
                        return false;
                    }
                    values.push(slot.feeds.then_some(v));
                }
                Ok(None) => values.push(None),
                Err(()) => return false,
            }
        }
        let mut found = Vec::new();
        for (c, fields) in scenes.iter().zip(&mut scratch.scenes) {
            // Every overlay is written in each row (outer first), so nothing of the last row's
            // values is left in `fields`.
            for o in &c.overlays {
                let value = match values[o.slot].take() {
                    Some(v) => v,
                    None if o.covered => continue, // what the outer site wrote stands
                    None => match &o.original {
                        Some(v) => v.clone(),
                        None => continue,
                    },
                };
                match o.place(fields) {
                    Some(place) => *place = value,
                    None => return false, // not where the template had it: let full validation say
                }
            }
            script::check_scene(c.scene, fields, &mut found);
            if !found.is_empty() {
                return false;
            }
        }
        if let Some(indexes) = indexes {
            let refs: Vec<Option<&Value>> = indexes
                .iter()
                .map(|source| match source {
                    IndexSource::Fixed(v) => v.as_ref(),
                    IndexSource::Slot(k) => values[*k].as_ref(),
                })
                .collect();
            rules::check_scene_indexes(&refs, &mut found);
            if !found.is_empty() {
                return false;
            }
        }
        true
    }
}
