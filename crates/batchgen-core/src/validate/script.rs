//! What the avatars of a scene say, in both of the vendor's forms.
//!
//! - **1.5.x / 1.6.x**: `scenes[].scripts[]` at scene level, exactly one
//!   `{org, isTTS, tts, modelId, clothId}` whose `modelId`/`clothId` equal the scene's aiModel clip's
//!   `model.ai_name`/`model.emotion`;
//! - **1.4.x and the 1.6.x tutorial**: `script: {org, tts}` on the aiModel clip.
//!
//! Rules: a live (`isDelete` not `true`) avatar has something to say in one of the two forms; the
//! text says something once the allowed `<p>`/`<span>` tags are removed; `tts` is `null` when `isTTS`
//! is `false` and TTS data when it is `true`; the script's ids match the avatar; a scene with both
//! forms says the same in both; `scripts` is never put inside the clip. The shape of each field
//! (types, required fields, one entry) is the schema's job.
//!
//! [`check_scene`] reads only the fields [`rule_fields`] keeps, so that the site checker can run it
//! on a small copy of a scene with a row's values laid over it.

use super::{Violation, ViolationKind};
use serde_json::{Map, Value};

/// `true` when a script text says nothing: empty once the tags the vendor allows (`<p>`, `<span>`,
/// with or without attributes, opening or closing), `&nbsp;` and whitespace are taken out. Any other
/// tag counts as text.
///
/// ```
/// use batchgen_core::validate::script_text_is_empty;
/// assert!(script_text_is_empty("<p> &nbsp;</p>"));
/// assert!(script_text_is_empty("<p><span class=\"x\"></span></p>"));
/// assert!(!script_text_is_empty("<p>Hello</p>"));
/// assert!(!script_text_is_empty("<br/>"));
/// ```
pub fn script_text_is_empty(text: &str) -> bool {
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            match allowed_tag_len(rest) {
                Some(len) => {
                    rest = &rest[len..];
                    continue;
                }
                None => return false,
            }
        } else if let Some(after) = rest.strip_prefix("&nbsp;") {
            rest = after;
            continue;
        } else if !c.is_whitespace() {
            return false;
        }
        rest = &rest[c.len_utf8()..];
    }
    true
}

/// The length of the `<p ...>`, `</p>`, `<span ...>` or `</span>` tag `text` starts with.
fn allowed_tag_len(text: &str) -> Option<usize> {
    let inner = text.strip_prefix('<')?;
    let inner = inner.strip_prefix('/').unwrap_or(inner);
    let name_len = ["span", "p"]
        .into_iter()
        .find(|n| {
            inner.len() >= n.len()
                && inner[..n.len()].eq_ignore_ascii_case(n)
                && inner[n.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c == '>' || c == '/' || c.is_whitespace())
        })?
        .len();
    let close = inner[name_len..].find('>')?;
    Some(text.len() - inner.len() + name_len + close + 1)
}

/// `true` for a clip that is an avatar still in the video.
fn is_live_avatar(clip: &Value) -> bool {
    clip.get("type").and_then(Value::as_str) == Some("aiModel")
        && clip.get("isDelete").and_then(Value::as_bool) != Some(true)
}

/// A copy of `scene` holding only what [`check_scene`] reads: `scripts`, and per clip `type`,
/// `isDelete`, `script`, `scripts` and `model.ai_name`/`model.emotion`. Clip positions are kept, so
/// pointers into the scene point to the same places in the copy.
pub(crate) fn rule_fields(scene: &Value) -> Value {
    let Value::Object(map) = scene else {
        return scene.clone();
    };
    let mut out = Map::new();
    if let Some(s) = map.get("scripts") {
        out.insert("scripts".into(), s.clone());
    }
    if let Some(clips) = map.get("clips") {
        let kept = match clips {
            Value::Array(items) => Value::Array(items.iter().map(clip_rule_fields).collect()),
            other => other.clone(),
        };
        out.insert("clips".into(), kept);
    }
    Value::Object(out)
}

fn clip_rule_fields(clip: &Value) -> Value {
    let Value::Object(map) = clip else {
        return clip.clone();
    };
    let mut out = Map::new();
    for key in ["type", "isDelete", "script", "scripts"] {
        if let Some(v) = map.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(model) = map.get("model") {
        let kept = match model {
            Value::Object(m) => Value::Object(
                ["ai_name", "emotion"]
                    .into_iter()
                    .filter_map(|k| m.get(k).map(|v| (k.to_string(), v.clone())))
                    .collect(),
            ),
            other => other.clone(),
        };
        out.insert("model".into(), kept);
    }
    Value::Object(out)
}

/// `true` when a value at `rest` (a pointer inside a scene, `/scripts/0/org`) is read by
/// [`check_scene`], or holds such values (`/clips/1/model`). `rest` is never empty.
pub(crate) fn feeds_rules(tokens: &[&str]) -> bool {
    matches!(
        tokens,
        ["scripts", ..]
            | ["clips"]
            | ["clips", _]
            | ["clips", _, "script" | "scripts" | "type" | "isDelete", ..]
            | ["clips", _, "model"]
            | ["clips", _, "model", "ai_name" | "emotion", ..]
    )
}

/// The script rules of scene `i`, appended to `out` in document order.
pub(crate) fn check_scene(i: usize, scene: &Value, out: &mut Vec<Violation>) {
    let base = Place::scene(i, "");
    let clips: &[Value] = scene
        .get("clips")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let violation = |pointer: String, message: String, related: Vec<String>| {
        Violation::new(pointer, message).with_kind(ViolationKind::Script { scene: i, related })
    };
    for (j, clip) in clips.iter().enumerate() {
        if clip.get("type").and_then(Value::as_str) == Some("aiModel")
            && clip.get("scripts").is_some()
        {
            out.push(violation(
                format!("{base}/clips/{j}/scripts"),
                format!(
                    "scripts belongs to the scene, not to the avatar clip: move it to {base}/scripts (the 1.5+ form), or give the clip \"script\": {{\"org\": \"...\"}} (the 1.4 form)"
                ),
                Vec::new(),
            ));
        }
    }
    let live: Vec<(usize, &Value)> = clips
        .iter()
        .enumerate()
        .filter(|(_, c)| is_live_avatar(c))
        .collect();
    match scene.get("scripts") {
        // The schema says what is wrong with a `scripts` that is not one entry.
        Some(scripts) => {
            if let Some(entry) = scripts
                .as_array()
                .and_then(|a| a.first())
                .filter(|e| e.is_object())
            {
                check_scene_script(i, entry, &live, out);
            }
        }
        None => {
            for (j, clip) in &live {
                check_clip_script(i, *j, clip, out);
            }
        }
    }
}

/// The 1.5+ form: `scenes[i].scripts[0]`, against the scene's avatars.
fn check_scene_script(i: usize, entry: &Value, live: &[(usize, &Value)], out: &mut Vec<Violation>) {
    let at = Place::scene(i, "/scripts/0");
    let violation = |pointer: String, message: String, related: Vec<String>| {
        Violation::new(pointer, message).with_kind(ViolationKind::Script { scene: i, related })
    };
    let org = entry.get("org").and_then(Value::as_str);
    if org.is_some_and(script_text_is_empty) {
        out.push(violation(
            format!("{at}/org"),
            "the scene's script says nothing (it is empty once <p>/<span> tags are removed): give the avatar text to say".into(),
            Vec::new(),
        ));
    }
    check_tts(entry, at, i, out);
    let model_id = entry.get("modelId").and_then(Value::as_str);
    // The avatar this script is for: the live one it names, else the first.
    let Some((j, clip)) = live
        .iter()
        .find(|(_, c)| {
            model_id.is_some() && c.pointer("/model/ai_name").and_then(Value::as_str) == model_id
        })
        .or(live.first())
    else {
        return;
    };
    let clip_at = Place::clip(i, *j, "");
    for (script_key, model_key, what) in [
        ("modelId", "ai_name", "model ID"),
        ("clothId", "emotion", "clothing ID"),
    ] {
        let (Some(ours), Some(theirs)) = (
            entry.get(script_key).and_then(Value::as_str),
            clip.get("model")
                .and_then(|m| m.get(model_key))
                .and_then(Value::as_str),
        ) else {
            continue; // a missing or mistyped id is the schema's to report
        };
        if ours != theirs {
            let clip_field = format!("{clip_at}/model/{model_key}");
            out.push(violation(
                format!("{at}/{script_key}"),
                format!(
                    "{at}/{script_key} is {ours:?} but the avatar's {what} at {clip_field} is {theirs:?}: the vendor needs them equal; set {at}/{script_key} to {theirs:?} (or {clip_field} to {ours:?} if the script's avatar is the one you want)"
                ),
                vec![clip_field],
            ));
        }
    }
    // Both forms in one scene: they say the same.
    for (j, clip) in live {
        let Some(script) = clip.get("script").filter(|s| s.is_object()) else {
            continue;
        };
        let clip_at = Place::clip(i, *j, "/script");
        for key in ["org", "isTTS", "tts"] {
            let (Some(theirs), Some(ours)) = (script.get(key), entry.get(key)) else {
                continue;
            };
            if theirs != ours {
                out.push(violation(
                    format!("{clip_at}/{key}"),
                    format!(
                        "the clip's script.{key} ({}) differs from the scene's {at}/{key} ({}): a scene with both script forms must say the same in both, or drop the clip's \"script\" (1.5+ reads scripts[])",
                        super::schema::found(theirs),
                        super::schema::found(ours)
                    ),
                    vec![format!("{at}/{key}")],
                ));
            }
        }
    }
}

/// The 1.4 form: the live avatar `clip` (`/scenes/i/clips/j`) has a `script` of its own.
fn check_clip_script(i: usize, j: usize, clip: &Value, out: &mut Vec<Violation>) {
    let at = Place::clip(i, j, "");
    let violation = |pointer: String, message: String| {
        Violation::new(pointer, message).with_kind(ViolationKind::Script {
            scene: i,
            related: Vec::new(),
        })
    };
    let Some(script) = clip.get("script").filter(|s| s.is_object()) else {
        if clip.get("script").is_none() {
            out.push(violation(
                at.to_string(),
                format!(
                    "the avatar has no script: give the scene \"scripts\": [{{\"org\": \"...\", \"isTTS\": false, \"tts\": null, \"modelId\": <model.ai_name>, \"clothId\": <model.emotion>}}] at /scenes/{i}/scripts (the 1.5+ form), or the clip \"script\": {{\"org\": \"...\"}} (the 1.4 form)"
                ),
            ));
        }
        return; // a script that is not an object is the schema's to report
    };
    match script.get("org") {
        Some(Value::String(text)) if !script_text_is_empty(text) => {}
        Some(Value::String(_)) | Some(Value::Null) | None => out.push(violation(
            format!("{at}/script/org"),
            "the avatar's script says nothing (script.org is empty once <p>/<span> tags are removed): give it text to say".into(),
        )),
        Some(_) => {} // the schema's to report
    }
    check_tts(script, Place::clip(i, j, "/script"), i, out);
}

/// A pointer into scene `scene` (and clip `clip`) followed by `tail`, written only when a
/// violation needs it: checking a valid row builds no pointer.
#[derive(Debug, Clone, Copy)]
struct Place {
    scene: usize,
    clip: Option<usize>,
    tail: &'static str,
}

impl Place {
    fn scene(scene: usize, tail: &'static str) -> Place {
        Place {
            scene,
            clip: None,
            tail,
        }
    }

    fn clip(scene: usize, clip: usize, tail: &'static str) -> Place {
        Place {
            scene,
            clip: Some(clip),
            tail,
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/scenes/{}", self.scene)?;
        if let Some(j) = self.clip {
            write!(f, "/clips/{j}")?;
        }
        f.write_str(self.tail)
    }
}

/// `tts` is `null` for the avatar's own voice (`isTTS: false`) and TTS data for another voice
/// (`isTTS: true`). Checked where `isTTS` is a boolean.
fn check_tts(script: &Value, at: Place, scene: usize, out: &mut Vec<Violation>) {
    let tts = script.get("tts");
    let kind = || ViolationKind::Script {
        scene,
        related: vec![format!("{at}/isTTS")],
    };
    match script.get("isTTS").and_then(Value::as_bool) {
        Some(false) if tts.is_some_and(|t| !t.is_null()) => out.push(
            Violation::new(
                format!("{at}/tts"),
                "isTTS is false (the avatar's own voice), so tts must be null: set tts to null, or isTTS to true to use that TTS voice",
            )
            .with_kind(kind()),
        ),
        Some(true) if tts.is_none_or(Value::is_null) => out.push(
            Violation::new(
                format!("{at}/tts"),
                "isTTS is true but tts is null: give the TTS voice's data in tts, or set isTTS to false for the avatar's own voice",
            )
            .with_kind(kind()),
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_p_and_span_tags_are_taken_out() {
        for empty in [
            "",
            " \n",
            "<p></p>",
            "<P>&nbsp;</P>",
            "<span style=\"x\"> </span>",
            "<p/>",
        ] {
            assert!(script_text_is_empty(empty), "{empty:?}");
        }
        for text in [
            "a",
            "<p>a</p>",
            "<br/>",
            "<pre></pre>",
            "<spanx>",
            "<p",
            "1 < 2",
        ] {
            assert!(!script_text_is_empty(text), "{text:?}");
        }
    }

    #[test]
    fn feeds_rules_names_the_fields_rule_fields_keeps() {
        for yes in [
            &["scripts"][..],
            &["scripts", "0", "org"],
            &["clips", "1", "model", "ai_name"],
            &["clips", "1", "model"],
            &["clips", "0", "script", "org"],
            &["clips"],
        ] {
            assert!(feeds_rules(yes), "{yes:?}");
        }
        for no in [
            &["sceneIdx"][..],
            &["clips", "0", "model", "language"],
            &["clips", "0", "text"],
        ] {
            assert!(!feeds_rules(no), "{no:?}");
        }
    }
}
