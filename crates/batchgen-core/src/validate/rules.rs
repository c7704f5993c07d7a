//! The semantic rules a schema cannot express, run over a whole project:
//!
//! - `sceneIdx` is unique across scenes;
//! - clip ids are unique within a scene;
//! - the script rules of each scene ([`super::script`]);
//! - URL fields hold usable URLs ([`super::url`]).

use super::{Violation, ViolationKind, script, url};
use serde_json::Value;
use std::collections::HashMap;

/// Runs every semantic rule over a whole project, appending violations in document order.
pub(crate) fn check_project(project: &Value, out: &mut Vec<Violation>) {
    if let Some(scenes) = project.get("scenes").and_then(Value::as_array) {
        let indexes: Vec<Option<&Value>> = scenes.iter().map(|s| s.get("sceneIdx")).collect();
        check_scene_indexes(&indexes, out);
        for (i, scene) in scenes.iter().enumerate() {
            check_clip_ids(i, scene, out);
            script::check_scene(i, scene, out);
        }
    }
    url::check_urls(project, &mut String::new(), out);
}

/// `sceneIdx` is unique: `indexes[i]` is scene `i`'s. Values that are not numbers are the
/// schema's to report; numbers compare by value (`1` and `1.0` are the same index).
pub(crate) fn check_scene_indexes(indexes: &[Option<&Value>], out: &mut Vec<Violation>) {
    let mut seen: Vec<(f64, usize)> = Vec::new();
    for (i, v) in indexes.iter().enumerate() {
        let Some(n) = v.and_then(Value::as_f64) else {
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(m, _)| *m == n) {
            out.push(
                Violation::new(
                    format!("/scenes/{i}/sceneIdx"),
                    format!(
                        "sceneIdx {} is also the sceneIdx of /scenes/{first}: give every scene its own sceneIdx (0, 1, 2, ... in scene order)",
                        v.expect("a number")
                    ),
                )
                .with_kind(ViolationKind::SceneIndex {
                    first: format!("/scenes/{first}/sceneIdx"),
                }),
            );
        } else {
            seen.push((n, i));
        }
    }
}

/// Clip ids are unique within scene `i`.
fn check_clip_ids(i: usize, scene: &Value, out: &mut Vec<Violation>) {
    let Some(clips) = scene.get("clips").and_then(Value::as_array) else {
        return;
    };
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    for (j, clip) in clips.iter().enumerate() {
        let Some(id) = clip.get("id").and_then(Value::as_str) else {
            continue;
        };
        if let Some(k) = first_at.get(id) {
            out.push(
                Violation::new(
                    format!("/scenes/{i}/clips/{j}/id"),
                    format!(
                        "clip id {id:?} is used twice in scene {i} (first by /scenes/{i}/clips/{k}): give every clip of a scene its own id"
                    ),
                )
                .with_kind(ViolationKind::ClipId),
            );
        } else {
            first_at.insert(id, j);
        }
    }
}
