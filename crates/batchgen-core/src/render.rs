//! Rendering a stream of rows in parallel, pushing each result, in input order, into a [`Sink`].
//!
//! Rows are read in chunks, rendered on rayon's pool, and handed to the sink in the order they were
//! read. Only one chunk is in memory at a time, so memory stays flat however long the CSV is.

use crate::error::{InputError, RowError};
use crate::row::{Row, RowReader};
use crate::template::{Scratch, Template};
use rayon::prelude::*;
use std::io::Read;

/// Rows rendered per parallel batch.
const CHUNK: usize = 512;

/// One row's result.
#[derive(Debug)]
pub struct RenderedRow {
    /// The row as read.
    pub row: Row,
    /// Its key.
    pub key: String,
    /// The project as compact JSON, or why the row is invalid.
    pub outcome: Result<Vec<u8>, RowError>,
    /// The columns (positions) whose cell is empty under a plain placeholder
    /// ([`Template::empty_columns`]); empty for a row that could not be read.
    pub empty: Vec<usize>,
}

/// Where rendered rows go: a JSONL writer, a dispatcher's queue, a test's `Vec`.
///
/// `accept` is called once per row, in input order, from the thread that called
/// [`render_stream`]. Returning an error stops the stream; that error is returned.
/// Any `FnMut(RenderedRow) -> Result<(), E>` is a sink: `render_stream(&t, rows, &mut |r| ...)`.
pub trait Sink {
    /// The sink's own error.
    type Error;
    /// Takes one row's result.
    fn accept(&mut self, rendered: RenderedRow) -> Result<(), Self::Error>;
}

impl<F, E> Sink for F
where
    F: FnMut(RenderedRow) -> Result<(), E>,
{
    type Error = E;
    fn accept(&mut self, rendered: RenderedRow) -> Result<(), E> {
        self(rendered)
    }
}

/// Why a stream stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RenderError<E> {
    /// The CSV could not be read further.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The sink refused a row.
    #[error("write a rendered row: the output refused it")]
    Sink(#[source] E),
}

/// Counts of a finished stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderStats {
    /// Rows read.
    pub rows: u64,
    /// Rows rendered and valid.
    pub rendered: u64,
    /// Rows invalid.
    pub invalid: u64,
    /// Blank rows skipped (every cell empty); not counted in `rows`.
    pub blank: u64,
}

/// Renders every row of `rows` with `template` on rayon's thread pool and pushes the results into
/// `sink` in input order.
pub fn render_stream<R: Read, S: Sink + ?Sized>(
    template: &Template,
    mut rows: RowReader<R>,
    sink: &mut S,
) -> Result<RenderStats, RenderError<S::Error>> {
    let mut stats = RenderStats::default();
    let mut chunk: Vec<Row> = Vec::with_capacity(CHUNK);
    loop {
        chunk.clear();
        while chunk.len() < CHUNK {
            match rows.next_row() {
                Some(row) => chunk.push(row?),
                None => break,
            }
        }
        if chunk.is_empty() {
            stats.blank = rows.blank_rows();
            return Ok(stats);
        }
        let rendered: Vec<RenderedRow> = std::mem::take(&mut chunk)
            .into_par_iter()
            .map_init(Scratch::default, |scratch, row| {
                let key = template.key_of(&row);
                let mut out = Vec::new();
                let outcome = template
                    .render_into(&row, &key, scratch, &mut out)
                    .map(|()| out);
                let empty = if row.defect.is_none() {
                    template.empty_columns(&row)
                } else {
                    Vec::new()
                };
                RenderedRow {
                    row,
                    key,
                    outcome,
                    empty,
                }
            })
            .collect();
        for r in rendered {
            stats.rows += 1;
            if r.outcome.is_ok() {
                stats.rendered += 1;
            } else {
                stats.invalid += 1;
            }
            sink.accept(r).map_err(RenderError::Sink)?;
        }
    }
}
