//! Every JSON request body printed in the vendor's pages, copied byte for byte into
//! `tests/fixtures/vendor/` (where each came from is in its `index.json`), goes through what a user
//! who pastes it as a template gets: the template loader (trailing commas forgiven with a warning,
//! `${...}` refused with a hint) and the project validator. The index holds each body's expected
//! verdict, and for each body that batchgen refuses, the documented rule it breaks.

use batchgen_core::validate::validate_project;
use batchgen_core::{Header, Template, TemplateSource};
use serde_json::{Value, json};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vendor");

/// What batchgen says about one body, in the index's form.
fn verdict(file: &str, text: &str) -> Value {
    match TemplateSource::parse(file, text) {
        Err(e) => {
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            // "parse template FILE:LINE:COLUMN: message"
            let after_file = first
                .strip_prefix("parse template ")
                .and_then(|f| f.strip_prefix(file))
                .unwrap_or(first);
            let mut parts = after_file.trim_start_matches(':').splitn(3, ':');
            let (line, column, what) = (parts.next(), parts.next(), parts.next());
            json!({
                "refused": what.unwrap_or(first).trim(),
                "at": format!("{}:{}", line.unwrap_or("?"), column.unwrap_or("?")),
                "hint": message.lines().find_map(|l| l.trim().strip_prefix("hint: ")).map(|h| h.split(':').next().unwrap().to_string()),
            })
        }
        Ok(source) => {
            let violations: Vec<String> = validate_project(source.document())
                .iter()
                .map(|v| {
                    let kind = format!("{:?}", v.kind);
                    let kind = kind.split([' ', '{', '(']).next().unwrap().to_string();
                    format!("{kind} {}", v.pointer)
                })
                .collect();
            // A body that validates compiles as a template with no columns; one that does not, does not.
            let header = Header::new(vec!["unused".into()]).unwrap();
            let built = Template::builder(&source, &header).build();
            assert_eq!(
                built.is_ok(),
                violations.is_empty(),
                "{file}: {:?}",
                built.err()
            );
            json!({ "trailing_commas": source.warnings().len(), "violations": violations })
        }
    }
}

/// Each `${...}` (with the backticks the Node.js tabs put around it) replaced by a JSON string, as
/// the loader's hint tells the user to do.
fn fill_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("a closed placeholder") + 1;
        let (before, after) = (&rest[..start], &rest[end..]);
        let (before, after) = match (before.strip_suffix('`'), after.strip_prefix('`')) {
            (Some(b), Some(a)) => (b, a),
            _ => (before, after),
        };
        out.push_str(before);
        out.push_str("\"https://example.com/webhooks/aistudios\"");
        rest = after;
    }
    out.push_str(rest);
    out
}

#[test]
fn every_vendor_body_gets_its_recorded_verdict() {
    let index: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/index.json")).unwrap())
            .unwrap();
    assert!(index.len() >= 30, "the index lists {} bodies", index.len());
    let mut wrong = Vec::new();
    for entry in &index {
        let file = entry["file"].as_str().unwrap();
        let text = std::fs::read_to_string(format!("{DIR}/{file}")).unwrap();
        let mut actual = verdict(file, &text);
        if actual["hint"]
            .as_str()
            .is_some_and(|h| h.contains("JavaScript placeholder"))
        {
            // What the user gets after doing what the hint says.
            actual["after_hint"] = verdict(file, &fill_placeholders(&text));
        }
        if actual != entry["verdict"] {
            wrong.push(format!(
                "{file}: recorded {}, actual {actual}",
                entry["verdict"]
            ));
        }
        let valid = actual["violations"].as_array().is_some_and(Vec::is_empty);
        let note = entry["rule"].as_str().unwrap_or_default();
        if !valid && note.is_empty() {
            wrong.push(format!(
                "{file}: batchgen refuses it, so the index must name the documented rule it breaks"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every fixture is in the index.
    for f in std::fs::read_dir(DIR).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        if name != "index.json" && name != "README.md" {
            assert!(
                index.iter().any(|e| e["file"] == name.as_str()),
                "{name} is not in index.json"
            );
        }
    }
}
