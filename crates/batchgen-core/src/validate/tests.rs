use super::*;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The tutorial's template with its second scene's `sceneIdx` made unique (as published both
/// scenes are 0, which the vendor's create page forbids).
fn tutorial() -> Value {
    let mut p = fixture("vendor-json-template.json");
    p["scenes"][1]["sceneIdx"] = json!(1);
    p
}

fn pointers(v: &[Violation]) -> Vec<&str> {
    v.iter().map(|v| v.pointer.as_str()).collect()
}

#[test]
fn the_vendor_examples_are_valid() {
    for name in ["vendor-authentication.json", "vendor-export-project.json"] {
        let v = validate_project(&fixture(name));
        assert!(v.is_empty(), "{name}: {v:?}");
    }
    assert!(validate_project(&tutorial()).is_empty());
    let v = validate_project(&fixture("vendor-json-template.json"));
    assert_eq!(pointers(&v), ["/scenes/1/sceneIdx"]);
    assert_eq!(
        v[0].kind,
        ViolationKind::SceneIndex {
            first: "/scenes/0/sceneIdx".into()
        }
    );
}

#[test]
fn geometry_must_be_numeric_and_required() {
    let mut p = tutorial();
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
    let mut p = tutorial();
    p["scenes"][0]["clips"][1]["type"] = json!("picture");
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/clips/1/type"]);
    assert!(
        v[0].message.starts_with("expected one of \"aiModel\""),
        "{}",
        v[0].message
    );

    let mut p = tutorial();
    p["scenes"][0]["clips"][1]
        .as_object_mut()
        .unwrap()
        .remove("source_url");
    let v = validate_project(&p);
    assert_eq!(v[0].message, "missing required field \"source_url\"");

    let mut p = tutorial();
    p["scenes"][1]["clips"][1]["volume"] = json!(101);
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/1/clips/1/volume"]);
}

#[test]
fn scenes_must_not_be_empty() {
    let v = validate_project(&json!({"scenes": []}));
    assert_eq!(pointers(&v), ["/scenes"]);
    assert_eq!(v[0].message, "must not be empty");
    let v = validate_project(&json!({"name": "x"}));
    assert_eq!(v[0].message, "missing required field \"scenes\"");
}

#[test]
fn clip_ids_are_unique_within_a_scene() {
    let mut p = tutorial();
    p["scenes"][0]["clips"][1]["id"] = json!("aiModel-1h4ij5h8e87");
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/clips/1/id"]);
    assert!(v[0].message.contains("used twice"));
    // the same id in two scenes is fine (the vendor example does it)
    assert!(validate_project(&tutorial()).is_empty());
}

#[test]
fn live_ai_models_need_a_script() {
    let mut p = tutorial();
    p["scenes"][0]["clips"][0]["script"]["org"] = json!("<p> </p>");
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/clips/0/script/org"]);
    assert!(!v[0].message.contains("isDelete"), "{}", v[0].message);
    // scene 2's model has an empty script but isDelete: true
    p["scenes"][0]["clips"][0]
        .as_object_mut()
        .unwrap()
        .remove("script");
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/clips/0"]);
    assert!(
        v[0].message.contains("/scenes/0/scripts"),
        "{}",
        v[0].message
    );
    assert!(!v[0].message.contains("isDelete"), "{}", v[0].message);
    // the 1.5+ form at scene level
    p["scenes"][0]["scripts"] = json!([scene_script("Hi from scripts[]")]);
    assert!(
        validate_project(&p).is_empty(),
        "{:?}",
        validate_project(&p)
    );
    // scripts inside the clip is not where the vendor reads it
    p["scenes"][0]["clips"][0]["scripts"] = json!([scene_script("x")]);
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/clips/0/scripts"]);
}

fn scene_script(org: &str) -> Value {
    json!({"org": org, "isTTS": false, "tts": null, "modelId": "M000045058", "clothId": "BG00002320"})
}

/// The tutorial in the 1.5+ form: scene 0's script moved to `scenes[0].scripts`.
fn scene_level() -> Value {
    let mut p = tutorial();
    p["scenes"][0]["clips"][0]
        .as_object_mut()
        .unwrap()
        .remove("script");
    p["scenes"][0]["scripts"] = json!([scene_script("<p>Hello</p>")]);
    assert!(validate_project(&p).is_empty());
    p
}

#[test]
fn scene_scripts_hold_exactly_one_full_entry() {
    let mut p = scene_level();
    p["scenes"][0]["scripts"] = json!([scene_script("a"), scene_script("b")]);
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/scripts"]);
    assert!(v[0].message.contains("at most 1"), "{}", v[0].message);
    p["scenes"][0]["scripts"] = json!([]);
    assert_eq!(pointers(&validate_project(&p)), ["/scenes/0/scripts"]);
    p["scenes"][0]["scripts"] =
        json!([{"org": "Hi", "isTTS": "no", "tts": null, "clothId": "BG00002320"}]);
    let v = validate_project(&p);
    assert_eq!(
        pointers(&v),
        ["/scenes/0/scripts/0", "/scenes/0/scripts/0/isTTS"],
        "{v:?}"
    );
    assert_eq!(v[0].message, "missing required field \"modelId\"");
    p["scenes"][0]["scripts"] = json!([scene_script("<p><span> </span></p>")]);
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/scripts/0/org"]);
}

#[test]
fn tts_is_null_exactly_when_is_tts_is_false() {
    let mut p = scene_level();
    p["scenes"][0]["scripts"][0]["tts"] = json!({"voice": "x"});
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/scripts/0/tts"]);
    p["scenes"][0]["scripts"][0]["isTTS"] = json!(true);
    assert!(validate_project(&p).is_empty());
    p["scenes"][0]["scripts"][0]["tts"] = json!(null);
    assert!(validate_project(&p)[0].message.contains("isTTS is true"));
}

#[test]
fn script_ids_match_the_avatar_and_say_which_to_change() {
    let mut p = scene_level();
    p["scenes"][0]["clips"][0]["model"]["ai_name"] = json!("M000099999");
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/scripts/0/modelId"]);
    let m = &v[0].message;
    for part in [
        "\"M000045058\"",
        "\"M000099999\"",
        "/scenes/0/clips/0/model/ai_name",
        "set /scenes/0/scripts/0/modelId to \"M000099999\"",
    ] {
        assert!(m.contains(part), "{part} not in {m}");
    }
    assert_eq!(
        v[0].kind,
        ViolationKind::Script {
            scene: 0,
            related: vec!["/scenes/0/clips/0/model/ai_name".into()]
        }
    );
    let mut p = scene_level();
    p["scenes"][0]["scripts"][0]["clothId"] = json!("BG1");
    assert_eq!(
        pointers(&validate_project(&p)),
        ["/scenes/0/scripts/0/clothId"]
    );
}

#[test]
fn a_scene_with_both_forms_says_the_same_in_both() {
    let mut p = scene_level();
    p["scenes"][0]["clips"][0]["script"] = json!({"org": "<p>Hello</p>", "tts": null});
    assert!(validate_project(&p).is_empty());
    p["scenes"][0]["clips"][0]["script"]["org"] = json!("Bye");
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/0/clips/0/script/org"]);
    assert!(
        v[0].message.contains("/scenes/0/scripts/0/org"),
        "{}",
        v[0].message
    );
}

#[test]
fn resolution_is_a_string_and_an_unquoted_number_gets_the_hint() {
    let mut p = tutorial();
    p["resolution"] = json!("4k");
    assert!(validate_project(&p).is_empty());
    p["resolution"] = json!(1080);
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/resolution"]);
    assert!(
        v[0].message.ends_with("write it as a string, \"1080\""),
        "{}",
        v[0].message
    );
    p["resolution"] = json!("2k");
    assert!(!validate_project(&p)[0].message.contains("write it as"));
}

#[test]
fn an_empty_webhook_url_means_none() {
    let mut p = tutorial();
    p["webhookUrl"] = json!("");
    assert!(
        validate_project(&p).is_empty(),
        "{:?}",
        validate_project(&p)
    );
    p["webhookUrl"] = json!(null);
    assert!(validate_project(&p).is_empty());
}

#[test]
fn text_images_show_something() {
    let mut p = tutorial();
    p["scenes"][1]["clips"][1] = json!({"id": "t", "type": "textImage", "layer": 3, "left": 0, "top": 0,
        "width": 100, "height": 20, "fill": "#000", "fontSize": 12, "text": " "});
    let v = validate_project(&p);
    assert_eq!(pointers(&v), ["/scenes/1/clips/1/text"]);
    assert_eq!(v[0].message, "must not be empty or only spaces");
    p["scenes"][1]["clips"][1]["text"] = json!("Hi");
    assert!(validate_project(&p).is_empty());
}

#[test]
fn urls_are_absolute_or_root_relative() {
    let mut p = tutorial();
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
        "hTtP://a?b",
        "https://a#b",
        "https://cdn.example.com/v/caf%C3%A9.mp4",
        "https://cdn.example.com/v/café.mp4",
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
        "https://?q",
        "https://#f",
        "https://:80/x",
        "https://@host/x",
        "http:/a.b",
        "https://a.b/c\t",
        "https://a.b/\u{7f}",
        "https://a.b/\u{a0}x",
        "https://a.b/x\u{2003}",
    ] {
        assert!(
            check_url(bad, UrlRule::AbsoluteOrRootRelative).is_err(),
            "{bad}"
        );
    }
    assert!(check_url("/x", UrlRule::Webhook).is_err());
    assert!(check_url("", UrlRule::Webhook).is_ok());
}

#[test]
fn the_schema_is_printable_and_self_consistent() {
    let s: Value = serde_json::from_str(schema_json()).unwrap();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert!(SchemaValidator::definition("clip").is_some());
    assert!(SchemaValidator::definition("nope").is_none());
}
