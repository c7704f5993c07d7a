//! The template: loaded from its file ([`TemplateSource`]), then compiled once against the CSV
//! header into a [`Template`] that renders any row.

pub(crate) mod doc;
mod source;

pub use doc_api::Scratch;
pub use source::{TemplateSource, Warning};

use crate::binding;
use crate::error::{CompileError, Origin, Problem, RowError};
use crate::hole::{self, Scope};
use crate::key::KeySource;
use crate::patch::{self, PatchFile};
use crate::pointer::is_within;
use crate::row::{Header, Row};
use crate::site_check::SiteChecker;
use doc::Doc;
use handlebars::Handlebars;
use serde_json::Value;
use std::path::Path;

mod doc_api {
    /// Per-thread scratch space for [`Template::render_into`](super::Template::render_into):
    /// reuse one per thread to render without allocating per row.
    #[derive(Debug, Default)]
    pub struct Scratch {
        pub(crate) inner: super::doc::Scratch,
        pub(crate) checks: crate::site_check::CheckScratch,
    }
}

/// Settings for compiling a template; see [`Template::builder`].
#[derive(Debug)]
pub struct TemplateBuilder<'a> {
    source: &'a TemplateSource,
    header: &'a Header,
    key_column: Option<String>,
    patch: Option<(std::path::PathBuf, String)>,
    validate: bool,
    decimal_comma: bool,
    require_cells: bool,
}

impl<'a> TemplateBuilder<'a> {
    /// Takes row keys from `column` (it must exist; uniqueness is checked by
    /// [`check_unique`](crate::check_unique), which needs the whole file). Default: `row-N`.
    pub fn key_column(mut self, column: Option<&str>) -> Self {
        self.key_column = column.map(str::to_string);
        self
    }

    /// Applies the RFC 6902 patch in `text` (read from `origin`) to every row.
    pub fn patch(mut self, origin: impl AsRef<Path>, text: impl Into<String>) -> Self {
        self.patch = Some((origin.as_ref().to_path_buf(), text.into()));
        self
    }

    /// Reads the RFC 6902 patch file at `path` and applies it to every row.
    pub fn patch_file(self, path: impl AsRef<Path>) -> Result<Self, CompileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| CompileError::Patch {
            path: path.to_path_buf(),
            message: format!("cannot read it: {e}"),
        })?;
        Ok(self.patch(path, text))
    }

    /// Whether typed values (`{{number x}}`, `:number` bindings) read `,` as the decimal
    /// separator, as spreadsheets in many locales write numbers (`0,12`). Default `false`: such a
    /// cell is refused with a hint.
    pub fn decimal_comma(mut self, on: bool) -> Self {
        self.decimal_comma = on;
        self
    }

    /// Whether a row with an empty cell under a plain placeholder (`{{offer}}`, which would
    /// leave a gap in the text) is invalid. Default `false`: the row renders, and
    /// [`Template::empty_columns`] tells which cells were empty.
    pub fn require_cells(mut self, on: bool) -> Self {
        self.require_cells = on;
        self
    }

    /// Whether rendered projects are validated (default `true`).
    pub fn validate(mut self, on: bool) -> Self {
        self.validate = on;
        self
    }

    /// Compiles the template: every check that does not need a row's data happens here, so that
    /// a template that cannot work fails before any row is rendered.
    pub fn build(self) -> Result<Template, CompileError> {
        let document = self.source.document();
        let header = self.header.clone();
        // Every missing name is collected, so that one report names them all.
        let mut missing = Vec::new();
        let key = KeySource::for_header(&header, self.key_column.as_deref()).unwrap_or_else(|e| {
            missing.push(e);
            KeySource::RowNumber
        });
        let bindings = binding::resolve_all(&header, document, &mut missing)?;
        let doc = Doc::compile(document, &header, bindings, "template", &mut missing)?;
        let patch_file = match &self.patch {
            Some((origin, text)) => Some(PatchFile::compile(
                origin,
                text,
                &header,
                document,
                &mut missing,
            )?),
            None => None,
        };
        if !missing.is_empty() {
            return Err(CompileError::missing(missing));
        }
        let patch_column = header.position("patch");
        let merge_column = header.position("merge");
        let patched = patch_file.is_some() || patch_column.is_some() || merge_column.is_some();
        let validator = if self.validate {
            let v = SiteChecker::new(document, &doc, patched);
            if !patched {
                let fixed = v.template_violations();
                if !fixed.is_empty() {
                    return Err(CompileError::InvalidTemplate { violations: fixed });
                }
            }
            Some(v)
        } else {
            None
        };
        let mut plain: Vec<(usize, String, String)> = Vec::new();
        let patch_holes = patch_file
            .iter()
            .flat_map(|p| p.doc.iter())
            .flat_map(|d| &d.holes);
        for h in doc.holes.iter().chain(patch_holes) {
            for &c in &h.plain {
                if !plain.iter().any(|(i, _, _)| *i == c) {
                    plain.push((c, h.pointer.clone(), h.text.clone()));
                }
            }
        }
        plain.sort_by_key(|(i, _, _)| *i);
        Ok(Template {
            doc,
            header,
            key,
            patch_file,
            patch_column,
            merge_column,
            plain,
            require_cells: self.require_cells,
            decimal_comma: self.decimal_comma,
            registry: hole::registry(self.decimal_comma),
            validator,
            name: self.source.project_name().map(str::to_string),
        })
    }
}

/// A template compiled against a CSV header. `Send + Sync`: one serves every thread.
///
/// ```
/// use batchgen_core::{Header, Row, Template, TemplateSource};
/// let source = TemplateSource::parse("t.json", r#"{"name": "Hi {{first_name}}", "n": "{{int n}}"}"#).unwrap();
/// let header = Header::new(vec!["first_name".into(), "n".into()]).unwrap();
/// let template = Template::builder(&source, &header).validate(false).build().unwrap();
/// let json = template.render_row(&Row::new(1, ["Zoë \"Z\"", "3"])).unwrap();
/// assert_eq!(String::from_utf8(json).unwrap(), r#"{"name":"Hi Zoë \"Z\"","n":3}"#);
/// ```
#[derive(Debug)]
pub struct Template {
    doc: Doc,
    header: Header,
    key: KeySource,
    patch_file: Option<PatchFile>,
    patch_column: Option<usize>,
    merge_column: Option<usize>,
    registry: Handlebars<'static>,
    validator: Option<SiteChecker>,
    name: Option<String>,
    /// The columns plain placeholders write as they are, with the first such placeholder
    /// (pointer, text), by column position.
    plain: Vec<(usize, String, String)>,
    require_cells: bool,
    decimal_comma: bool,
}

impl Template {
    /// Starts compiling `source` against `header`.
    pub fn builder<'a>(source: &'a TemplateSource, header: &'a Header) -> TemplateBuilder<'a> {
        TemplateBuilder {
            source,
            header,
            key_column: None,
            patch: None,
            validate: true,
            decimal_comma: false,
            require_cells: false,
        }
    }

    /// The columns (positions, ascending) whose cell in `row` is empty or whitespace where a
    /// plain placeholder writes it as it is (`{{offer}}`, not `{{default offer "…"}}` or inside
    /// `{{#if}}`): the text would have a gap there. Allocates only when there is one.
    pub fn empty_columns(&self, row: &Row) -> Vec<usize> {
        self.plain
            .iter()
            .filter(|(i, _, _)| row.cell(*i).trim().is_empty())
            .map(|(i, _, _)| *i)
            .collect()
    }

    /// The header the template was compiled against.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Where row keys come from.
    pub fn key_source(&self) -> &KeySource {
        &self.key
    }

    /// The key of `row`.
    pub fn key_of(&self, row: &Row) -> String {
        self.key.key_of(row)
    }

    /// The template's own project name (`name`), if it has a fixed one.
    pub fn project_name(&self) -> Option<&str> {
        self.name.as_deref().filter(|n| !n.contains("{{"))
    }

    /// Why every row is validated as a whole document rather than only where it differs from the
    /// template (typed `json` values, a site deciding a clip's type or id, patches), or `None` when
    /// rows are checked at their sites only (or not validated at all).
    pub fn full_validation_reason(&self) -> Option<&str> {
        self.validator.as_ref().and_then(|v| v.full_reason())
    }

    /// The number of placeholder strings and bindings (for reports).
    pub fn hole_count(&self) -> (usize, usize) {
        (self.doc.holes.len(), self.doc.bindings.len())
    }

    /// Renders and validates one row: the project as compact JSON, or why the row is invalid.
    pub fn render_row(&self, row: &Row) -> Result<Vec<u8>, RowError> {
        let mut out = Vec::new();
        self.render_into(row, &self.key_of(row), &mut Scratch::default(), &mut out)?;
        Ok(out)
    }

    /// Renders and validates one row with key `key` into `out` (cleared first), reusing `scratch`.
    pub fn render_into(
        &self,
        row: &Row,
        key: &str,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Result<(), RowError> {
        out.clear();
        let fail = |problems: Vec<Problem>| RowError {
            row: row.number,
            line: row.line,
            problems,
        };
        if let Some(defect) = &row.defect {
            return Err(fail(vec![Problem {
                pointer: None,
                origins: Vec::new(),
                message: defect.to_string(),
            }]));
        }
        if self.require_cells {
            let empty: Vec<Problem> = self
                .plain
                .iter()
                .filter(|(i, _, _)| row.cell(*i).trim().is_empty())
                .map(|(i, pointer, text)| {
                    let name = &self.header.names()[*i];
                    Problem {
                        pointer: Some(pointer.clone()),
                        origins: vec![
                            Origin::Column(name.clone()),
                            Origin::Placeholder(text.clone()),
                        ],
                        message: format!(
                            "column {name:?} is empty and cells are required: fill it, or give a fallback with {{{{default {} \"…\"}}}}",
                            if name.contains(' ') || name.contains('.') {
                                format!("[{name}]")
                            } else {
                                name.clone()
                            }
                        ),
                    }
                })
                .collect();
            if !empty.is_empty() {
                return Err(fail(empty));
            }
        }
        let scope = Scope {
            number: row.number,
            key,
            fields: &row.fields,
            context: Default::default(),
            header: &self.header,
            decimal_comma: self.decimal_comma,
        };
        let mut problems = Vec::new();
        self.doc.render(
            &scope,
            &self.registry,
            &mut scratch.inner,
            out,
            &mut problems,
        );
        if !problems.is_empty() {
            // Report the row's other problems too, so one pass shows everything to fix.
            if let Some(Err(more)) = self.validator.as_ref().map(|v| {
                v.check_rendered(out, &scratch.inner.spans, &self.doc, &mut scratch.checks)
            }) {
                for p in more {
                    if !problems.iter().any(|q| q.pointer == p.pointer) {
                        problems.push(p);
                    }
                }
            }
            return Err(fail(problems));
        }
        let patch_cell = self
            .patch_column
            .map(|i| row.cell(i))
            .filter(|c| !c.trim().is_empty());
        let merge_cell = self
            .merge_column
            .map(|i| row.cell(i))
            .filter(|c| !c.trim().is_empty());
        if self.patch_file.is_none() && patch_cell.is_none() && merge_cell.is_none() {
            return match &self.validator {
                Some(v) => v
                    .check_rendered(out, &scratch.inner.spans, &self.doc, &mut scratch.checks)
                    .map_err(fail),
                None => Ok(()),
            };
        }
        // Patches work on the document tree.
        let mut project: Value = serde_json::from_slice(out).map_err(|e| {
            fail(vec![Problem {
                pointer: None,
                origins: Vec::new(),
                message: format!("internal error: rendered JSON does not parse: {e}"),
            }])
        })?;
        let patches = patch::RowPatches {
            file: self.patch_file.as_ref(),
            patch_cell,
            merge_cell,
        };
        let applied = patches
            .apply(&mut project, &scope, &self.registry, &mut scratch.inner)
            .map_err(fail)?;
        if let Some(v) = &self.validator {
            v.check_value(&project, &self.doc, &applied).map_err(fail)?;
        }
        out.clear();
        serde_json::to_writer(&mut *out, &project).expect("writing to a Vec cannot fail");
        Ok(())
    }
}

/// Where a violation at `pointer` came from: the holes and bindings at it or above it (a typed
/// `json` value that contains it), else those just below it (a `type` that made a field required).
pub(crate) fn origins_for(doc: &Doc, pointer: &str, patches: &[Origin]) -> Vec<Origin> {
    let mut origins = collect_origins(doc, |p| is_within(pointer, p));
    if origins.is_empty() {
        origins = collect_origins(doc, |p| {
            p.len() > pointer.len()
                && is_within(p, pointer)
                && !p[pointer.len() + 1..].contains('/')
        });
    }
    if origins.is_empty() {
        origins.push(Origin::Template);
        origins.extend(patches.iter().cloned());
    }
    origins
}

fn collect_origins(doc: &Doc, pred: impl Fn(&str) -> bool) -> Vec<Origin> {
    let mut origins = Vec::new();
    let mut add = |o: Origin| {
        if !origins.contains(&o) {
            origins.push(o);
        }
    };
    for h in doc.holes.iter().filter(|h| pred(&h.pointer)) {
        doc::hole_origins(h).into_iter().for_each(&mut add);
    }
    for b in doc.bindings.iter().filter(|b| pred(&b.pointer)) {
        add(Origin::Column(b.column.clone()));
    }
    origins
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Header {
        Header::new(names.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    fn project(template: &Template, cells: &[&str]) -> Result<Value, RowError> {
        template
            .render_row(&Row::new(1, cells))
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn empty_cells_render_empty_are_reported_and_can_be_required() {
        let source = TemplateSource::parse(
            "t.json",
            r#"{"a": "Your manager, {{manager}}, will call", "b": "{{default offer \"our best\"}}",
                "c": "{{#if vip}}{{vip}}{{/if}}", "d": "{{[first name]}}"}"#,
        )
        .unwrap();
        let h = header(&["first name", "manager", "offer", "vip"]);
        let t = Template::builder(&source, &h)
            .validate(false)
            .build()
            .unwrap();
        let row = Row::new(1, ["", " ", "", ""]);
        assert_eq!(t.empty_columns(&row), [0, 1]);
        assert_eq!(
            t.empty_columns(&Row::new(2, ["A", "B", "", ""])),
            Vec::<usize>::new()
        );
        let v = project(&t, &["", " ", "", ""]).unwrap();
        assert_eq!(v["a"], "Your manager,  , will call");
        assert_eq!(v["b"], "our best");
        let t = Template::builder(&source, &h)
            .validate(false)
            .require_cells(true)
            .build()
            .unwrap();
        let e = project(&t, &["", "", "x", ""]).unwrap_err();
        assert_eq!(e.problems.len(), 2);
        let text = e.to_string();
        assert!(text.contains("/d: column \"first name\" is empty and cells are required: fill it, or give a fallback with {{default [first name] \"…\"}}"), "{text}");
        assert!(text.contains("/a: column \"manager\" is empty"), "{text}");
        assert!(project(&t, &["F", "M", "", ""]).is_ok());
    }

    #[test]
    fn decimal_commas_are_read_when_asked() {
        let source =
            TemplateSource::parse("t.json", r#"{"z": "{{number zoom}}", "s": 1}"#).unwrap();
        let h = header(&["zoom", "/s:number"]);
        let t = Template::builder(&source, &h)
            .validate(false)
            .build()
            .unwrap();
        let e = project(&t, &["0,12", "1"]).unwrap_err();
        assert!(e.to_string().contains("decimal comma"), "{e}");
        let e = project(&t, &["1", "2,5"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("/s: \"2,5\" is not a number: it has a decimal comma"),
            "{e}"
        );
        let t = Template::builder(&source, &h)
            .validate(false)
            .decimal_comma(true)
            .build()
            .unwrap();
        let v = project(&t, &["0,12", "2,5"]).unwrap();
        assert_eq!(v, serde_json::json!({"z": 0.12, "s": 2.5}));
    }

    #[test]
    fn every_missing_name_is_reported_at_once_with_its_closest() {
        let source = TemplateSource::parse(
            "t.json",
            r#"{"name": "{{frist_name}} {{lastname}}", "a": "{{number zom}}",
                "scenes": [{"clips": [{"id": "img", "source_url": "x"}]}],
                "b": ["{{#if vip}}{{offer}}{{/if}}"]}"#,
        )
        .unwrap();
        let h = header(&[
            "first_name",
            "last_name",
            "zoom",
            "/scenes/0/clips/0/sorce_url",
            "@im/x",
        ]);
        let e = Template::builder(&source, &h)
            .key_column(Some("idd"))
            .validate(false)
            .build()
            .unwrap_err();
        let CompileError::Missing { missing } = &e else {
            panic!("{e}")
        };
        let text = e.to_string();
        assert_eq!(missing.len(), 8, "{text}");
        assert!(
            text.starts_with(
                "find what the template names: 8 names are missing:\n  key rows by --key \"idd\""
            ),
            "{text}"
        );
        for part in [
            "closest existing path: /scenes/0/clips/0/source_url",
            "closest clip id: \"img\"",
            "\"frist_name\" names column \"frist_name\", which the CSV does not have (closest column: \"first_name\")",
            "(closest column: \"last_name\")",
            "(closest column: \"zoom\")",
            "names column \"vip\"",
            "names column \"offer\"",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        // One missing name is reported as itself.
        let h = header(&["frist_name", "lastname", "zom", "vip"]);
        let e = Template::builder(&source, &h)
            .validate(false)
            .build()
            .unwrap_err();
        assert!(matches!(e, CompileError::UnknownColumn { .. }), "{e}");
    }
}
