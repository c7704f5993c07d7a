//! Walking an AI Studios project document.

use serde_json::Value;

/// Every clip of a project as `(scene index, clip index, clip)`, in document order. Scenes or
/// clip lists that are missing or not arrays are skipped (validation reports them).
pub(crate) fn clips(project: &Value) -> impl Iterator<Item = (usize, usize, &Value)> {
    project
        .get("scenes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .flat_map(|(i, scene)| {
            scene
                .get("clips")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .map(move |(j, clip)| (i, j, clip))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clips_in_document_order() {
        let p = json!({"scenes": [{"clips": [{"id": "a"}, {"id": "b"}]}, {"clips": "no"}, {"clips": [{"id": "c"}]}]});
        let ids: Vec<(usize, usize, &str)> = clips(&p)
            .map(|(i, j, c)| (i, j, c["id"].as_str().unwrap()))
            .collect();
        assert_eq!(ids, [(0, 0, "a"), (0, 1, "b"), (2, 0, "c")]);
        assert_eq!(clips(&json!({})).count(), 0);
    }
}
