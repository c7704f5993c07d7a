//! `batchgen render` and `batchgen validate`: the templating core from the command line.

use crate::error::{Error, IoAction as _, rendering};
use crate::exit::Outcome;
use crate::report::{self, RowReport};
use batchgen_core::{RenderedRow, RowReader, Template, TemplateSource, render_stream};
use clap::Args;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Inputs shared by every command that renders.
#[derive(Debug, Args)]
pub struct Inputs {
    /// The CSV: a header row naming the columns, then one row per video.
    #[arg(value_name = "DATA")]
    pub data: PathBuf,
    /// The base project: an AI Studios project JSON with {{placeholders}}.
    #[arg(value_name = "TEMPLATE")]
    pub template: PathBuf,
    /// Column whose values are the row keys (unique; they name output files). Default: row-N.
    #[arg(long, value_name = "COLUMN")]
    pub key: Option<String>,
    /// An RFC 6902 JSON Patch applied to every row (may hold placeholders).
    #[arg(long, value_name = "FILE")]
    pub patch: Option<PathBuf>,
    #[command(flatten)]
    pub cells: CellArgs,
}

/// How the CSV's bytes and cells are read.
#[derive(Debug, Clone, Args)]
pub struct CellArgs {
    /// Read the CSV in this encoding (utf-8, utf-16le, windows-1252, iso-8859-15, shift_jis, …).
    /// Default: a BOM decides, else UTF-8, else Windows-1252 (with a warning).
    #[arg(long, value_name = "NAME")]
    pub encoding: Option<String>,
    /// A row with an empty cell under a plain placeholder ({{offer}}) is invalid, instead of
    /// rendering with a gap (use {{default offer "…"}} where a fallback is fine).
    #[arg(long)]
    pub require_cells: bool,
    /// Numbers may use a decimal comma (0,12 is 0.12), as spreadsheets in many locales save them.
    #[arg(long)]
    pub decimal_comma: bool,
}

/// `batchgen render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// Write DIR/projects.jsonl and DIR/manifest.csv instead of JSONL to stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `batchgen validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub inputs: Inputs,
}

/// The inputs, loaded and checked: everything that can fail before any row is rendered.
pub struct Prepared {
    pub template: Template,
    pub rows: RowReader<std::fs::File>,
    /// How the CSV is read (again, for a second pass).
    pub options: batchgen_core::ReadOptions,
    /// The CSV manifest's separator and BOM: the input's.
    pub style: batchgen_dispatch::manifest::CsvStyle,
}

/// Loads the template and the CSV, compiles, and checks keys. Any failure here means nothing
/// was done (exit 2).
pub fn prepare(inputs: &Inputs, quiet: bool) -> crate::error::Result<Prepared> {
    prepare_named(inputs, quiet, None)
}

/// [`prepare`], the template's top-level `name` replaced by `name` (`run --name`; see
/// [`crate::cmd::run`]), `{{@run}}` in it made [`batchgen_dispatch::naming::RUN_PLACEHOLDER`]
/// for the engine to fill in.
pub fn prepare_named(
    inputs: &Inputs,
    quiet: bool,
    name: Option<&str>,
) -> crate::error::Result<Prepared> {
    let mut source = TemplateSource::from_path(&inputs.template)?;
    if let Some(name) = name {
        let mut document = source.document().clone();
        if let Some(object) = document.as_object_mut() {
            let mut text = name.to_owned();
            for run in ["{{@run}}", "{{ @run }}"] {
                text = text.replace(run, batchgen_dispatch::naming::RUN_PLACEHOLDER);
            }
            object.insert("name".into(), text.into());
        }
        source = TemplateSource::from_value(&inputs.template, document)?;
    }
    if !quiet {
        for w in source.warnings() {
            crate::output::say!("warning: {}", w.message);
        }
    }
    let options = report::read_options(inputs.cells.encoding.as_deref())?;
    let rows = RowReader::with_options(&inputs.data, options)?;
    if !quiet {
        if let Some(w) = report::encoding_warning(&inputs.data, rows.encoding()) {
            crate::output::say!("{w}");
        }
    }
    let style = report::manifest_style(rows.delimiter(), rows.encoding());
    let mut builder = Template::builder(&source, rows.header())
        .key_column(inputs.key.as_deref())
        .require_cells(inputs.cells.require_cells)
        .decimal_comma(inputs.cells.decimal_comma);
    if let Some(patch) = &inputs.patch {
        builder = builder.patch_file(patch)?;
    }
    let template = builder.build().map_err(|source| Error::Fit {
        template: inputs.template.clone(),
        data: inputs.data.clone(),
        source: Box::new(source),
    })?;
    match template.full_validation_reason() {
        Some(reason) => tracing::info!("rows are validated as whole documents: {reason}"),
        None => tracing::debug!("rows are validated at their placeholders and bindings only"),
    }
    if let Some(key) = &inputs.key {
        batchgen_core::check_unique_with(&inputs.data, options, key)?;
    }
    Ok(Prepared {
        template,
        rows,
        options,
        style,
    })
}

pub fn render(args: RenderArgs, quiet: bool) -> crate::error::Result<Outcome> {
    let prepared = prepare(&args.inputs, quiet)?;
    let header: Vec<String> = prepared.template.header().names().to_vec();
    let mut cells = RowReport::new(&header);
    let stats = match &args.out {
        None => {
            let stdout = std::io::stdout().lock();
            let mut out = BufWriter::with_capacity(1 << 16, stdout);
            let stats = render_stream(
                &prepared.template,
                prepared.rows,
                &mut |r: RenderedRow| -> std::io::Result<()> {
                    cells.add(&r);
                    match &r.outcome {
                        Ok(project) => write_jsonl(&mut out, &r, project),
                        Err(e) => {
                            if !quiet {
                                crate::output::say!("invalid: {e}");
                            }
                            Ok(())
                        }
                    }
                },
            )
            .map_err(|e| rendering(e, Path::new("stdout")))?;
            out.flush().action(|| "write stdout".into())?;
            stats
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).action(|| format!("create {}", dir.display()))?;
            let projects_path = dir.join("projects.jsonl");
            let manifest_path = dir.join("manifest.csv");
            let projects_tmp = dir.join(".projects.jsonl.tmp");
            let manifest_tmp = dir.join(".manifest.csv.tmp");
            let mut projects = BufWriter::with_capacity(
                1 << 16,
                std::fs::File::create(&projects_tmp)
                    .action(|| format!("write {}", projects_tmp.display()))?,
            );
            let mut manifest_file = std::fs::File::create(&manifest_tmp)
                .action(|| format!("write {}", manifest_tmp.display()))?;
            if prepared.style.bom {
                manifest_file
                    .write_all("\u{feff}".as_bytes())
                    .action(|| format!("write {}", manifest_tmp.display()))?;
            }
            let mut manifest = csv::WriterBuilder::new()
                .delimiter(prepared.style.delimiter)
                .from_writer(manifest_file);
            let mut head = vec![
                "row".to_string(),
                "key".into(),
                "status".into(),
                "error".into(),
            ];
            head.extend(header.iter().cloned());
            manifest
                .write_record(&head)
                .map_err(std::io::Error::other)
                .action(|| format!("write {}", manifest_tmp.display()))?;
            let width = header.len();
            let stats = render_stream(
                &prepared.template,
                prepared.rows,
                &mut |r: RenderedRow| -> std::io::Result<()> {
                    cells.add(&r);
                    let (status, error) = match &r.outcome {
                        Ok(project) => {
                            write_jsonl(&mut projects, &r, project)?;
                            ("rendered", String::new())
                        }
                        Err(e) => {
                            if !quiet {
                                crate::output::say!("invalid: {e}");
                            }
                            ("invalid", e.summary())
                        }
                    };
                    let mut record = vec![
                        r.row.number.to_string(),
                        r.key.clone(),
                        status.to_string(),
                        error,
                    ];
                    record.extend((0..width).map(|i| r.row.cell(i).to_string()));
                    manifest
                        .write_record(&record)
                        .map_err(std::io::Error::other)
                },
            )
            .map_err(|e| rendering(e, dir))?;
            projects
                .flush()
                .and_then(|()| projects.get_ref().sync_all())
                .action(|| format!("write {}", projects_tmp.display()))?;
            manifest
                .flush()
                .action(|| format!("write {}", manifest_tmp.display()))?;
            drop(manifest);
            for (tmp, path) in [
                (&projects_tmp, &projects_path),
                (&manifest_tmp, &manifest_path),
            ] {
                std::fs::rename(tmp, path).action(|| format!("write {}", path.display()))?;
            }
            stats
        }
    };
    cells.blank = stats.blank;
    if !quiet {
        cells.warn_cells(&args.inputs.data);
    }
    summarise(&args.inputs.data, stats, quiet, args.out.as_deref());
    Ok(if stats.invalid > 0 {
        Outcome::SomeRowsFailed
    } else {
        Outcome::Success
    })
}

pub fn validate(args: ValidateArgs, quiet: bool) -> crate::error::Result<Outcome> {
    let prepared = prepare(&args.inputs, quiet)?;
    let mut out = std::io::stdout().lock();
    let mut cells = RowReport::new(prepared.template.header().names());
    let stats = render_stream(
        &prepared.template,
        prepared.rows,
        &mut |r: RenderedRow| -> std::io::Result<()> {
            cells.add(&r);
            if let Err(e) = &r.outcome {
                writeln!(out, "row {} (line {}, key {}):", e.row, e.line, r.key)?;
                for p in &e.problems {
                    writeln!(out, "  {p}")?;
                }
            }
            Ok(())
        },
    )
    .map_err(|e| rendering(e, Path::new("stdout")))?;
    let stdout = || "write stdout".to_owned();
    for line in cells.empty_lines() {
        writeln!(out, "{line}").action(stdout)?;
    }
    if !quiet {
        let blank = match stats.blank {
            0 => String::new(),
            1 => "; 1 blank row skipped".into(),
            n => format!("; {n} blank rows skipped"),
        };
        writeln!(
            out,
            "{}: {} rows, {} valid, {} invalid{blank}",
            args.inputs.data.display(),
            stats.rows,
            stats.rendered,
            stats.invalid
        )
        .action(stdout)?;
    }
    Ok(if stats.invalid > 0 {
        Outcome::SomeRowsFailed
    } else {
        Outcome::Success
    })
}

fn write_jsonl(out: &mut impl Write, r: &RenderedRow, project: &[u8]) -> std::io::Result<()> {
    write!(out, "{{\"row\":{},\"key\":", r.row.number)?;
    serde_json::to_writer(&mut *out, &r.key)?;
    out.write_all(b",\"project\":")?;
    out.write_all(project)?;
    out.write_all(b"}\n")
}

fn summarise(data: &Path, stats: batchgen_core::RenderStats, quiet: bool, out: Option<&Path>) {
    if quiet {
        return;
    }
    let place = out
        .map(|d| format!(" into {}", d.display()))
        .unwrap_or_default();
    crate::output::say!(
        "{}: rendered {} of {} rows{place}; {} invalid",
        data.display(),
        stats.rendered,
        stats.rows,
        stats.invalid
    );
}
