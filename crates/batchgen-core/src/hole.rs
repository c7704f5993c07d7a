//! Holes: the strings of a template that hold placeholders, compiled once.
//!
//! A hole is a Handlebars template over the row. Most holes are simple (`"Hi {{first_name}}!"`):
//! those run without the Handlebars interpreter, as literal text and column lookups taken from its
//! parse tree. Anything else (`{{#if}}`, helpers, paths) is rendered by Handlebars itself. Either
//! way the text produced is data: the engine JSON-escapes it when writing, so quotes, backslashes,
//! newlines and `{{` in cells come out literally.

use crate::row::Header;
use crate::value_type::ValueType;
use handlebars::template::{Parameter, Template, TemplateElement};
use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, Output, Path, PathSeg, RenderContext,
    RenderErrorReason, Renderable,
};
use serde_json::Value;

/// The Handlebars registry every hole renders with: no HTML escaping, strict about missing
/// variables, with the typed helpers `number`, `int`, `bool` and `json` (reading decimal commas
/// when `decimal_comma`) and `default`. `Send + Sync`, shared by every rendering thread.
pub(crate) fn registry(decimal_comma: bool) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    hb.set_strict_mode(true);
    for t in [
        ValueType::Number,
        ValueType::Int,
        ValueType::Bool,
        ValueType::Json,
    ] {
        hb.register_helper(t.name(), Box::new(TypedHelper(t, decimal_comma)));
    }
    hb.register_helper("default", Box::new(DefaultHelper));
    hb
}

/// `{{default offer "our best offer"}}`: the cell, or the fallback when the cell is empty or
/// only whitespace.
struct DefaultHelper;

impl HelperDef for DefaultHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let (Some(value), Some(fallback), None) = (h.param(0), h.param(1), h.param(2)) else {
            return Err(RenderErrorReason::Other(DEFAULT_USAGE.into()).into());
        };
        match value.value() {
            Value::String(s) if !s.trim().is_empty() => out.write(s)?,
            Value::Null | Value::String(_) => out.write(&text_of(fallback.value()))?,
            other => out.write(&other.to_string())?,
        }
        Ok(())
    }
}

const DEFAULT_USAGE: &str =
    "default takes a column and a fallback: write {{default offer \"our best offer\"}}";

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `{{number x}}` and friends: writes the canonical JSON text of its argument.
struct TypedHelper(ValueType, bool);

impl HelperDef for TypedHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let param = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("typed helper", 0))?;
        let text = match param.value() {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let mut json = String::new();
        self.0
            .write_json_as(&text, self.1, &mut json)
            .map_err(|message| {
                let from = param
                    .relative_path()
                    .map(|p| format!("column {p:?}: "))
                    .unwrap_or_default();
                RenderErrorReason::Other(format!(
                    "{from}{message}, as {{{{{} ...}}}} needs",
                    self.0.name()
                ))
            })?;
        out.write(&json)?;
        Ok(())
    }
}

/// The row as the holes see it.
pub(crate) struct Scope<'a> {
    /// 1-based row number (`@row`).
    pub number: u64,
    /// The row key (`@key`).
    pub key: &'a str,
    /// The cells, in header order.
    pub fields: &'a csv::StringRecord,
    /// The Handlebars context, built on first use (only holes that need the interpreter need it).
    pub context: std::cell::OnceCell<Context>,
    /// The header, to build the context.
    pub header: &'a Header,
    /// Typed values read `,` as the decimal separator.
    pub decimal_comma: bool,
}

impl<'a> Scope<'a> {
    fn context(&self) -> &Context {
        self.context.get_or_init(|| {
            let mut map = serde_json::Map::with_capacity(self.header.len());
            for (name, cell) in self.header.names().iter().zip(self.fields.iter()) {
                map.insert(name.clone(), Value::String(cell.to_string()));
            }
            Context::from(Value::Object(map))
        })
    }
}

/// One step of a simple hole.
#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Column(usize),
    /// `{{default column "fallback"}}`.
    Default(usize, String),
    RowNumber,
    Key,
}

#[derive(Debug, Clone)]
enum Program {
    /// Literal text and lookups only.
    Simple(Vec<Part>),
    /// Needs the interpreter.
    Interpreted(Template),
}

/// A compiled placeholder string.
#[derive(Debug, Clone)]
pub(crate) struct Hole {
    /// JSON Pointer of the string in the template.
    pub pointer: String,
    /// The string as written in the template.
    pub text: String,
    /// `Some` when the whole string is one typed helper: the value becomes that JSON type.
    pub typed: Option<ValueType>,
    /// The columns this hole reads, by name.
    pub columns: Vec<String>,
    /// The columns (positions) it writes as they are, outside any block or helper
    /// (`{{offer}}`): an empty cell there leaves a gap in the text.
    pub plain: Vec<usize>,
    program: Program,
}

/// A name a placeholder asks for that the header lacks.
#[derive(Debug)]
pub(crate) struct Unknown {
    pub name: String,
    pub placeholder: String,
    pub hint: Option<String>,
}

/// Why a string could not become a hole.
#[derive(Debug)]
pub(crate) enum HoleError {
    Syntax(String),
    /// Every name the string asks for that the header lacks.
    Unknown(Vec<Unknown>),
}

impl Hole {
    /// Compiles `text` (found at `pointer`) against `header`.
    pub fn compile(pointer: &str, text: &str, header: &Header) -> Result<Hole, HoleError> {
        let template =
            Template::compile(text).map_err(|e| HoleError::Syntax(e.reason().to_string()))?;
        let mut refs = Refs::default();
        refs.walk(&template.elements, true);
        let mut unknown: Vec<Unknown> = Vec::new();
        for (raw, name) in &refs.columns {
            if header.position(name).is_some() || unknown.iter().any(|u| u.name == *name) {
                continue;
            }
            let joined = raw.trim_start_matches('[').trim_end_matches(']');
            let hint = if raw.contains('.') && header.position(raw).is_some() {
                Some(format!(
                    "the column is named {raw:?}: write {{{{[{raw}]}}}} (a dot means a nested field)"
                ))
            } else if joined != name && header.position(joined).is_some() {
                Some(format!("write {{{{[{joined}]}}}}"))
            } else {
                header.closest(name).map(|c| {
                    if c.contains(' ') || c.contains('.') {
                        format!("closest column: {c:?}, written {{{{[{c}]}}}}")
                    } else {
                        format!("closest column: {c:?}")
                    }
                })
            };
            unknown.push(Unknown {
                name: name.clone(),
                placeholder: raw.clone(),
                hint,
            });
        }
        for local in &refs.unknown_locals {
            unknown.push(Unknown {
                name: format!("@{local}"),
                placeholder: text.to_string(),
                hint: Some("batchgen provides @row (the row number) and @key (the row key)".into()),
            });
        }
        if !unknown.is_empty() {
            return Err(HoleError::Unknown(unknown));
        }
        let typed = whole_typed(&template);
        let plain = if typed.is_some() {
            Vec::new()
        } else {
            plain_columns(&template, header)
        };
        let program = match simple_parts(&template, typed.is_some(), header) {
            Some(parts) => Program::Simple(parts),
            None => Program::Interpreted(template),
        };
        let mut columns: Vec<String> = refs.columns.into_iter().map(|(_, n)| n).collect();
        columns.dedup();
        Ok(Hole {
            pointer: pointer.to_string(),
            text: text.to_string(),
            typed,
            columns,
            plain,
            program,
        })
    }

    /// `true` when the hole runs without the Handlebars interpreter.
    #[cfg(test)]
    pub fn is_simple(&self) -> bool {
        matches!(self.program, Program::Simple(_))
    }

    /// Renders the hole's text into `out` (cleared first). For a typed hole the text is the JSON
    /// value; otherwise it is the string's content, not yet escaped.
    pub fn render(
        &self,
        scope: &Scope<'_>,
        hb: &Handlebars<'static>,
        out: &mut String,
    ) -> Result<(), String> {
        out.clear();
        match &self.program {
            Program::Simple(parts) => {
                if let Some(t) = self.typed {
                    return t.write_json_as(&part_text(&parts[0], scope), scope.decimal_comma, out);
                }
                for part in parts {
                    match part {
                        Part::Literal(s) => out.push_str(s),
                        Part::Column(i) => out.push_str(scope.fields.get(*i).unwrap_or_default()),
                        Part::Default(i, fallback) => {
                            let cell = scope.fields.get(*i).unwrap_or_default();
                            out.push_str(if cell.trim().is_empty() {
                                fallback
                            } else {
                                cell
                            });
                        }
                        Part::RowNumber => {
                            use std::fmt::Write as _;
                            let _ = write!(out, "{}", scope.number);
                        }
                        Part::Key => out.push_str(scope.key),
                    }
                }
                Ok(())
            }
            Program::Interpreted(template) => {
                let mut rc = RenderContext::new(None);
                if let Some(block) = rc.block_mut() {
                    block.set_local_var("row", Value::from(scope.number));
                    block.set_local_var("key", Value::from(scope.key));
                }
                let mut sink = StringOut(out);
                template
                    .render(hb, scope.context(), &mut rc, &mut sink)
                    .map_err(|e| match e.reason() {
                        RenderErrorReason::Other(m) => m.clone(),
                        other => format!("{} cannot be rendered: {other}", self.text),
                    })
            }
        }
    }
}

fn part_text<'s>(part: &'s Part, scope: &'s Scope<'_>) -> std::borrow::Cow<'s, str> {
    match part {
        Part::Column(i) => scope.fields.get(*i).unwrap_or_default().into(),
        Part::Default(i, fallback) => {
            let cell = scope.fields.get(*i).unwrap_or_default();
            if cell.trim().is_empty() {
                fallback.as_str().into()
            } else {
                cell.into()
            }
        }
        Part::RowNumber => scope.number.to_string().into(),
        Part::Key => scope.key.into(),
        Part::Literal(s) => s.as_str().into(),
    }
}

struct StringOut<'a>(&'a mut String);

impl Output for StringOut<'_> {
    fn write(&mut self, seg: &str) -> Result<(), std::io::Error> {
        self.0.push_str(seg);
        Ok(())
    }
}

/// `Some(t)` when the template is exactly `{{t arg}}` for a typed helper `t`.
fn whole_typed(template: &Template) -> Option<ValueType> {
    let [TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h)] =
        template.elements.as_slice()
    else {
        return None;
    };
    match &h.name {
        Parameter::Name(n) if h.params.len() == 1 && h.hash.is_empty() => ValueType::from_name(n),
        _ => None,
    }
}

/// The simple program for a template, if it is one.
fn simple_parts(template: &Template, typed: bool, header: &Header) -> Option<Vec<Part>> {
    let lookup = |p: &Parameter| -> Option<Part> {
        match p {
            Parameter::Path(Path::Relative((segs, _))) => match segs.as_slice() {
                [PathSeg::Named(n)] => header.position(n).map(Part::Column),
                _ => None,
            },
            Parameter::Path(Path::Local((0, name, _))) if name == "row" => Some(Part::RowNumber),
            Parameter::Path(Path::Local((0, name, _))) if name == "key" => Some(Part::Key),
            _ => None,
        }
    };
    if typed {
        let [TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h)] =
            template.elements.as_slice()
        else {
            return None;
        };
        return lookup(&h.params[0]).map(|p| vec![p]);
    }
    let mut parts = Vec::with_capacity(template.elements.len());
    for element in &template.elements {
        match element {
            TemplateElement::RawString(s) => parts.push(Part::Literal(s.clone())),
            TemplateElement::Comment(_) => {}
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h)
                if h.params.is_empty() && h.hash.is_empty() && h.template.is_none() =>
            {
                parts.push(lookup(&h.name)?);
            }
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h)
                if matches!(&h.name, Parameter::Name(n) if n == "default")
                    && h.params.len() == 2
                    && h.hash.is_empty() =>
            {
                let Some(Part::Column(i)) = lookup(&h.params[0]) else {
                    return None;
                };
                let Parameter::Literal(fallback) = &h.params[1] else {
                    return None;
                };
                parts.push(Part::Default(i, text_of(fallback)));
            }
            _ => return None,
        }
    }
    Some(parts)
}

/// The columns a template writes as they are at its top level (`{{offer}}`, not inside a block,
/// not an argument of a helper).
fn plain_columns(template: &Template, header: &Header) -> Vec<usize> {
    let mut plain = Vec::new();
    for element in &template.elements {
        if let TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) = element {
            if !h.params.is_empty() || !h.hash.is_empty() || h.template.is_some() {
                continue;
            }
            if let Parameter::Path(Path::Relative((segs, _))) = &h.name {
                if let [PathSeg::Named(n)] = segs.as_slice() {
                    if let Some(i) = header.position(n) {
                        if !plain.contains(&i) {
                            plain.push(i);
                        }
                    }
                }
            }
        }
    }
    plain
}

/// The names a template reads from the row.
#[derive(Default)]
struct Refs {
    /// (as written, column name)
    columns: Vec<(String, String)>,
    unknown_locals: Vec<String>,
}

impl Refs {
    fn walk(&mut self, elements: &[TemplateElement], top: bool) {
        for element in elements {
            match element {
                TemplateElement::Expression(h)
                | TemplateElement::HtmlExpression(h)
                | TemplateElement::HelperBlock(h) => {
                    // `{{col}}` parses as a path (a lookup); `{{helper args}}` names the helper.
                    let helper = match &h.name {
                        Parameter::Name(n) => Some(n.as_str()),
                        other => {
                            self.param(other, top);
                            None
                        }
                    };
                    for p in &h.params {
                        self.param(p, top);
                    }
                    for p in h.hash.values() {
                        self.param(p, top);
                    }
                    // Inside `each` and `with` the context is no longer the row.
                    let same_context = !matches!(helper, Some("each" | "with"));
                    if let Some(t) = &h.template {
                        self.walk(&t.elements, top && same_context);
                    }
                    if let Some(t) = &h.inverse {
                        self.walk(&t.elements, top && same_context);
                    }
                }
                TemplateElement::DecoratorBlock(d) | TemplateElement::PartialBlock(d) => {
                    if let Some(t) = &d.template {
                        self.walk(&t.elements, false);
                    }
                }
                _ => {}
            }
        }
    }

    fn param(&mut self, p: &Parameter, top: bool) {
        match p {
            Parameter::Path(Path::Relative((segs, raw))) if top => {
                if let Some(PathSeg::Named(first)) = segs.first() {
                    if first != "this" {
                        self.columns.push((raw.clone(), first.clone()));
                    }
                }
            }
            Parameter::Path(Path::Local((0, name, _))) if top && name != "row" && name != "key" => {
                self.unknown_locals.push(name.clone());
            }
            Parameter::Subexpression(sub) => {
                if let TemplateElement::Expression(h) = sub.element.as_ref() {
                    for p in &h.params {
                        self.param(p, top);
                    }
                    for p in h.hash.values() {
                        self.param(p, top);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Header {
        Header::new(names.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    fn render(text: &str, names: &[&str], cells: &[&str]) -> Result<String, String> {
        let h = header(names);
        let hole = Hole::compile("/x", text, &h).map_err(|e| format!("{e:?}"))?;
        let fields = csv::StringRecord::from(cells.to_vec());
        let scope = Scope {
            number: 7,
            key: "k-7",
            fields: &fields,
            context: Default::default(),
            header: &h,
            decimal_comma: false,
        };
        let mut out = String::new();
        hole.render(&scope, &registry(false), &mut out)?;
        Ok(out)
    }

    #[test]
    fn simple_holes_skip_the_interpreter() {
        let h = header(&["first_name", "customer id"]);
        assert!(
            Hole::compile(
                "/x",
                "Hi {{first_name}} ({{[customer id]}}) #{{@row}} {{@key}}",
                &h
            )
            .unwrap()
            .is_simple()
        );
        assert!(
            !Hole::compile("/x", "{{#if first_name}}x{{/if}}", &h)
                .unwrap()
                .is_simple()
        );
        assert_eq!(
            render(
                "Hi {{first_name}} ({{[customer id]}}) #{{@row}} {{@key}}",
                &["first_name", "customer id"],
                &["Ann", "C 1"]
            )
            .unwrap(),
            "Hi Ann (C 1) #7 k-7"
        );
    }

    #[test]
    fn interpreted_holes_see_row_and_key() {
        assert_eq!(
            render(
                "{{#if vip}}Dear {{name}}{{else}}Hello{{/if}} {{@row}}/{{@key}}",
                &["vip", "name"],
                &["y", "Bo"]
            )
            .unwrap(),
            "Dear Bo 7/k-7"
        );
        assert_eq!(
            render("{{#if vip}}Dear{{else}}Hello{{/if}}", &["vip"], &[""]).unwrap(),
            "Hello"
        );
    }

    #[test]
    fn data_is_never_re_read_as_a_template() {
        let out = render("{{a}}", &["a"], &["{{b}} \"q\" \\ \n <&>"]).unwrap();
        assert_eq!(out, "{{b}} \"q\" \\ \n <&>");
        let out = render("{{#if a}}{{a}}{{/if}}", &["a"], &["<&> \"{{x}}\""]).unwrap();
        assert_eq!(out, "<&> \"{{x}}\"");
    }

    #[test]
    fn typed_whole_strings() {
        let h = header(&["zoom"]);
        let hole = Hole::compile("/x", "{{number zoom}}", &h).unwrap();
        assert_eq!(hole.typed, Some(ValueType::Number));
        assert!(hole.is_simple());
        assert_eq!(
            render("{{number zoom}}", &["zoom"], &["1.5"]).unwrap(),
            "1.5"
        );
        let err = render("{{number zoom}}", &["zoom"], &["abc"]).unwrap_err();
        assert_eq!(err, "\"abc\" is not a number");
        // Inside a longer string a typed helper writes its canonical text.
        assert_eq!(render("x{{int n}}y", &["n"], &["3.0"]).unwrap(), "x3y");
        let err = render("x{{int n}}y", &["n"], &["a"]).unwrap_err();
        assert!(err.contains("column \"n\""), "{err}");
    }

    #[test]
    fn default_gives_a_fallback_for_empty_cells() {
        let h = header(&["name", "offer"]);
        let hole = Hole::compile(
            "/x",
            "Hi {{name}}: {{default offer \"our best offer\"}}",
            &h,
        )
        .unwrap();
        assert!(hole.is_simple());
        assert_eq!(hole.plain, [0]);
        let text = "Hi {{name}}: {{default offer \"our best offer\"}}";
        assert_eq!(
            render(text, &["name", "offer"], &["Ann", " "]).unwrap(),
            "Hi Ann: our best offer"
        );
        assert_eq!(
            render(text, &["name", "offer"], &["Ann", "10%"]).unwrap(),
            "Hi Ann: 10%"
        );
        // Through the interpreter too, and inside typed helpers.
        let text = "{{#if name}}{{name}}{{/if}} {{default offer \"none\"}}";
        assert!(Hole::compile("/x", text, &h).unwrap().plain.is_empty());
        assert_eq!(
            render(text, &["name", "offer"], &["", ""]).unwrap(),
            " none"
        );
        assert_eq!(
            render(
                "{{number (default offer \"1.5\")}}",
                &["name", "offer"],
                &["", ""]
            )
            .unwrap(),
            "1.5"
        );
        let e = render("{{default offer}}", &["name", "offer"], &["", ""]).unwrap_err();
        assert!(e.contains("takes a column and a fallback"), "{e}");
        assert!(matches!(
            Hole::compile("/x", "{{default ofer \"x\"}}", &h),
            Err(HoleError::Unknown(_))
        ));
    }

    #[test]
    fn unknown_columns_are_found_at_compile_time() {
        let h = header(&["first_name", "a.b", "customer id"]);
        let e = Hole::compile("/x", "Hi {{frist_name}}", &h).unwrap_err();
        let HoleError::Unknown(mut u) = e else {
            panic!()
        };
        let u = u.remove(0);
        assert_eq!(u.name, "frist_name");
        assert!(u.hint.unwrap().contains("first_name"));
        let HoleError::Unknown(mut u) = Hole::compile("/x", "{{a.b}}", &h).unwrap_err() else {
            panic!()
        };
        let u = u.remove(0);
        assert!(u.hint.unwrap().contains("{{[a.b]}}"));
        let HoleError::Unknown(u) = Hole::compile(
            "/x",
            "{{#if nope}}{{nope2}}{{/if}} {{first_name}} {{nope}}",
            &h,
        )
        .unwrap_err() else {
            panic!()
        };
        let names: Vec<&str> = u.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["nope", "nope2"]);
        let HoleError::Unknown(u) = Hole::compile("/x", "{{@index}}", &h).unwrap_err() else {
            panic!()
        };
        assert_eq!(u[0].name, "@index");
        assert!(matches!(
            Hole::compile("/x", "{{", &h),
            Err(HoleError::Syntax(_))
        ));
    }
}
