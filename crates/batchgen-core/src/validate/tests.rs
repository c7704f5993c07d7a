use super::*;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn pointers(v: &[Violation]) -> Vec<&str> {
    v.iter().map(|v| v.pointer.as_str()).collect()
}

#[test]
fn the_vendor_examples_are_valid() {
    for name in [
        "vendor-authentication.json",
        "vendor-export-project.json",
        "vendor-json-template.json",
    ] {
        let v = validate_project(&fixture(name));
        assert!(v.is_empty(), "{name}: {v:?}");
    }
}

#[test]
fn geometry_must_be_numeric_and_required() {
    let mut p = fixture("vendor-json-template.json");
    p["scenes"][0]["clips"][1]["width"] = json!("wide");
    p["scenes"][0]["clips"][0]
        .as_object_mut()
        .unwrap()
        .remove("layer");
    let v = validate_project(&p);
    assert_eq!(
        pointers(&v),
        ["/scenes/0/clips/0", "/scenes/0/clips/1/width"],
        "{v:?}"
    );
    assert_eq!(v[0].message, "missing required field \"layer\"");
    assert_eq!(v[1].message, "expected a number, found the string \"wide\"");
}

#[test]
fn clip_types_are_an_enum_with_per_type_fields() {
    let mut p = fixture("vendor-json-template.json");
    p["scenes"][0]["clips"][1]["type"] = json!("picture");
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/clips/1/type"]);
    assert!(
        v[0].message.starts_with("expected one of \"aiModel\""),
        "{}",
        v[0].message
    );

    let mut p = fixture("vendor-json-template.json");
    p["scenes"][0]["clips"][1]
        .as_object_mut()
        .unwrap()
        .remove("source_url");
    let v = validate_project(&p);
    assert_eq!(v[0].message, "missing required field \"source_url\"");

    let mut p = fixture("vendor-json-template.json");
    p["scenes"][1]["clips"][1]["volume"] = json!(101);
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/1/clips/1/volume"]);
}

#[test]
fn scenes_must_not_be_empty() {
    let v = validate_project(&json!({"scenes": []}));
    assert_eq!(v, [Violation::new("/scenes", "must not be empty")]);
    let v = validate_project(&json!({"name": "x"}));
    assert_eq!(v[0].message, "missing required field \"scenes\"");
}

#[test]
fn clip_ids_are_unique_within_a_scene() {
    let mut p = fixture("vendor-json-template.json");
    p["scenes"][0]["clips"][1]["id"] = json!("aiModel-1h4ij5h8e87");
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/clips/1/id"]);
    assert!(v[0].message.contains("used twice"));
    // the same id in two scenes is fine (the vendor example does it)
    assert!(validate_project(&fixture("vendor-json-template.json")).is_empty());
}

#[test]
fn live_ai_models_need_a_script() {
    let mut p = fixture("vendor-json-template.json");
    p["scenes"][0]["clips"][0]["script"]["org"] = json!("<p> </p>");
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/clips/0/script/org"]);
    // scene 2's model has an empty script but isDelete: true
    p["scenes"][0]["clips"][0]["scripts"] = json!([{"org": "Hi from scripts[]"}]);
    assert!(validate_project(&p).is_empty());
}

#[test]
fn urls_are_absolute_or_root_relative() {
    let mut p = fixture("vendor-json-template.json");
    p["scenes"][0]["clips"][1]["source_url"] = json!("images/x.png");
    p["scenes"][0]["background"]["source_url"] = json!("//cdn.example.com/x.png");
    p["webhookUrl"] = json!("/hooks");
    let v = validate_project(&p);
    assert_eq!(
        pointers(&v),
        [
            "/scenes/0/background/source_url",
            "/scenes/0/clips/1/source_url",
            "/webhookUrl"
        ],
        "{v:?}"
    );
    assert!(v[0].message.contains("protocol-relative"));
}

#[test]
fn check_url_cases() {
    for ok in [
        "https://a.b/c",
        "http://localhost:8080/x",
        "/images/a.png",
        "HTTPS://A.B",
    ] {
        assert!(
            check_url(ok, UrlRule::AbsoluteOrRootRelative).is_ok(),
            "{ok}"
        );
    }
    for bad in [
        "",
        " https://a.b",
        "https://a b/c",
        "ftp://a.b/c",
        "https://",
        "https:///x",
        "a.png",
        "javascript:alert(1)",
    ] {
        assert!(
            check_url(bad, UrlRule::AbsoluteOrRootRelative).is_err(),
            "{bad}"
        );
    }
    assert!(check_url("/x", UrlRule::Absolute).is_err());
}

#[test]
fn the_schema_is_printable_and_self_consistent() {
    let s: Value = serde_json::from_str(schema_json()).unwrap();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert!(SchemaValidator::definition("clip").is_some());
    assert!(SchemaValidator::definition("nope").is_none());
}
