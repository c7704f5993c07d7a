//! What the account has: `batchgen models` (its avatars and their clothes,
//! `GET /api/odin/v3/model`) and `batchgen workspaces` (`GET /api/odin/v3/dropdown/workspaces`),
//! as a table or `--json`; and the avatar check `batchgen run` makes with the model list before
//! its first create ([`AvatarCheck`]).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use batchgen_aistudios::{Client, Model, Workspace};
use batchgen_core::validate::{Avatar, AvatarList};
use batchgen_dispatch::CreateGate;
use batchgen_dispatch::gate::BoxFuture;
use batchgen_sandbox::SandboxConfig;
use clap::Args;
use serde_json::{Value, json};

use crate::api::{ApiArgs, SANDBOX_CONFLICTS, start_sandbox, with_retries};
use crate::error::IoAction as _;
use crate::exit::Outcome;

/// `batchgen models` and `batchgen workspaces`.
#[derive(Debug, Args)]
pub struct AccountArgs {
    /// Print the list as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
    /// A demo: ask a sandbox started here (no account needed).
    #[arg(long, conflicts_with_all = SANDBOX_CONFLICTS)]
    pub sandbox: bool,
}

/// Which list.
#[derive(Clone, Copy, Debug)]
pub enum List {
    /// The avatars.
    Models,
    /// The workspaces.
    Workspaces,
}

pub fn run(list: List, args: AccountArgs, quiet: bool) -> crate::error::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .action(|| "start the async runtime".into())?;
    runtime.block_on(print(list, args, quiet))
}

async fn print(list: List, args: AccountArgs, quiet: bool) -> crate::error::Result<Outcome> {
    let sandbox = if args.sandbox {
        Some(start_sandbox(SandboxConfig::default(), quiet).await?)
    } else {
        None
    };
    let client = args.api.client(sandbox.as_ref())?;
    let text = match list {
        List::Models => with_retries("read the model list", || client.models())
            .await
            .map(|models| {
                if args.json {
                    json_text(&models_json(&models))
                } else {
                    models_table(&models)
                }
            }),
        List::Workspaces => with_retries("read the workspace list", || client.workspaces())
            .await
            .map(|spaces| {
                if args.json {
                    json_text(&workspaces_json(&spaces))
                } else {
                    workspaces_table(&spaces)
                }
            }),
    };
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }
    print!("{}", text?);
    Ok(Outcome::Success)
}

fn json_text(v: &Value) -> String {
    format!(
        "{}\n",
        serde_json::to_string_pretty(v).expect("JSON serialises")
    )
}

/// The models as the vendor names their fields (`id`, `label`, `thumbnail`, `clothes`).
fn models_json(models: &[Model]) -> Value {
    Value::Array(
        models
            .iter()
            .map(|m| {
                json!({
                    "id": m.id,
                    "label": m.label,
                    "thumbnail": m.thumbnail,
                    "clothes": m.clothes.iter().map(|c| json!({
                        "id": c.id, "label": c.label, "thumbnail": c.thumbnail,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// The workspaces as the vendor names their fields (`workspaceId`, `workspaceName`).
fn workspaces_json(spaces: &[Workspace]) -> Value {
    Value::Array(
        spaces
            .iter()
            .map(|w| json!({"workspaceId": w.id, "workspaceName": w.name}))
            .collect(),
    )
}

/// Rows of cells as a table with a header, columns padded to their widest cell.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut width = header.map(str::len);
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = width[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, header.to_vec());
    for r in rows {
        line(&mut out, r.iter().map(String::as_str).collect());
    }
    out
}

/// One line per avatar and cloth: the ids a template's `model.ai_name` / `model.emotion` (or a
/// script's `modelId` / `clothId`) take, with their names.
fn models_table(models: &[Model]) -> String {
    let mut rows = Vec::new();
    for m in models {
        if m.clothes.is_empty() {
            rows.push([
                m.id.clone(),
                m.label.best().to_owned(),
                String::new(),
                String::new(),
            ]);
        }
        for c in &m.clothes {
            rows.push([
                m.id.clone(),
                m.label.best().to_owned(),
                c.id.clone(),
                c.label.best().to_owned(),
            ]);
        }
    }
    table(
        ["AI_NAME (modelId)", "NAME", "EMOTION (clothId)", "CLOTHES"],
        &rows,
    )
}

fn workspaces_table(spaces: &[Workspace]) -> String {
    let rows: Vec<[String; 2]> = spaces
        .iter()
        .map(|w| [w.id.clone(), w.name.clone().unwrap_or_default()])
        .collect();
    table(["WORKSPACE_ID", "NAME"], &rows)
}

/// `batchgen run`'s avatar check: the account's model list, read once just before the run's
/// first create (the engine draws the request from the run's budget, see
/// [`batchgen_dispatch::gate`]), and every project about to be created checked against it. If
/// the list cannot be read, the run says so once and goes on unchecked.
#[derive(Clone, Default)]
pub struct AvatarCheck {
    list: Arc<OnceLock<AvatarList>>,
    /// Rows made invalid by the check: (row, key, error), for the listing after the run.
    found: Arc<Mutex<Vec<(u64, String, String)>>>,
    quiet: bool,
}

impl AvatarCheck {
    /// A check not loaded yet; it prints what happened when it loads unless `quiet`.
    pub fn new(quiet: bool) -> AvatarCheck {
        AvatarCheck {
            quiet,
            ..AvatarCheck::default()
        }
    }

    /// Reads the model list (one request; no retry: a run does not wait for a check).
    async fn read(&self, client: &Client) {
        match client.models().await {
            Ok(models) => {
                let list = AvatarList::new(models.into_iter().map(|m| Avatar {
                    id: m.id,
                    clothes: m.clothes.into_iter().map(|c| c.id).collect(),
                }));
                if !self.quiet {
                    crate::output::say!(
                        "models: projects are checked against the account's avatars before they are sent (`batchgen models` lists them)"
                    );
                }
                let _ = self.list.set(list);
            }
            Err(e) => {
                if !self.quiet {
                    crate::output::say!(
                        "warning: failed to {e}; projects are not checked against the account's avatars (the vendor refuses one whose avatar the account lacks)"
                    );
                }
            }
        }
    }

    /// Why the project `body` of row `row` (key `key`) names an avatar the account lacks, or
    /// `None` when it does not (or when the list could not be read).
    pub fn check(&self, row: u64, key: &str, body: &[u8]) -> Option<String> {
        let list = self.list.get()?;
        let violations = list.check_json(body);
        if violations.is_empty() {
            return None;
        }
        let error = violations
            .iter()
            .map(|v| format!("{}: {}", v.pointer, v.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut found = self.found.lock().unwrap_or_else(|p| p.into_inner());
        found.push((row, key.to_owned(), error.clone()));
        Some(error)
    }

    /// The rows the check made invalid, in the order found.
    pub fn invalid(&self) -> Vec<(u64, String, String)> {
        self.found.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl CreateGate for AvatarCheck {
    fn load<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, ()> {
        Box::pin(self.read(client))
    }

    fn refuse(&self, row: u64, key: &str, body: &[u8]) -> Option<String> {
        self.check(row, key, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_their_columns() {
        let t = table(
            ["ID", "NAME"],
            &[["a".into(), "x".into()], ["long-id".into(), "y".into()]],
        );
        assert_eq!(t, "ID       NAME\na        x\nlong-id  y\n");
    }

    #[test]
    fn an_unread_list_checks_nothing_and_a_read_one_names_the_closest_avatar() {
        let check = AvatarCheck::default();
        let body = br#"{"scenes":[{"sceneIdx":0,"clips":[{"type":"aiModel","model":{"ai_name":"M000045085","emotion":"BG00002320"}}]}]}"#;
        assert_eq!(check.check(1, "k", body), None);
        let _ = check.list.set(AvatarList::new([Avatar {
            id: "M000045058".into(),
            clothes: vec!["BG00002320".into()],
        }]));
        let e = check.check(2, "k2", body).unwrap();
        assert!(
            e.starts_with("/scenes/0/clips/0/model/ai_name: the account has no avatar \"M000045085\": the closest it has is \"M000045058\""),
            "{e}"
        );
        assert_eq!(check.invalid(), [(2, "k2".to_owned(), e)]);
        let good = String::from_utf8_lossy(body).replace("M000045085", "M000045058");
        assert_eq!(check.check(3, "k3", good.as_bytes()), None);
    }
}
