//! The site-only validation of a row must agree exactly with validating the whole rendered
//! document: for random rows of several templates, `render_row` (site checks) accepts a row if and
//! only if the full validator finds nothing wrong with the same row rendered without validation.

use batchgen_core::validate::validate_project;
use batchgen_core::{Header, Row, Scratch, Template, TemplateSource};
use proptest::prelude::*;
use serde_json::{Value, json};

fn two_scene() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../templates/two-scene-promo.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A template whose only script source is a site, with a binding over a hole, a URL binding and a
/// binding over an invalid fixed value.
fn scripted() -> Value {
    let mut t = two_scene();
    t["scenes"][0]["clips"][0]["script"]["org"] = json!("{{script}}");
    t["scenes"][0]["clips"][0]["opacity"] = json!("{{number opacity}}");
    t["scenes"][0]["sceneIdx"] = json!("{{int idx}}");
    t["scenes"][1]["background"]["source_url"] = json!("{{bg}}");
    // invalid in the template, but a binding covers it: rows with an empty cell are invalid
    t["scenes"][0]["clips"][1]["layer"] = json!("one");
    t
}

/// The 1.6.x form: scene 0 speaks through `scenes[0].scripts[]` whose text, voice flag and model id
/// come from the row, its avatar (bound by clip id) and clothes (bound by pointer) too, and its clip
/// keeps a 1.4-style `script` of its own from another column, so both forms must agree. Scene 1 gets
/// a textImage whose text is a placeholder; `sceneIdx`, `resolution` and `webhookUrl` come from
/// the row.
fn scene_level() -> Value {
    let mut t = two_scene();
    t["resolution"] = json!("{{res}}");
    t["webhookUrl"] = json!("{{hook}}");
    t["scenes"][0]["sceneIdx"] = json!("{{int idx}}");
    t["scenes"][0]["scripts"] = json!([{
        "org": "{{script}}",
        "isTTS": "{{bool voice}}",
        "tts": null,
        "modelId": "{{model_id}}",
        "clothId": "BG00002320"
    }]);
    t["scenes"][0]["clips"][0]["script"] = json!({"org": "{{clip_script}}", "tts": null});
    let text = json!({"id": "textImage-1", "type": "textImage", "layer": 3, "left": 10, "top": 10,
        "width": 400, "height": 60, "fill": "rgb(0,0,0)", "fontSize": 40, "text": "{{headline}}"});
    t["scenes"][1]["clips"].as_array_mut().unwrap().push(text);
    t
}

const SCENE_LEVEL_COLUMNS: &[&str] = &[
    "first_name",
    "company",
    "campaign",
    "offer",
    "photo_url",
    "photo_scale",
    "outro_video_url",
    "res",
    "hook",
    "idx",
    "script",
    "voice",
    "model_id",
    "clip_script",
    "headline",
    "@aiModel-1h4ij5h8e87/model/ai_name",
    "/scenes/0/clips/0/model/emotion",
    "/scenes/0/scripts/0/tts",
];

const SAY: &[&str] = &["Hi"];
const MODELS: &[&str] = &["M000045058", "M000099999"];

/// One strategy per entry of SCENE_LEVEL_COLUMNS.
/// With eighteen columns each must mostly keep the row valid, or valid rows become rare.
fn scene_level_cells() -> Vec<BoxedStrategy<String>> {
    let column = |valid: &'static [&'static str], edge: &'static [&'static str]| {
        let valid = proptest::sample::select(valid).prop_map(str::to_string);
        let edge = proptest::sample::select(edge).prop_map(str::to_string);
        prop_oneof![40 => valid, 1 => edge, 1 => "[a-z <>/]{0,5}"].boxed()
    };
    vec![
        column(TEXT, EMPTYISH),
        column(TEXT, EMPTYISH),
        column(TEXT, EMPTYISH),
        column(TEXT, EMPTYISH),
        column(URL, BAD_URL),
        column(&["1.5", "0.2", "3"], &["abc", "", "1e999", "-0"]),
        column(URL, BAD_URL),
        column(&["1080", "4k", "480"], &["2k", "", "1080p"]), // res
        column(&["", "https://hooks.example/a"], &["/hooks", " ", "x"]), // hook
        column(&["0", "2"], &["1", "-1", "x"]),               // idx (scene 1 is 1)
        column(SAY, EMPTYISH),                                // script
        column(&["false", "no"], &["true", "maybe"]),         // voice
        column(MODELS, &["", "M000045058 "]),                 // model_id
        column(SAY, &["", "<p> </p>", "<p>Hi</p>", "Bye"]),   // clip_script
        column(TEXT, &["", " ", "\t"]),                       // headline
        column(&["", "M000045058"], &["M000099999", " "]),    // ai_name by clip id
        column(&["", "BG00002320"], &["BG1", "x"]),           // emotion
        column(&[""], &["null", "{}", "x"]),                  // scripts tts (a string)
    ]
}

const COLUMNS: &[&str] = &[
    "first_name",
    "company",
    "campaign",
    "offer",
    "photo_url",
    "photo_scale",
    "outro_video_url",
    "script",
    "opacity",
    "idx",
    "bg",
    "@videoImage-1hguqu268jj/volume:int",
    "/scenes/0/clips/0/script/org",
    "@image-1hgur0eiu11/source_url",
    "/scenes/0/clips/1/layer:number",
];

/// Cells for one column: mostly values that keep the row valid, sometimes edge cases and
/// mistakes, so that both valid and invalid rows are common and every site's check matters.
fn column(valid: &'static [&'static str], edge: &'static [&'static str]) -> BoxedStrategy<String> {
    let valid = proptest::sample::select(valid).prop_map(str::to_string);
    let edge = proptest::sample::select(edge).prop_map(str::to_string);
    prop_oneof![6 => valid, 1 => edge, 1 => "[a-z <>/]{0,5}"].boxed()
}

const TEXT: &[&str] = &["Ann", "Zoë 李", "a \"quoted\" line\n"];
const URL: &[&str] = &["https://cdn.example.com/a.png", "/images/a.png"];
const BAD_URL: &[&str] = &[
    "",
    "images/a.png",
    "//cdn.example.com/a.png",
    " https://x.example/a",
    "ftp://x/y",
];
const EMPTYISH: &[&str] = &["", " ", "<p> &nbsp;</p>", "<br/>"];

/// One strategy per entry of COLUMNS.
fn row_cells() -> Vec<BoxedStrategy<String>> {
    vec![
        column(TEXT, EMPTYISH),                                    // first_name
        column(TEXT, EMPTYISH),                                    // company
        column(TEXT, EMPTYISH),                                    // campaign
        column(TEXT, EMPTYISH),                                    // offer
        column(URL, BAD_URL),                                      // photo_url
        column(&["1.5", "0.2", "3"], &["abc", "", "1e999", "-0"]), // photo_scale
        column(URL, BAD_URL),                                      // outro_video_url
        column(TEXT, EMPTYISH),                                    // script
        column(&["1", "50", "100"], &["0", "101", "", "x"]),       // opacity
        column(&["0", "1"], &["-3", "x", "1.5", ""]),              // idx
        column(URL, BAD_URL),                                      // bg
        column(&["", "50"], &["0", "101", "x", "7.0"]),            // @videoImage/volume:int
        column(&["", "", "Bound script"], EMPTYISH),               // /scenes/0/clips/0/script/org
        column(&["", "https://b.example/b.png"], BAD_URL),         // @image/source_url
        column(&["2", "3"], &["", "2.5", "x", "-1"]),              // layer:number
    ]
}

/// A template compiled twice against a header: with site checks, and without validation.
struct Pair {
    checked: Option<Template>,
    unchecked: Template,
}

fn pair(template: &Value, columns: &[&str]) -> Pair {
    let source = TemplateSource::from_value("t.json", template.clone()).unwrap();
    let header = Header::new(columns.iter().map(|s| s.to_string()).collect()).unwrap();
    let checked = Template::builder(&source, &header).build().ok();
    if let Some(c) = &checked {
        assert!(
            c.full_validation_reason().is_none(),
            "{:?}",
            c.full_validation_reason()
        );
    }
    Pair {
        checked,
        unchecked: Template::builder(&source, &header)
            .validate(false)
            .build()
            .unwrap(),
    }
}

fn agree(pair: &Pair, cells: &[String]) -> Result<(), TestCaseError> {
    let row = Row::new(1, cells.iter().map(String::as_str));
    let rendered = pair.unchecked.render_row(&row);
    let Some(checked) = &pair.checked else {
        // the template's fixed parts are invalid: every row must be invalid in full too
        let bytes = rendered.map_err(|_| TestCaseError::reject("cell not typeable"))?;
        let full = validate_project(&serde_json::from_slice(&bytes).unwrap());
        prop_assert!(!full.is_empty());
        return Ok(());
    };
    let fast = checked.render_row(&row);
    match rendered {
        Err(_) => prop_assert!(fast.is_err()),
        Ok(bytes) => {
            let full = validate_project(&serde_json::from_slice(&bytes).unwrap());
            prop_assert_eq!(
                fast.is_ok(),
                full.is_empty(),
                "full: {:?}; fast: {:?}",
                full,
                fast.err()
            );
        }
    }
    Ok(())
}

/// As [`agree`], for rows rendered one after another with one [`Scratch`], as a rendering thread
/// does: what the site checker keeps between rows must never decide the next row.
fn agree_in_sequence(pair: &Pair, rows: &[Vec<String>]) -> Result<(), TestCaseError> {
    let Some(checked) = &pair.checked else {
        return Ok(());
    };
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    for (n, cells) in rows.iter().enumerate() {
        let row = Row::new(n as u64 + 1, cells.iter().map(String::as_str));
        let Ok(bytes) = pair.unchecked.render_row(&row) else {
            continue;
        };
        let full = validate_project(&serde_json::from_slice(&bytes).unwrap());
        let fast = checked.render_into(&row, "k", &mut scratch, &mut out);
        prop_assert_eq!(
            fast.is_ok(),
            full.is_empty(),
            "row {} of {}: full: {:?}; fast: {:?}",
            n + 1,
            rows.len(),
            full,
            fast.err()
        );
    }
    Ok(())
}

fn shipped_columns() -> Vec<&'static str> {
    COLUMNS[..7]
        .iter()
        .chain(&COLUMNS[11..12])
        .copied()
        .collect()
}

static SCRIPTED: std::sync::LazyLock<Pair> =
    std::sync::LazyLock::new(|| pair(&scripted(), COLUMNS));
static SHIPPED: std::sync::LazyLock<Pair> =
    std::sync::LazyLock::new(|| pair(&two_scene(), &shipped_columns()));
static SCENE_LEVEL: std::sync::LazyLock<Pair> =
    std::sync::LazyLock::new(|| pair(&scene_level(), SCENE_LEVEL_COLUMNS));

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn site_checks_agree_with_full_validation(cells in row_cells()) {
        agree(&SCRIPTED, &cells)?;
    }

    #[test]
    fn site_checks_agree_on_the_scene_level_form(cells in scene_level_cells()) {
        agree(&SCENE_LEVEL, &cells)?;
    }

    #[test]
    fn site_checks_agree_row_after_row(rows in proptest::collection::vec(row_cells(), 2..6)) {
        agree_in_sequence(&SCRIPTED, &rows)?;
    }

    #[test]
    fn site_checks_agree_row_after_row_on_the_scene_level_form(rows in proptest::collection::vec(scene_level_cells(), 2..6)) {
        agree_in_sequence(&SCENE_LEVEL, &rows)?;
    }

    #[test]
    fn site_checks_agree_on_the_shipped_template(cells in row_cells().into_iter().take(7).chain(row_cells().into_iter().skip(11).take(1)).collect::<Vec<_>>()) {
        agree(&SHIPPED, &cells)?;
    }
}

/// The generators make both verdicts common for the scene-level template, and each new rule is
/// what makes some row invalid: a generator that never breaks a rule cannot show the site checker
/// misses it.
#[test]
fn the_scene_level_generators_break_every_new_rule() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = scene_level_cells();
    let (mut valid, mut seen) = (0, std::collections::BTreeSet::new());
    for _ in 0..3000 {
        let cells = strategy.new_tree(&mut runner).unwrap().current();
        let row = Row::new(1, cells.iter().map(String::as_str));
        let Ok(bytes) = SCENE_LEVEL.unchecked.render_row(&row) else {
            continue;
        };
        let full = validate_project(&serde_json::from_slice(&bytes).unwrap());
        if full.is_empty() {
            valid += 1;
        }
        for v in &full {
            seen.insert(
                format!("{:?}", v.kind)
                    .split([' ', '{', '('])
                    .next()
                    .unwrap()
                    .to_string()
                    + " "
                    + &v.pointer,
            );
        }
    }
    assert!(valid > 100, "only {valid} valid rows");
    for wanted in [
        "Script /scenes/0/scripts/0/org",
        "Script /scenes/0/scripts/0/tts",
        "Script /scenes/0/scripts/0/modelId",
        "Script /scenes/0/scripts/0/clothId",
        "Script /scenes/0/clips/0/script/org",
        "SceneIndex /scenes/1/sceneIdx",
        "Schema /scenes/1/clips/2/text",
        "Schema /resolution",
        "Url /webhookUrl",
    ] {
        assert!(seen.contains(wanted), "no row broke {wanted}: {seen:?}");
    }
}

#[test]
fn shape_changing_sites_fall_back_to_full_validation() {
    let mut t = two_scene();
    t["scenes"][0]["clips"][1]["type"] = json!("{{kind}}");
    let source = TemplateSource::from_value("t.json", t).unwrap();
    let names = [
        "first_name",
        "company",
        "campaign",
        "offer",
        "photo_url",
        "photo_scale",
        "outro_video_url",
        "kind",
    ];
    let header = Header::new(names.iter().map(|s| s.to_string()).collect()).unwrap();
    let template = Template::builder(&source, &header).build().unwrap();
    assert!(
        template
            .full_validation_reason()
            .unwrap()
            .contains("/scenes/0/clips/1/type")
    );
    let ok = Row::new(
        1,
        [
            "A",
            "B",
            "C",
            "D",
            "https://x.example/a.png",
            "1",
            "https://x.example/v.mp4",
            "image",
        ],
    );
    assert!(template.render_row(&ok).is_ok());
    let bad = Row::new(
        2,
        [
            "A",
            "B",
            "C",
            "D",
            "https://x.example/a.png",
            "1",
            "https://x.example/v.mp4",
            "textImage",
        ],
    );
    let err = template.render_row(&bad).unwrap_err();
    assert!(err.to_string().contains("missing required field"), "{err}");
}
