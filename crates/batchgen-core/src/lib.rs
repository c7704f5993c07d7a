//! # batchgen-core
//!
//! The templating core of batchgen: compile an AI Studios project template once against a CSV
//! header, then render one validated project per row — fast, in parallel, in input order, with
//! memory that stays flat however many rows there are. Synchronous, no network.
//!
//! Per row, in order (see `docs/templating.md`):
//! 1. **placeholders**: every string value holding `{{` is a Handlebars template over the row;
//!    `"{{number zoom}}"`, `"{{int n}}"`, `"{{bool b}}"`, `"{{json j}}"` become typed values;
//! 2. **bindings**: headers that are JSON Pointers (`/scenes/0/clips/1/source_url`) or clip
//!    selectors (`@image-1hgur0eiu11/scaleX:number`) set that location;
//! 3. **patches**: a `--patch` file (RFC 6902), then a `patch` column (RFC 6902) and a `merge`
//!    column (RFC 7396);
//! 4. **validation** against the AI Studios project schema and rules ([`validate`]).
//!
//! Layout, one idea a module: `template` (the file, [`TemplateSource`], compiled once into a
//! [`Template`]), `hole` (the strings holding placeholders), `binding` (headers that name a
//! place), `patch` (the `--patch` file and the per-row `patch`/`merge` columns), `value_type`
//! (the typed conversions both share), `key` (row keys), `row` (the streamed CSV reader: its
//! encoding, blank rows, positions), `render` (rows in parallel, in order, into a [`Sink`]),
//! [`validate`] (the schema and the rules), `site_check` (that validation planned once per
//! template, at the sites rows can change), `project` and `pointer` (walking a project, RFC
//! 6901), [`error`] (typed errors whose messages read after "failed to").
//!
//! ```
//! use batchgen_core::{render_stream, RenderedRow, RowReader, Template, TemplateSource};
//!
//! let source = TemplateSource::parse("t.json", r#"{
//!   "name": "Welcome {{first_name}}",
//!   "scenes": [{"sceneIdx": 0, "background": {}, "clips": [
//!     {"id": "m", "type": "aiModel", "layer": 1, "left": 0, "top": 0, "width": 10, "height": 10,
//!      "model": {"ai_name": "M1", "emotion": "B1"}, "script": {"org": "Hello {{first_name}}!"}}]}]
//! }"#).unwrap();
//! let csv = "first_name\nAnn\n\"Bo \"\"B\"\"\"\n\n";
//! let rows = RowReader::from_reader(csv.as_bytes(), "people.csv").unwrap();
//! let template = Template::builder(&source, rows.header()).build().unwrap();
//!
//! let mut projects = Vec::new();
//! render_stream(&template, rows, &mut |r: RenderedRow| {
//!     projects.push(String::from_utf8(r.outcome.unwrap()).unwrap());
//!     Ok::<_, std::convert::Infallible>(())
//! }).unwrap();
//! assert_eq!(projects.len(), 2);
//! assert!(projects[1].contains(r#""org":"Hello Bo \"B\"!""#));
//! ```

mod binding;
pub mod error;
mod hole;
mod key;
mod patch;
mod pointer;
mod project;
mod render;
mod row;
mod site_check;
mod template;
pub mod validate;
mod value_type;

pub use error::{CompileError, InputError, Origin, Problem, RowError, TemplateError};
pub use key::{KeySource, check_unique, check_unique_with, file_stem};
pub use render::{RenderError, RenderStats, RenderedRow, Sink, render_stream};
pub use row::{EncodingSource, FileEncoding, Header, ReadOptions, Row, RowDefect, RowReader};
pub use template::{Scratch, Template, TemplateBuilder, TemplateSource, Warning};
pub use value_type::ValueType;

/// The examples of `docs/embedding.md`, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/embedding.md")]
pub struct EmbeddingGuide;
