//! A JSON document compiled into static byte runs and holes.
//!
//! The document is serialised once, compactly, into one static buffer. Wherever a row can change
//! something there is a piece instead: a placeholder string (text or typed), or a binding. A row's
//! output is the static runs copied plus the pieces rendered, so rendering costs a memcpy of the
//! unchanging bytes and the work of the holes, never a walk of the JSON tree.

use crate::binding::Binding;
use crate::error::{CompileError, Origin, Problem};
use crate::hole::{Hole, HoleError, Scope};
use crate::pointer::push_token;
use crate::row::Header;
use handlebars::Handlebars;
use serde_json::Value;

/// One step of a compiled document.
#[derive(Debug, Clone, Copy)]
enum Piece {
    /// Copy `statics[start..end]`.
    Static { start: u32, end: u32 },
    /// A placeholder string: write the rendered text as a JSON string.
    Text(u32),
    /// A whole-string typed placeholder: write the rendered JSON value.
    Typed(u32),
    /// A binding: if its cell is non-empty write the cell's value and skip the next `skip` pieces
    /// (the template's own value); otherwise go on into them.
    Bound { binding: u32, skip: u32 },
}

/// A compiled JSON document (the template, or a patch file).
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    statics: Vec<u8>,
    pieces: Vec<Piece>,
    /// The placeholder strings, in document order.
    pub holes: Vec<Hole>,
    /// The bindings, in document order.
    pub bindings: Vec<Binding>,
}

/// What a site (a hole or a binding) did in the last row rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// Not reached: an enclosing binding replaced it.
    NotRun,
    /// A binding whose cell was empty: the template's own value (or the holes in it) follows.
    FellThrough,
    /// Wrote `out[start..end]`.
    Wrote(u32, u32),
}

/// Scratch space one rendering thread reuses from row to row.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub text: String,
    /// Per site (holes first, then bindings): what it did in the last row.
    pub spans: Vec<Span>,
}

impl Doc {
    /// Compiles `value`: every string holding `{{` becomes a hole, every binding's location a
    /// binding piece. `what` names the document in messages ("template", "patch").
    ///
    /// A placeholder naming a column the header lacks does not stop the compilation: it is
    /// pushed to `missing` (so that one report can name every one) and left as a literal.
    pub fn compile(
        value: &Value,
        header: &Header,
        bindings: Vec<Binding>,
        what: &str,
        missing: &mut Vec<CompileError>,
    ) -> Result<Doc, CompileError> {
        let mut c = Compiler {
            header,
            missing,
            bindings: &bindings,
            doc: Doc {
                statics: Vec::new(),
                pieces: Vec::new(),
                holes: Vec::new(),
                bindings: Vec::new(),
            },
            what,
        };
        let mut pointer = String::new();
        c.emit(value, &mut pointer)?;
        c.flush_static_marker();
        let mut doc = c.doc;
        // Keep bindings in the order their pieces appear.
        let mut ordered = Vec::with_capacity(bindings.len());
        for p in &doc.pieces {
            if let Piece::Bound { binding, .. } = p {
                ordered.push(bindings[*binding as usize].clone());
            }
        }
        let mut next = 0u32;
        for p in &mut doc.pieces {
            if let Piece::Bound { binding, .. } = p {
                *binding = next;
                next += 1;
            }
        }
        doc.bindings = ordered;
        Ok(doc)
    }

    /// `true` when nothing in the document depends on the row.
    pub fn is_static(&self) -> bool {
        self.holes.is_empty() && self.bindings.is_empty()
    }

    /// Renders the document for one row into `out` (appending). Problems (a cell that cannot be
    /// typed, a helper that fails) are appended to `problems`, and `null` stands in for the value,
    /// so `out` stays well-formed JSON that can still be checked for other problems.
    pub fn render(
        &self,
        scope: &Scope<'_>,
        hb: &Handlebars<'static>,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
        problems: &mut Vec<Problem>,
    ) {
        let holes = self.holes.len();
        scratch.spans.clear();
        scratch
            .spans
            .resize(holes + self.bindings.len(), Span::NotRun);
        let mut i = 0;
        while i < self.pieces.len() {
            match self.pieces[i] {
                Piece::Static { start, end } => {
                    out.extend_from_slice(&self.statics[start as usize..end as usize])
                }
                Piece::Text(h) | Piece::Typed(h) => {
                    let hole = &self.holes[h as usize];
                    let start = out.len() as u32;
                    match hole.render(scope, hb, &mut scratch.text) {
                        Ok(()) if hole.typed.is_some() => {
                            out.extend_from_slice(scratch.text.as_bytes())
                        }
                        Ok(()) => write_json_string(out, &scratch.text),
                        Err(message) => {
                            // Keep the output well-formed so the rest of the row can still be checked.
                            out.extend_from_slice(b"null");
                            problems.push(Problem {
                                pointer: Some(hole.pointer.clone()),
                                origins: hole_origins(hole),
                                message,
                            })
                        }
                    }
                    scratch.spans[h as usize] = Span::Wrote(start, out.len() as u32);
                }
                Piece::Bound { binding, skip } => {
                    let b = &self.bindings[binding as usize];
                    let cell = scope.fields.get(b.index).unwrap_or_default();
                    let start = out.len() as u32;
                    if cell.trim().is_empty() {
                        scratch.spans[holes + binding as usize] = Span::FellThrough;
                    } else {
                        match b.ty {
                            None => write_json_string(out, cell),
                            Some(t) => {
                                scratch.text.clear();
                                match t.write_json_as(cell, scope.decimal_comma, &mut scratch.text)
                                {
                                    Ok(()) => out.extend_from_slice(scratch.text.as_bytes()),
                                    Err(message) => {
                                        // Keep the output well-formed so the rest of the row can still be checked.
                                        out.extend_from_slice(b"null");
                                        problems.push(Problem {
                                            pointer: Some(b.pointer.clone()),
                                            origins: vec![Origin::Column(b.column.clone())],
                                            message,
                                        })
                                    }
                                }
                            }
                        }
                        scratch.spans[holes + binding as usize] =
                            Span::Wrote(start, out.len() as u32);
                        i += skip as usize;
                    }
                }
            }
            i += 1;
        }
    }
}

/// Where a hole's value comes from: the placeholder and the columns it reads.
pub(crate) fn hole_origins(hole: &Hole) -> Vec<Origin> {
    let mut origins: Vec<Origin> = hole
        .columns
        .iter()
        .map(|c| Origin::Column(c.clone()))
        .collect();
    origins.push(Origin::Placeholder(hole.text.clone()));
    origins
}

/// Writes `s` as a JSON string (quoted, escaped) with serde_json's escaper.
pub(crate) fn write_json_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing to a Vec cannot fail");
}

struct Compiler<'a> {
    header: &'a Header,
    missing: &'a mut Vec<CompileError>,
    bindings: &'a [Binding],
    doc: Doc,
    what: &'a str,
}

impl Compiler<'_> {
    fn emit(&mut self, value: &Value, pointer: &mut String) -> Result<(), CompileError> {
        let bound = self.bindings.iter().position(|b| b.pointer == *pointer);
        let marker = bound.map(|b| {
            self.flush_static_marker();
            self.doc.pieces.push(Piece::Bound {
                binding: b as u32,
                skip: 0,
            });
            self.doc.pieces.len() - 1
        });
        match value {
            Value::Object(map) => {
                self.doc.statics.push(b'{');
                for (n, (key, v)) in map.iter().enumerate() {
                    if n > 0 {
                        self.doc.statics.push(b',');
                    }
                    write_json_string(&mut self.doc.statics, key);
                    self.doc.statics.push(b':');
                    let len = pointer.len();
                    push_token(pointer, key);
                    self.emit(v, pointer)?;
                    pointer.truncate(len);
                }
                self.doc.statics.push(b'}');
            }
            Value::Array(items) => {
                self.doc.statics.push(b'[');
                for (n, v) in items.iter().enumerate() {
                    if n > 0 {
                        self.doc.statics.push(b',');
                    }
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(itoa_usize(n).as_str());
                    self.emit(v, pointer)?;
                    pointer.truncate(len);
                }
                self.doc.statics.push(b']');
            }
            Value::String(s) if s.contains("{{") => {
                match Hole::compile(pointer, s, self.header) {
                    Ok(hole) => {
                        self.flush_static_marker();
                        let index = self.doc.holes.len() as u32;
                        self.doc.pieces.push(if hole.typed.is_some() {
                            Piece::Typed(index)
                        } else {
                            Piece::Text(index)
                        });
                        self.doc.holes.push(hole);
                    }
                    Err(HoleError::Syntax(message)) => {
                        return Err(CompileError::BadPlaceholder {
                            pointer: self.place(pointer),
                            text: s.clone(),
                            message,
                        });
                    }
                    Err(HoleError::Unknown(unknown)) => {
                        for u in unknown {
                            let pointer = self.place(pointer);
                            self.missing.push(CompileError::UnknownColumn {
                                pointer,
                                placeholder: u.placeholder,
                                name: u.name,
                                hint: u.hint,
                            });
                        }
                        // Compiling goes on to find the others; this document is never rendered.
                        write_json_string(&mut self.doc.statics, s);
                    }
                }
            }
            leaf => serde_json::to_writer(&mut self.doc.statics, leaf)
                .expect("writing to a Vec cannot fail"),
        }
        if let Some(at) = marker {
            self.flush_static_marker();
            let skip = (self.doc.pieces.len() - at - 1) as u32;
            if let Piece::Bound { skip: s, .. } = &mut self.doc.pieces[at] {
                *s = skip;
            }
        }
        Ok(())
    }

    fn place(&self, pointer: &str) -> String {
        if self.what == "template" {
            pointer.to_string()
        } else {
            format!("{} {pointer}", self.what)
        }
    }

    /// Closes the static run in progress (if any) as a piece, so that a non-static piece can follow.
    fn flush_static_marker(&mut self) {
        let end = self.doc.statics.len() as u32;
        let start = self
            .doc
            .pieces
            .iter()
            .rev()
            .find_map(|p| match p {
                Piece::Static { end, .. } => Some(*end),
                _ => None,
            })
            .unwrap_or(0);
        if end > start {
            self.doc.pieces.push(Piece::Static { start, end });
        }
    }
}

fn itoa_usize(n: usize) -> String {
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding;
    use serde_json::json;

    fn render(doc_value: Value, names: &[&str], cells: &[&str]) -> (String, Vec<Problem>) {
        let header = Header::new(names.iter().map(|s| s.to_string()).collect()).unwrap();
        let mut missing = Vec::new();
        let bindings = binding::resolve_all(&header, &doc_value, &mut missing).unwrap();
        let doc = Doc::compile(&doc_value, &header, bindings, "template", &mut missing).unwrap();
        assert!(missing.is_empty(), "{missing:?}");
        let fields = csv::StringRecord::from(cells.to_vec());
        let scope = Scope {
            number: 1,
            key: "row-1",
            fields: &fields,
            context: Default::default(),
            header: &header,
            decimal_comma: false,
        };
        let mut out = Vec::new();
        let mut problems = Vec::new();
        doc.render(
            &scope,
            &crate::hole::registry(false),
            &mut Scratch::default(),
            &mut out,
            &mut problems,
        );
        (String::from_utf8(out).unwrap(), problems)
    }

    #[test]
    fn static_documents_round_trip_compactly_in_order() {
        let v = json!({"z": 1, "a": [true, null, 1.5, "x\"y"], "m": {}});
        let (out, p) = render(v.clone(), &["c"], &["1"]);
        assert!(p.is_empty());
        assert_eq!(out, r#"{"z":1,"a":[true,null,1.5,"x\"y"],"m":{}}"#);
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), v);
    }

    #[test]
    fn holes_and_typed_holes() {
        let v = json!({"name": "Hi {{n}}", "zoom": "{{number z}}", "list": ["{{bool b}}", "{{json j}}"]});
        let (out, p) = render(
            v,
            &["n", "z", "b", "j"],
            &["A \"q\" \n{{x}}", "2.5", "yes", "{\"k\": [1]}"],
        );
        assert!(p.is_empty(), "{p:?}");
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            parsed,
            json!({"name": "Hi A \"q\" \n{{x}}", "zoom": 2.5, "list": [true, {"k": [1]}]})
        );
    }

    #[test]
    fn bindings_override_and_empty_cells_keep_the_template() {
        let v = json!({"scenes": [{"clips": [{"id": "c", "url": "{{u}}", "scale": 1}]}]});
        let names = [
            "u",
            "/scenes/0/clips/0/url",
            "@c/scale:number",
            "/scenes/0/clips/0:json",
        ];
        let (out, p) = render(v.clone(), &names, &["from-hole", "", "", ""]);
        assert!(p.is_empty());
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap()["scenes"][0]["clips"][0],
            json!({"id": "c", "url": "from-hole", "scale": 1})
        );
        let (out, _) = render(v.clone(), &names, &["from-hole", "{{u}} is data", "2", ""]);
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap()["scenes"][0]["clips"][0],
            json!({"id": "c", "url": "{{u}} is data", "scale": 2})
        );
        let (out, _) = render(v.clone(), &names, &["x", "y", "2", "{\"id\":\"other\"}"]);
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap()["scenes"][0]["clips"][0],
            json!({"id": "other"})
        );
        let (_, p) = render(v, &names, &["x", "", "big", ""]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].pointer.as_deref(), Some("/scenes/0/clips/0/scale"));
        assert_eq!(p[0].origins, vec![Origin::Column("@c/scale:number".into())]);
    }

    #[test]
    fn all_problems_of_a_row_are_collected() {
        let v = json!({"a": "{{number x}}", "b": "{{int y}}"});
        let (_, p) = render(v, &["x", "y"], &["no", "1.5"]);
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].pointer.as_deref(), Some("/b"));
    }
}
