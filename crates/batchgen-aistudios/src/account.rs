//! The account's avatars and workspaces, as `GET /api/odin/v3/model` and
//! `GET /api/odin/v3/dropdown/workspaces` describe them.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::lenient::{field, id_string, kind_of, text};

/// A name in the languages the vendor gives (`{"ko": ..., "en": ...}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Label {
    /// English.
    pub en: Option<String>,
    /// Korean.
    pub ko: Option<String>,
}

impl Label {
    fn from_value(v: Option<&Value>) -> Label {
        match v {
            Some(Value::Object(o)) => Label {
                en: field(o, &["en"]).and_then(text),
                ko: field(o, &["ko"]).and_then(text),
            },
            // A plain string (as the dropdown list gives) is taken as English.
            Some(other) => Label {
                en: text(other),
                ko: None,
            },
            None => Label::default(),
        }
    }

    /// The English name, else the Korean one, else `""`.
    pub fn best(&self) -> &str {
        self.en
            .as_deref()
            .or(self.ko.as_deref())
            .unwrap_or_default()
    }
}

/// Clothes an avatar can wear: `model.emotion` in an aiModel clip, `clothId` in a script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Cloth {
    /// The id (`BG00002320`).
    pub id: String,
    /// Its name.
    pub label: Label,
    /// A preview image, if given.
    pub thumbnail: Option<String>,
}

/// One avatar (AI model) of the account: `model.ai_name` in an aiModel clip, `modelId` in a
/// script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Model {
    /// The id (`M000045058`).
    pub id: String,
    /// Its name.
    pub label: Label,
    /// A preview image, if given.
    pub thumbnail: Option<String>,
    /// The clothes it can wear.
    pub clothes: Vec<Cloth>,
}

impl Model {
    /// Whether the avatar can wear the clothes `cloth`.
    pub fn has_cloth(&self, cloth: &str) -> bool {
        self.clothes.iter().any(|c| c.id == cloth)
    }
}

fn entry<'a>(
    v: &'a Value,
    what: &str,
    i: usize,
) -> Result<(String, &'a Map<String, Value>), String> {
    let o = v
        .as_object()
        .ok_or_else(|| format!("{what} {i}: expected an object, found {}", kind_of(v)))?;
    let id = field(o, &["id"])
        .and_then(id_string)
        .ok_or_else(|| format!("{what} {i} has no id"))?;
    Ok((id, o))
}

fn thumbnail(o: &Map<String, Value>) -> Option<String> {
    field(o, &["thumbnail", "thumbnailUrl"]).and_then(text)
}

/// Reads the model list's data: `{"models": [...]}` or a bare array.
pub(crate) fn models_from_value(v: &Value) -> Result<Vec<Model>, String> {
    let items = match v {
        Value::Array(items) => items,
        Value::Object(o) => field(o, &["models", "items", "list"])
            .and_then(Value::as_array)
            .ok_or("the model list has no array of models")?,
        other => return Err(format!("expected a model list, found {}", kind_of(other))),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (id, o) = entry(m, "model", i)?;
            let clothes = match field(o, &["clothes"]) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(cs)) => cs
                    .iter()
                    .enumerate()
                    .map(|(j, c)| {
                        let (cid, co) = entry(c, &format!("model {id}: cloth"), j)?;
                        Ok(Cloth {
                            id: cid,
                            label: Label::from_value(field(co, &["label"])),
                            thumbnail: thumbnail(co),
                        })
                    })
                    .collect::<Result<_, String>>()?,
                Some(other) => {
                    return Err(format!(
                        "model {id}: clothes is {}, not an array",
                        kind_of(other)
                    ));
                }
            };
            Ok(Model {
                label: Label::from_value(field(o, &["label"])),
                thumbnail: thumbnail(o),
                id,
                clothes,
            })
        })
        .collect()
}

/// One workspace of the account (`workspaceId` in a create or an export).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Workspace {
    /// `workspaceId`.
    pub id: String,
    /// `workspaceName`.
    pub name: Option<String>,
}

/// Reads the workspace list's data: a bare array, or an object holding one.
pub(crate) fn workspaces_from_value(v: &Value) -> Result<Vec<Workspace>, String> {
    let items = match v {
        Value::Array(items) => items,
        Value::Object(o) => field(o, &["workspaces", "items", "list"])
            .and_then(Value::as_array)
            .ok_or("the workspace list has no array of workspaces")?,
        other => {
            return Err(format!(
                "expected a workspace list, found {}",
                kind_of(other)
            ));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let o = w.as_object().ok_or_else(|| {
                format!("workspace {i}: expected an object, found {}", kind_of(w))
            })?;
            let id = field(o, &["workspaceId", "id", "_id"])
                .and_then(id_string)
                .ok_or_else(|| format!("workspace {i} has no workspaceId"))?;
            Ok(Workspace {
                id,
                name: field(o, &["workspaceName", "name"]).and_then(text),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn models_read_the_documented_shape_and_plain_labels() {
        let ms = models_from_value(&json!({"models": [{
            "id": "M1", "label": {"ko": "가", "en": "A"}, "thumbnail": "http://t/1.png",
            "clothes": [{"id": "C1", "label": {"en": "Suit"}, "thumbnail": null}]
        }, {"id": "M2", "label": "B"}]}))
        .unwrap();
        assert_eq!(ms[0].id, "M1");
        assert_eq!(ms[0].label.best(), "A");
        assert_eq!(ms[0].label.ko.as_deref(), Some("가"));
        assert!(ms[0].has_cloth("C1") && !ms[0].has_cloth("C2"));
        assert_eq!(ms[0].clothes[0].thumbnail, None);
        assert_eq!(ms[1].label.best(), "B");
        assert!(ms[1].clothes.is_empty());
        assert!(models_from_value(&json!({"models": [{"label": "x"}]})).is_err());
        assert!(models_from_value(&json!({"models": [{"id": "M", "clothes": 3}]})).is_err());
        assert!(models_from_value(&json!(7)).is_err());
    }

    #[test]
    fn workspaces_read_the_documented_shape() {
        let ws = workspaces_from_value(&json!([{"workspaceId": "w1", "workspaceName": "Mine"}]))
            .unwrap();
        assert_eq!(
            ws,
            [Workspace {
                id: "w1".into(),
                name: Some("Mine".into())
            }]
        );
        assert!(workspaces_from_value(&json!([{"workspaceName": "no id"}])).is_err());
    }
}
