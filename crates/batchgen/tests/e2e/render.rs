//! End-to-end tests of `batchgen render`, `validate` and `schema`: the real binary on real files.

use assert_cmd::Command;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn batchgen() -> Command {
    Command::cargo_bin("batchgen").unwrap()
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A minimal valid project with one AI model clip and one image clip.
fn small_template(name: &str, script: &str, image: &str) -> String {
    json!({
        "name": name,
        "scenes": [{
            "sceneIdx": 0,
            "background": {"source_url": "/images/background/bg.png"},
            "clips": [
                {"id": "m1", "type": "aiModel", "layer": 1, "left": 0, "top": 0, "width": 679, "height": 2229,
                 "model": {"ai_name": "M000045058", "emotion": "BG00002320"}, "script": {"org": script}, "lockScalingX": false},
                {"id": "img-1", "type": "image", "layer": 2, "left": 10, "top": 10, "width": 100, "height": 100,
                 "scaleX": 1, "source_url": image}
            ]
        }]
    })
    .to_string()
}

fn jsonl(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn shipped_samples_render_and_validate() {
    let r = repo();
    let out = tempfile::tempdir().unwrap();
    batchgen()
        .args([
            "render",
            "samples/promo.csv",
            "templates/two-scene-promo.json",
            "--key",
            "customer_id",
            "--out",
        ])
        .arg(out.path())
        .current_dir(&r)
        .assert()
        .success();
    let lines = std::fs::read_to_string(out.path().join("projects.jsonl")).unwrap();
    let projects: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(projects.len(), 24);
    assert_eq!(projects[0]["row"], 1);
    assert_eq!(projects[0]["key"], "C1000");
    let p = &projects[1]["project"];
    assert_eq!(p["name"], "Spring promo for Bo");
    assert_eq!(
        p["scenes"][0]["clips"][0]["script"]["org"],
        "Hi Bo! Spring tickets are 2-for-1, \"no strings attached\". Book your demo at Globex today."
    );
    assert_eq!(p["scenes"][0]["clips"][1]["scaleX"], json!(0.13));
    // untouched vendor fields pass through
    assert_eq!(
        p["scenes"][0]["clips"][0]["model"]["editorValue"]["headWidth"],
        182
    );
    assert_eq!(p["scenes"][0]["clips"][0]["lockScalingX"], false);
    // binding column: row 1 sets the outro volume, row 2 leaves the template's
    assert_eq!(
        projects[0]["project"]["scenes"][1]["clips"][1]["volume"],
        60
    );
    assert_eq!(
        projects[1]["project"]["scenes"][1]["clips"][1]["volume"],
        100
    );
    let manifest = std::fs::read_to_string(out.path().join("manifest.csv")).unwrap();
    assert!(
        manifest.starts_with("row,key,status,error,customer_id,first_name,"),
        "{manifest}"
    );
    assert_eq!(manifest.lines().count(), 25);

    for (csv, template) in [
        ("samples/welcome.csv", "templates/welcome.json"),
        ("samples/promo.csv", "templates/two-scene-promo.json"),
    ] {
        batchgen()
            .args(["validate", csv, template])
            .current_dir(&r)
            .assert()
            .success();
    }
}

#[test]
fn placeholders_write_data_literally() {
    let c = Case::new();
    let t = c.file(
        "t.json",
        &small_template(
            "{{[customer name]}} #{{@row}} {{@key}}",
            "{{text}}",
            "https://cdn.example.com/{{id}}.png",
        ),
    );
    let nasty = "He said \"hi\" \\ {{not_a_placeholder}}\nnew line 你好 🎉 <b>&amp;</b>";
    let mut w = csv::Writer::from_path(c.path("d.csv")).unwrap();
    w.write_record(["id", "customer name", "text"]).unwrap();
    w.write_record(["a1", "Zoë", nasty]).unwrap();
    w.write_record(["b2", "李雷", "plain"]).unwrap();
    w.flush().unwrap();
    let out = batchgen()
        .args(["render"])
        .arg(c.path("d.csv"))
        .arg(&t)
        .args(["--key", "id"])
        .assert()
        .success();
    let rows = jsonl(&out.get_output().stdout);
    assert_eq!(rows.len(), 2);
    let p = &rows[0]["project"];
    assert_eq!(p["name"], "Zoë #1 a1");
    assert_eq!(p["scenes"][0]["clips"][0]["script"]["org"], nasty);
    assert_eq!(
        p["scenes"][0]["clips"][1]["source_url"],
        "https://cdn.example.com/a1.png"
    );
    assert_eq!(rows[1]["project"]["name"], "李雷 #2 b2");
}

#[test]
fn typed_helpers_and_bindings() {
    let c = Case::new();
    let mut t: Value =
        serde_json::from_str(&small_template("n", "hello", "https://x.example/a.png")).unwrap();
    t["scenes"][0]["clips"][1]["scaleX"] = json!("{{number zoom}}");
    t["scenes"][0]["clips"][1]["layer"] = json!("{{int layer}}");
    t["scenes"][0]["clips"][1]["scaleY"] = json!(1);
    t["scenes"][0]["watermark"] = json!("{{bool wm}}");
    t["dictionary"] = json!("{{json dict}}");
    let t = c.file("t.json", &t.to_string());
    let d = c.file(
        "d.csv",
        "zoom,layer,wm,dict,/scenes/0/clips/0/script/org,@img-1/scaleY:number,@img-1/source_url\n\
         1.5,3,yes,\"{\"\"a\"\": [1]}\",Bound script,0.25,https://y.example/b.png\n\
         2,4,false,null,,,\n",
    );
    let out = batchgen().arg("render").arg(&d).arg(&t).assert().success();
    let rows = jsonl(&out.get_output().stdout);
    let p = &rows[0]["project"];
    let img = &p["scenes"][0]["clips"][1];
    assert_eq!(img["scaleX"], json!(1.5));
    assert_eq!(img["layer"], json!(3));
    assert_eq!(p["scenes"][0]["watermark"], json!(true));
    assert_eq!(p["dictionary"], json!({"a": [1]}));
    assert_eq!(p["scenes"][0]["clips"][0]["script"]["org"], "Bound script");
    assert_eq!(img["scaleY"], json!(0.25));
    assert_eq!(img["source_url"], "https://y.example/b.png");
    // empty binding cells leave the template's values
    let p = &rows[1]["project"];
    assert_eq!(p["scenes"][0]["clips"][0]["script"]["org"], "hello");
    assert_eq!(p["scenes"][0]["clips"][1]["scaleY"], json!(1));
    assert_eq!(
        p["scenes"][0]["clips"][1]["source_url"],
        "https://x.example/a.png"
    );
}

#[test]
fn bad_cells_make_their_row_invalid_and_others_still_render() {
    let c = Case::new();
    let mut t: Value =
        serde_json::from_str(&small_template("{{name}}", "hi {{name}}", "{{url}}")).unwrap();
    t["scenes"][0]["clips"][1]["scaleX"] = json!("{{number zoom}}");
    let t = c.file("t.json", &t.to_string());
    let d = c.file("d.csv", "name,url,zoom\r\nAnn,https://a.example/1.png,1\r\nBo,https://a.example/2.png,abc\r\nCy,https://a.example/3.png\r\n\"Di, \"\"D\"\"\",images/4.png,2\r\nEd,https://a.example/5.png,3\r\n");
    let out_dir = c.path("out");
    let assert = batchgen()
        .arg("render")
        .arg(&d)
        .arg(&t)
        .arg("--out")
        .arg(&out_dir)
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("row 2 (line 3)"), "{stderr}");
    assert!(
        stderr.contains("/scenes/0/clips/1/scaleX: \"abc\" is not a number (from column \"zoom\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 3 (line 4): the row has 2 fields but the header has 3"),
        "{stderr}"
    );
    assert!(stderr.contains("row 4 (line 5)"), "{stderr}");
    assert!(
        stderr.contains("/scenes/0/clips/1/source_url: URL \"images/4.png\""),
        "{stderr}"
    );
    let projects = std::fs::read_to_string(out_dir.join("projects.jsonl")).unwrap();
    let rows: Vec<u64> = projects
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["row"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(rows, [1, 5]);
    let mut manifest = csv::Reader::from_path(out_dir.join("manifest.csv")).unwrap();
    let statuses: Vec<(String, String)> = manifest
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[2].to_string(), r[3].to_string()))
        .collect();
    assert_eq!(
        statuses.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["rendered", "invalid", "invalid", "invalid", "rendered"]
    );
    assert!(statuses[1].1.contains("column \"zoom\""));
}

#[test]
fn validate_reports_rows_and_exit_codes() {
    let r = repo();
    let assert = batchgen()
        .args([
            "validate",
            "samples/promo-with-errors.csv",
            "templates/two-scene-promo.json",
        ])
        .current_dir(&r)
        .assert()
        .code(3);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(stdout.contains("row 2 (line 3, key row-2):"), "{stdout}");
    assert!(stdout.contains("/scenes/1/clips/1/volume: \"loud\" is not an integer (from column \"@videoImage-1hguqu268jj/volume:int\")"), "{stdout}");
    assert!(
        stdout.contains("/scenes/1/clips/1/volume: 250 is above the maximum 100"),
        "{stdout}"
    );
    assert!(stdout.contains("5 rows, 1 valid, 4 invalid"), "{stdout}");
}

#[test]
fn unknown_placeholder_stops_before_any_row_and_writes_nothing() {
    let c = Case::new();
    let t = c.file(
        "t.json",
        &small_template("Hi {{frist_name}}", "x", "https://a.example/x.png"),
    );
    let d = c.file("d.csv", "first_name\nAnn\n");
    let out_dir = c.path("out");
    let assert = batchgen()
        .arg("render")
        .arg(&d)
        .arg(&t)
        .arg("--out")
        .arg(&out_dir)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("/name"), "{stderr}");
    assert!(stderr.contains("\"frist_name\""), "{stderr}");
    assert!(
        stderr.contains("closest column: \"first_name\""),
        "{stderr}"
    );
    assert!(!out_dir.exists());
    // also inside {{#if}}, which Handlebars' strict mode alone would not catch
    let t = c.file(
        "t2.json",
        &small_template("{{#if vip}}Dear{{/if}} x", "x", "https://a.example/x.png"),
    );
    batchgen()
        .arg("validate")
        .arg(&d)
        .arg(&t)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("\"vip\""));
}

#[test]
fn template_syntax_errors_name_line_and_column_and_trailing_commas_are_forgiven() {
    let c = Case::new();
    let d = c.file("d.csv", "name\nAnn\n");
    let bad = c.file("bad.json", "{\n  \"name\": \"x\"\n  \"scenes\": []\n}\n");
    let assert = batchgen().arg("render").arg(&d).arg(&bad).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("bad.json:3:3"), "{stderr}");
    assert!(stderr.contains("3 |   \"scenes\": []"), "{stderr}");

    // the vendor's own example, pasted as published: trailing comma + a JS placeholder
    let raw = std::fs::read_to_string(
        repo().join("crates/batchgen-core/tests/fixtures/vendor-export-project.raw.json"),
    )
    .unwrap();
    let pasted = c.file("pasted.json", &raw);
    let assert = batchgen()
        .arg("render")
        .arg(&d)
        .arg(&pasted)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("pasted.json:123:"), "{stderr}");
    assert!(stderr.contains("JavaScript placeholder"), "{stderr}");
    // with the placeholder fixed, the trailing comma is only a warning naming its line
    let fixed = c.file(
        "fixed.json",
        &raw.replace(
            "${webhook_delivery_address}",
            "\"https://hooks.example.com/x\"",
        ),
    );
    let assert = batchgen()
        .arg("render")
        .arg(&d)
        .arg(&fixed)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("fixed.json:118: trailing comma"),
        "{stderr}"
    );
}

#[test]
fn missing_binding_targets_and_clips_fail_before_rendering() {
    let c = Case::new();
    let t = c.file(
        "t.json",
        &small_template("x", "hi", "https://a.example/x.png"),
    );
    for (header, expect) in [
        (
            "/scenes/0/clips/1/sorce_url",
            "closest existing path: /scenes/0/clips/1/source_url",
        ),
        ("@img-2/source_url", "closest clip id: \"img-1\""),
        ("/scenes/4/clips/0/id", "/scenes/4/clips/0/id"),
    ] {
        let d = c.file("d.csv", &format!("\"{header}\"\nvalue\n"));
        batchgen()
            .arg("render")
            .arg(&d)
            .arg(&t)
            .assert()
            .code(2)
            .stderr(predicates::str::contains(expect));
    }
}

#[test]
fn duplicate_keys_name_both_lines() {
    let c = Case::new();
    let t = c.file(
        "t.json",
        &small_template("{{id}}", "hi", "https://a.example/x.png"),
    );
    let d = c.file("d.csv", "id\na\nb\na\n");
    batchgen()
        .arg("render")
        .arg(&d)
        .arg(&t)
        .args(["--key", "id"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "appears on line 2 and again on line 4",
        ));
    batchgen()
        .arg("render")
        .arg(&d)
        .arg(&t)
        .args(["--key", "idd"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("closest column: \"id\""));
}

#[test]
fn patches_from_a_file_and_per_row_columns() {
    let c = Case::new();
    let t = c.file(
        "t.json",
        &small_template("x", "hi", "https://a.example/x.png"),
    );
    let patch = c.file(
        "p.json",
        r#"[{"op": "add", "path": "/resolution", "value": "1080"},
            {"op": "replace", "path": "/scenes/0/clips/1/left", "value": "{{int left}}"},
            {"op": "add", "path": "/name", "value": "Patched {{who}}"}]"#,
    );
    let d = c.file(
        "d.csv",
        "who,left,patch,merge\n\
         Ann,5,,\n\
         Bo,6,\"[{\"\"op\"\":\"\"replace\"\",\"\"path\"\":\"\"/orientation\"\",\"\"value\"\":\"\"portrait\"\"}]\",\n\
         Cy,7,,\"{\"\"orientation\"\":\"\"portrait\"\",\"\"dictionary\"\":{\"\"x\"\":1}}\"\n\
         Di,8,\"[{\"\"op\"\":\"\"remove\"\",\"\"path\"\":\"\"/nope\"\"}]\",\n\
         Ed,9,\"not json\",\n",
    );
    let out = batchgen()
        .arg("render")
        .arg(&d)
        .arg(&t)
        .arg("--patch")
        .arg(&patch)
        .assert()
        .code(3);
    let rows = jsonl(&out.get_output().stdout);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(rows[0]["project"]["resolution"], "1080");
    assert_eq!(rows[0]["project"]["name"], "Patched Ann");
    assert_eq!(rows[0]["project"]["scenes"][0]["clips"][1]["left"], 5);
    // Bo's patch column targets /orientation, which does not exist: the row is invalid, named
    assert!(stderr.contains("row 2 (line 3)"), "{stderr}");
    assert_eq!(rows[1]["project"]["orientation"], "portrait");
    assert_eq!(rows[1]["project"]["dictionary"], json!({"x": 1}));
    assert!(
        stderr.contains("row 4 (line 5): /nope: patch operation 0 (remove) cannot apply"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 5 (line 6): not an RFC 6902 patch"),
        "{stderr}"
    );
    // a patch file that cannot apply to the template fails up front
    let bad = c.file(
        "bad.json",
        r#"[{"op": "replace", "path": "/nope", "value": 1}]"#,
    );
    batchgen()
        .arg("render")
        .arg(&d)
        .arg(&t)
        .arg("--patch")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "operation 0 (replace /nope) cannot apply to the template",
        ));
}

#[test]
fn invalid_fixed_template_fails_up_front() {
    let c = Case::new();
    let mut t: Value =
        serde_json::from_str(&small_template("x", "hi {{n}}", "https://a.example/x.png")).unwrap();
    t["scenes"][0]["clips"][1]["width"] = json!("wide");
    let t = c.file("t.json", &t.to_string());
    let d = c.file("d.csv", "n\n1\n");
    batchgen()
        .arg("render")
        .arg(&d)
        .arg(&t)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "template is invalid whatever the CSV holds",
        ))
        .stderr(predicates::str::contains(
            "/scenes/0/clips/1/width: expected a number, found the string \"wide\"",
        ));
}

#[test]
fn unreadable_inputs_exit_2() {
    let c = Case::new();
    let t = c.file(
        "t.json",
        &small_template("x", "hi", "https://a.example/x.png"),
    );
    batchgen()
        .arg("render")
        .arg(c.path("missing.csv"))
        .arg(&t)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("missing.csv"));
    let d = c.file("d.csv", "a,a\n1,2\n");
    batchgen()
        .arg("render")
        .arg(&d)
        .arg(&t)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("appears twice"));
    let d = c.file("e.csv", "");
    batchgen()
        .arg("render")
        .arg(&d)
        .arg(&t)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("empty"));
    batchgen().arg("render").assert().code(2);
}

#[test]
fn schema_prints_a_json_schema() {
    let out = batchgen().arg("schema").assert().success();
    let schema: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(schema["$defs"]["clip"].is_object());
}

#[test]
fn a_plain_placeholder_where_a_number_belongs_is_caught_up_front() {
    let c = Case::new();
    let mut t: Value =
        serde_json::from_str(&small_template("x", "hi", "https://a.example/x.png")).unwrap();
    t["scenes"][0]["clips"][1]["layer"] = json!("{{layer}}");
    let t = c.file("t.json", &t.to_string());
    let d = c.file("d.csv", "layer\n3\n");
    batchgen().arg("validate").arg(&d).arg(&t).assert().code(2).stderr(predicates::str::contains(
        "/scenes/0/clips/1/layer: \"{{layer}}\" always writes a string, but this place needs an integer: write \"{{int layer}}\" instead",
    ));
}

#[test]
fn semicolon_separated_csv_from_a_spreadsheet_is_read() {
    let c = Case::new();
    let t = c.file(
        "t.json",
        &small_template(
            "{{name}}",
            "Hi {{name}}, {{offer}}",
            "https://a.example/x.png",
        ),
    );
    let d = c.file(
        "d.csv",
        "\u{feff}name;offer\r\nAnn;\"2,50 € off; today\"\r\n",
    );
    let out = batchgen().arg("render").arg(&d).arg(&t).assert().success();
    let rows = jsonl(&out.get_output().stdout);
    assert_eq!(
        rows[0]["project"]["scenes"][0]["clips"][0]["script"]["org"],
        "Hi Ann, 2,50 € off; today"
    );
}
