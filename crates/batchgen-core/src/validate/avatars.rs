//! A project's avatars against the account's: the vendor refuses (or renders wrongly) a project whose
//! `model.ai_name` it does not have, or whose `model.emotion` is not one of that avatar's clothes.
//! The dispatcher reads the account's list (`GET /api/odin/v3/model`) once per run and checks every
//! row with it before paying for a create.

use super::{Violation, ViolationKind};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// What [`AvatarList::check`] reads of a project; everything else is skipped unread. Leaves stay
/// [`Value`]s, so a value of another type is passed over as in a tree (the schema reports it).
/// A project whose scenes, clips or models are not the lists and objects the schema demands
/// (the rows checked have passed it) has nothing to check.
#[derive(Deserialize)]
struct ProjectAvatars {
    #[serde(default)]
    scenes: Option<Vec<SceneAvatars>>,
}

#[derive(Deserialize)]
struct SceneAvatars {
    #[serde(default)]
    clips: Option<Vec<ClipAvatar>>,
    #[serde(default)]
    scripts: Option<Vec<ScriptAvatar>>,
}

#[derive(Deserialize)]
struct ClipAvatar {
    #[serde(rename = "type")]
    kind: Option<Value>,
    #[serde(rename = "isDelete")]
    is_delete: Option<Value>,
    model: Option<ModelIds>,
}

#[derive(Deserialize)]
struct ModelIds {
    ai_name: Option<Value>,
    emotion: Option<Value>,
}

#[derive(Deserialize)]
struct ScriptAvatar {
    #[serde(rename = "modelId")]
    model_id: Option<Value>,
    #[serde(rename = "clothId")]
    cloth_id: Option<Value>,
}

/// One avatar of the account: its model id (`M000045058`) and the ids of its clothes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar {
    /// The model id, what a clip's `model.ai_name` and a script's `modelId` hold.
    pub id: String,
    /// The clothes' ids, what a clip's `model.emotion` and a script's `clothId` hold.
    pub clothes: Vec<String>,
}

/// The avatars an account has, ready to check projects against.
///
/// ```
/// use batchgen_core::validate::{Avatar, AvatarList};
/// let known = AvatarList::new([Avatar { id: "M000045058".into(), clothes: vec!["BG00002320".into()] }]);
/// let project = serde_json::json!({"scenes": [{"sceneIdx": 0, "clips": [
///     {"type": "aiModel", "model": {"ai_name": "M000045085", "emotion": "BG00002320"}}]}]});
/// let v = known.check(&project);
/// assert_eq!(v[0].pointer, "/scenes/0/clips/0/model/ai_name");
/// assert!(v[0].message.contains("\"M000045058\""), "{}", v[0].message);
/// ```
#[derive(Debug, Clone, Default)]
pub struct AvatarList {
    by_id: HashMap<String, Vec<String>>,
    /// Ids in the order given, for stable suggestions.
    ids: Vec<String>,
}

impl AvatarList {
    /// The list of `avatars` (a later entry with the same id adds its clothes to the first's).
    pub fn new(avatars: impl IntoIterator<Item = Avatar>) -> Self {
        let mut list = AvatarList::default();
        for a in avatars {
            match list.by_id.get_mut(&a.id) {
                Some(clothes) => clothes.extend(a.clothes),
                None => {
                    list.ids.push(a.id.clone());
                    list.by_id.insert(a.id, a.clothes);
                }
            }
        }
        list
    }

    /// `true` when the account has no avatars at all (then every avatar is unknown).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every avatar of `project` the account does not have, in document order: each live
    /// (`isDelete` not `true`) aiModel clip's `model.ai_name` and `model.emotion`, and for a scene
    /// without a live avatar its script's `modelId`/`clothId`. Each violation names the closest
    /// known id. Values that are missing or not strings are the schema's to report.
    pub fn check(&self, project: &Value) -> Vec<Violation> {
        ProjectAvatars::deserialize(project).map_or_else(|_| Vec::new(), |p| self.check_avatars(&p))
    }

    /// [`AvatarList::check`] on a project's JSON text, reading only the fields it checks (no
    /// tree of the whole project is built). Text that is not a project's JSON has nothing to
    /// check.
    pub fn check_json(&self, project: &[u8]) -> Vec<Violation> {
        serde_json::from_slice::<ProjectAvatars>(project)
            .map_or_else(|_| Vec::new(), |p| self.check_avatars(&p))
    }

    fn check_avatars(&self, project: &ProjectAvatars) -> Vec<Violation> {
        let mut out = Vec::new();
        for (i, scene) in project.scenes.iter().flatten().enumerate() {
            let mut live = false;
            for (j, clip) in scene.clips.iter().flatten().enumerate() {
                let is_avatar = clip.kind.as_ref().and_then(Value::as_str) == Some("aiModel")
                    && clip.is_delete.as_ref().and_then(Value::as_bool) != Some(true);
                if !is_avatar {
                    continue;
                }
                live = true;
                let model = clip.model.as_ref();
                self.check_pair(
                    model.and_then(|m| m.ai_name.as_ref()),
                    model.and_then(|m| m.emotion.as_ref()),
                    |field| {
                        format!(
                            "/scenes/{i}/clips/{j}/model/{}",
                            ["ai_name", "emotion"][field]
                        )
                    },
                    &mut out,
                );
            }
            if !live {
                if let Some(entry) = scene.scripts.as_ref().and_then(|s| s.first()) {
                    self.check_pair(
                        entry.model_id.as_ref(),
                        entry.cloth_id.as_ref(),
                        |field| format!("/scenes/{i}/scripts/0/{}", ["modelId", "clothId"][field]),
                        &mut out,
                    );
                }
            }
        }
        out
    }

    /// Checks one avatar (`model`) and its clothes; `at(0)` / `at(1)` are their pointers.
    fn check_pair(
        &self,
        model: Option<&Value>,
        cloth: Option<&Value>,
        at: impl Fn(usize) -> String,
        out: &mut Vec<Violation>,
    ) {
        let Some(model) = model.and_then(Value::as_str) else {
            return;
        };
        let Some(clothes) = self.by_id.get(model) else {
            let closest = closest(model, self.ids.iter().map(String::as_str));
            let message = match &closest {
                Some(c) => format!(
                    "the account has no avatar {model:?}: the closest it has is {c:?} (`batchgen models` lists them all)"
                ),
                None => format!(
                    "the account has no avatar {model:?} (`batchgen models` lists the ones it has)"
                ),
            };
            out.push(
                Violation::new(at(0), message).with_kind(ViolationKind::UnknownAvatar { closest }),
            );
            return;
        };
        let Some(cloth) = cloth.and_then(Value::as_str) else {
            return;
        };
        if !clothes.iter().any(|c| c == cloth) {
            let closest = closest(cloth, clothes.iter().map(String::as_str));
            let message = match &closest {
                Some(c) => format!(
                    "avatar {model:?} has no clothes {cloth:?}: the closest it has is {c:?} (`batchgen models` lists them all)"
                ),
                None => format!("avatar {model:?} has no clothes {cloth:?} and no clothes at all"),
            };
            out.push(
                Violation::new(at(1), message).with_kind(ViolationKind::UnknownAvatar { closest }),
            );
        }
    }
}

/// The candidate most like `wanted` (Jaro-Winkler, ties to the first given).
fn closest<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(wanted, c);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> AvatarList {
        AvatarList::new([
            Avatar {
                id: "M000045058".into(),
                clothes: vec!["BG00002320".into(), "BG00002321".into()],
            },
            Avatar {
                id: "M000320746".into(),
                clothes: vec!["BG00007441".into()],
            },
        ])
    }

    /// The text check reads the same fields as the tree check: escaped ids, deleted and
    /// non-avatar clips, a scene with only a script, nulls and values of other types.
    #[test]
    fn the_text_check_agrees_with_the_tree_check() {
        let text = br#"{"name": "x", "scenes": [
            {"sceneIdx": 0, "clips": [
                {"type": "image", "model": {"ai_name": "nobody"}},
                {"type": "aiModel", "isDelete": true, "model": {"ai_name": "M9"}},
                {"type": "aiModel", "model": {"ai_name": "M00004505\u0038", "emotion": "BG2", "editor": {"scale": 0.3}}}]},
            {"clips": [], "scripts": [{"org": "hi", "modelId": "M000320746", "clothId": "BG7"}]},
            {"clips": null, "scripts": [{"modelId": 5, "clothId": null}]},
            {"clips": [{"type": "aiModel", "model": {"ai_name": 12, "emotion": "BG00002320"}}]}]}"#;
        let p: Value = serde_json::from_slice(text).unwrap();
        let tree = list().check(&p);
        assert_eq!(tree.len(), 2, "{tree:?}");
        assert_eq!(list().check_json(text), tree);
        assert_eq!(list().check_json(b"not json"), []);
        assert_eq!(list().check_json(br#"{"scenes": 3}"#), []);
    }

    #[test]
    fn known_avatars_pass_and_unknown_ones_name_the_closest() {
        let p = json!({"scenes": [
            {"clips": [{"type": "aiModel", "model": {"ai_name": "M000045058", "emotion": "BG00002321"}}]},
            {"clips": [{"type": "aiModel", "model": {"ai_name": "M00032O746", "emotion": "BG00007441"}}]},
            {"clips": [{"type": "aiModel", "model": {"ai_name": "M000320746", "emotion": "BG0007441"}}]},
            {"clips": [{"type": "aiModel", "isDelete": true, "model": {"ai_name": "nobody"}}]}
        ]});
        let v = list().check(&p);
        let at: Vec<&str> = v.iter().map(|v| v.pointer.as_str()).collect();
        assert_eq!(
            at,
            [
                "/scenes/1/clips/0/model/ai_name",
                "/scenes/2/clips/0/model/emotion"
            ]
        );
        assert_eq!(
            v[0].kind,
            ViolationKind::UnknownAvatar {
                closest: Some("M000320746".into())
            }
        );
        assert!(v[1].message.contains("\"BG00007441\""), "{}", v[1].message);
    }

    #[test]
    fn a_scene_without_a_live_avatar_is_checked_by_its_script() {
        let p = json!({"scenes": [{"scripts": [{"modelId": "M9", "clothId": "B"}], "clips": []}]});
        let v = list().check(&p);
        assert_eq!(v[0].pointer, "/scenes/0/scripts/0/modelId");
        assert!(
            AvatarList::new([]).check(&p)[0]
                .message
                .contains("`batchgen models`")
        );
    }
}
