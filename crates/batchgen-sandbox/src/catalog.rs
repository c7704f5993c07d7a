//! The account's avatars and workspaces: what `GET /api/odin/v3/model`,
//! `GET /api/odin/v3/dropdown/models` and `GET /api/odin/v3/dropdown/workspaces` answer,
//! and the check that a project uses only avatars and a workspace the account has.
//!
//! The avatars include every one that the vendor's sample bodies and the repository's
//! `templates/` use (`M000045058` wearing `BG00002320`), plus a few more so that a client
//! can be shown choosing among several.

use serde_json::{Value, json};

/// One set of clothes an avatar can wear.
pub(crate) struct Cloth {
    pub id: &'static str,
    pub en: &'static str,
    pub ko: &'static str,
}

/// One avatar (AI model) of the account.
pub(crate) struct Avatar {
    pub id: &'static str,
    pub en: &'static str,
    pub ko: &'static str,
    /// `avatarType` of the dropdown list.
    pub kind: &'static str,
    pub clothes: &'static [Cloth],
}

/// The sandbox account's avatars.
pub(crate) const AVATARS: &[Avatar] = &[
    Avatar {
        id: "M000045058",
        en: "Daniel",
        ko: "다니엘",
        kind: "aiModel",
        clothes: &[
            Cloth {
                id: "BG00002320",
                en: "Navy suit",
                ko: "네이비 정장",
            },
            Cloth {
                id: "BG00002321",
                en: "White shirt",
                ko: "흰 셔츠",
            },
        ],
    },
    Avatar {
        id: "M000004017",
        en: "Paige",
        ko: "페이지",
        kind: "aiModel",
        clothes: &[
            Cloth {
                id: "BG00006160",
                en: "Grey blazer",
                ko: "회색 블레이저",
            },
            Cloth {
                id: "BG00006161",
                en: "Black dress",
                ko: "검은 원피스",
            },
        ],
    },
    Avatar {
        id: "M000320746",
        en: "Minji",
        ko: "민지",
        kind: "aiModel",
        clothes: &[Cloth {
            id: "BG00008001",
            en: "Beige knit",
            ko: "베이지 니트",
        }],
    },
];

/// The sandbox account's workspaces: (workspaceId, workspaceName).
pub(crate) const WORKSPACES: &[(&str, &str)] = &[
    ("65a1f0c2e4b0a1b2c3d4e5f6", "My Workspace"),
    ("65a1f0c2e4b0a1b2c3d4e5f7", "Marketing"),
];

fn avatar(id: &str) -> Option<&'static Avatar> {
    AVATARS.iter().find(|a| a.id == id)
}

/// A preview image URL in the vendor's CDN pattern (the sandbox serves none: nothing fetches it).
fn thumbnail(model: &str, cloth: Option<&str>) -> String {
    match cloth {
        Some(c) => {
            format!("https://cdn.aistudios.com/ai/model-introduce/thumbnails/{model}_{c}.png")
        }
        None => format!("https://cdn.aistudios.com/ai/model-introduce/thumbnails/{model}.png"),
    }
}

/// `data` of `GET /api/odin/v3/model`: `{"models":[{id,label{ko,en},thumbnail,clothes[]}]}`.
pub(crate) fn model_list() -> Value {
    let models: Vec<Value> = AVATARS
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "label": {"ko": a.ko, "en": a.en},
                "thumbnail": thumbnail(a.id, None),
                "clothes": a.clothes.iter().map(|c| json!({
                    "id": c.id,
                    "label": {"ko": c.ko, "en": c.en},
                    "thumbnail": thumbnail(a.id, Some(c.id)),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "models": models })
}

/// `data` of `GET /api/odin/v3/dropdown/models`: `[{id,label,avatarType}]`.
pub(crate) fn model_dropdown() -> Value {
    AVATARS
        .iter()
        .map(|a| json!({"id": a.id, "label": a.en, "avatarType": a.kind}))
        .collect()
}

/// `data` of `GET /api/odin/v3/dropdown/workspaces`: `[{workspaceId,workspaceName}]`.
pub(crate) fn workspace_list() -> Value {
    WORKSPACES
        .iter()
        .map(|(id, name)| json!({"workspaceId": id, "workspaceName": name}))
        .collect()
}

/// Whether the account has the workspace `id`.
pub(crate) fn has_workspace(id: &str) -> bool {
    WORKSPACES.iter().any(|(w, _)| *w == id)
}

fn known_models() -> String {
    AVATARS.iter().map(|a| a.id).collect::<Vec<_>>().join(", ")
}

fn known_clothes(a: &Avatar) -> String {
    a.clothes
        .iter()
        .map(|c| c.id)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks one (model, cloth) pair found at `model_ptr`/`cloth_ptr`; problems are appended.
fn check_pair(
    model: Option<&Value>,
    cloth: Option<&Value>,
    model_ptr: String,
    cloth_ptr: String,
    problems: &mut Vec<(String, String)>,
) {
    let Some(Value::String(model)) = model else {
        // A missing or mistyped id is the schema's (the core's) to report.
        return;
    };
    let Some(a) = avatar(model) else {
        problems.push((
            model_ptr,
            format!(
                "the account has no avatar {model:?}; use one of {} (GET /api/odin/v3/model lists them)",
                known_models()
            ),
        ));
        return;
    };
    match cloth {
        Some(Value::String(c)) if a.clothes.iter().any(|x| x.id == c) => {}
        Some(Value::String(c)) => problems.push((
            cloth_ptr,
            format!(
                "avatar {model} has no clothes {c:?}; use one of {}",
                known_clothes(a)
            ),
        )),
        None | Some(Value::Null) => problems.push((
            cloth_ptr,
            format!(
                "avatar {model} needs its clothes; give one of {}",
                known_clothes(a)
            ),
        )),
        Some(_) => {}
    }
}

/// Checks that every avatar a project uses is the account's: each aiModel clip's
/// `model.ai_name`/`model.emotion` (clips marked `isDelete: true` aside) and each scene
/// script's `modelId`/`clothId`. Problems (JSON Pointer, message) are appended.
pub(crate) fn check_avatars(project: &Value, problems: &mut Vec<(String, String)>) {
    let Some(scenes) = project.get("scenes").and_then(Value::as_array) else {
        return;
    };
    for (si, scene) in scenes.iter().enumerate() {
        if let Some(clips) = scene.get("clips").and_then(Value::as_array) {
            for (ci, clip) in clips.iter().enumerate() {
                let is_model = clip.get("type").and_then(Value::as_str) == Some("aiModel");
                let deleted = clip.get("isDelete") == Some(&Value::Bool(true));
                if !is_model || deleted {
                    continue;
                }
                let model = clip.get("model");
                let base = format!("/scenes/{si}/clips/{ci}/model");
                check_pair(
                    model.and_then(|m| m.get("ai_name")),
                    model.and_then(|m| m.get("emotion")),
                    format!("{base}/ai_name"),
                    format!("{base}/emotion"),
                    problems,
                );
            }
        }
        if let Some(scripts) = scene.get("scripts").and_then(Value::as_array) {
            for (i, script) in scripts.iter().enumerate() {
                let base = format!("/scenes/{si}/scripts/{i}");
                check_pair(
                    script.get("modelId"),
                    script.get("clothId"),
                    format!("{base}/modelId"),
                    format!("{base}/clothId"),
                    problems,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(v: Value) -> Vec<(String, String)> {
        let mut p = Vec::new();
        check_avatars(&v, &mut p);
        p
    }

    #[test]
    fn known_avatars_pass_unknown_ones_are_named() {
        let clip = |name: &str, emotion: Value| {
            json!({"scenes": [{"clips": [
                {"type": "aiModel", "model": {"ai_name": name, "emotion": emotion}},
                {"type": "aiModel", "isDelete": true, "model": {"ai_name": "gone"}},
                {"type": "image"}
            ]}]})
        };
        assert!(problems(clip("M000045058", json!("BG00002320"))).is_empty());
        let p = problems(clip("M999", json!("BG00002320")));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "/scenes/0/clips/0/model/ai_name");
        assert!(p[0].1.contains("M000045058"), "{}", p[0].1);
        let p = problems(clip("M000045058", json!("BG1")));
        assert_eq!(p[0].0, "/scenes/0/clips/0/model/emotion");
        assert!(p[0].1.contains("BG00002320, BG00002321"), "{}", p[0].1);
        let p = problems(clip("M000045058", Value::Null));
        assert!(p[0].1.contains("needs its clothes"), "{}", p[0].1);
    }

    #[test]
    fn scene_scripts_are_checked_too() {
        let p = problems(json!({"scenes": [{"scripts": [
            {"modelId": "M000004017", "clothId": "BG00002320"}
        ]}]}));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "/scenes/0/scripts/0/clothId");
    }

    #[test]
    fn lists_have_the_documented_fields() {
        let m = model_list();
        let first = &m["models"][0];
        assert_eq!(first["id"], "M000045058");
        assert!(first["label"]["en"].is_string() && first["label"]["ko"].is_string());
        assert_eq!(first["clothes"][0]["id"], "BG00002320");
        assert!(first["clothes"][0]["thumbnail"].is_string());
        assert_eq!(model_dropdown()[0]["avatarType"], "aiModel");
        assert!(has_workspace(
            workspace_list()[0]["workspaceId"].as_str().unwrap()
        ));
        assert!(!has_workspace("nope"));
    }
}
