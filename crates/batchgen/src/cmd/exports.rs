//! `batchgen exports list`: past v2 exports (`GET /v2/exports`), optionally of one folder or
//! project, as a table or (`--json`) as the vendor's array of export objects.

use std::fmt::Write as _;
use std::time::Duration;

use batchgen_aistudios::{Client, Export, ExportRequest, Watermark};
use batchgen_sandbox::SandboxConfig;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::api::{ApiArgs, SANDBOX_CONFLICTS, sandbox_client, start_sandbox, with_retries};
use crate::error::IoAction as _;
use crate::exit::Outcome;

/// `batchgen exports`.
#[derive(Debug, Args)]
pub struct ExportsArgs {
    #[command(subcommand)]
    pub command: ExportsCommand,
}

/// What `batchgen exports` does.
#[derive(Debug, Subcommand)]
pub enum ExportsCommand {
    /// A table of past exports: id, status, project, folder, created, finished, name, video URL.
    List(ListArgs),
}

/// `batchgen exports list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the exports of projects in this folder.
    #[arg(long, value_name = "ID")]
    pub folder_id: Option<String>,
    /// Only the exports of this project.
    #[arg(long, value_name = "ID")]
    pub project_id: Option<String>,
    /// Print the vendor's JSON array of export objects instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
    /// A demo: list the exports of a sandbox started here with a few seeded projects and
    /// exports (no account needed).
    #[arg(long, conflicts_with_all = SANDBOX_CONFLICTS)]
    pub sandbox: bool,
}

pub fn run(args: ExportsArgs, quiet: bool) -> crate::error::Result<Outcome> {
    let ExportsCommand::List(args) = args.command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .action(|| "start the async runtime".into())?;
    runtime.block_on(list(args, quiet))
}

async fn list(args: ListArgs, quiet: bool) -> crate::error::Result<Outcome> {
    let sandbox = if args.sandbox {
        Some(demo_sandbox(quiet).await?)
    } else {
        None
    };
    let client = args.api.client(sandbox.as_ref())?;
    let exports = fetch(
        &client,
        args.folder_id.as_deref(),
        args.project_id.as_deref(),
    )
    .await;
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }
    let exports = exports?;
    if args.json {
        let array: Vec<Value> = exports.iter().map(to_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&array).expect("JSON values serialise")
        );
    } else if exports.is_empty() {
        if !quiet {
            eprintln!("no exports");
        }
    } else {
        print!("{}", table(&exports));
    }
    Ok(Outcome::Success)
}

/// Lists, retrying what is retryable (429, 5xx, dropped connections) a few times.
async fn fetch(
    client: &Client,
    folder: Option<&str>,
    project: Option<&str>,
) -> crate::error::Result<Vec<Export>> {
    with_retries("read the export list", || {
        client.list_exports(folder, project)
    })
    .await
}

/// A sandbox with six seeded projects (two folders) and four exports of them, one with a
/// watermark; exports take up to 2 s and the list is taken 1 s after they start, so some are
/// ready and some still processing.
async fn demo_sandbox(quiet: bool) -> crate::error::Result<batchgen_sandbox::Sandbox> {
    let sb = start_sandbox(
        SandboxConfig::default()
            .seed_projects(6)
            .render_time(Duration::ZERO..Duration::from_secs(2)),
        quiet,
    )
    .await?;
    let client = sandbox_client(&sb)?;
    for (i, p) in [0, 1, 2, 5]
        .into_iter()
        .filter_map(|i| sb.seeded_projects().get(i))
        .enumerate()
    {
        let request = if i == 1 {
            ExportRequest::with_watermark(
                Watermark::new("https://example.com/logo.png")
                    .position(0.9, 0.1)
                    .scale(0.2),
            )
        } else {
            ExportRequest::default()
        };
        client
            .create_export(Some(&p.folder_id), &p.project_id, &request)
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(sb)
}

/// The export object with the documented keys in the documented order.
fn to_json(e: &Export) -> Value {
    json!({
        "id": e.id,
        "status": e.status.as_str(),
        "src_url": e.src_url,
        "project_id": e.project_id,
        "created_at": e.created_at,
        "finished_at": e.finished_at,
        "name": e.name,
        "author_id": e.author_id,
        "folder_id": e.folder_id,
        "descriptions": e.descriptions,
    })
}

/// Longest name shown in the table.
const NAME_WIDTH: usize = 30;
/// Longest video URL shown in the table (the middle is cut out).
const URL_WIDTH: usize = 48;

/// `text` cut to `width` characters, keeping its start and end around a `…`.
fn shorten(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_owned();
    }
    let head = width * 2 / 5;
    let tail = width - head - 1;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// The table: a header line and one line per export, columns padded to their widest cell.
fn table(exports: &[Export]) -> String {
    let header = [
        "ID", "STATUS", "PROJECT", "FOLDER", "CREATED", "FINISHED", "NAME", "SRC_URL",
    ];
    let rows: Vec<[String; 8]> = exports
        .iter()
        .map(|e| {
            [
                e.id.clone(),
                e.status.as_str().to_owned(),
                e.project_id.clone(),
                e.folder_id.clone().unwrap_or_else(|| "-".into()),
                e.created_at.clone().unwrap_or_else(|| "-".into()),
                e.finished_at.clone().unwrap_or_else(|| "-".into()),
                shorten(e.name.as_deref().unwrap_or("-"), NAME_WIDTH),
                shorten(e.src_url.as_deref().unwrap_or("-"), URL_WIDTH),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c}{}  ", " ".repeat(w - c.chars().count()));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for r in &rows {
        line(&r.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_keeps_both_ends() {
        assert_eq!(shorten("abc", 5), "abc");
        let s = shorten("https://cdn.example.com/exports/2024/06/export_001.mp4", 30);
        assert_eq!(s, "https://cdn.…06/export_001.mp4");
        assert!(
            s.starts_with("https://") && s.ends_with("export_001.mp4"),
            "{s}"
        );
    }
}
