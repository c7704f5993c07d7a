//! The templates in `templates/` render every row of their sample CSV in `samples/` into valid
//! projects, in both of the vendor's script forms.

use batchgen_core::validate::validate_project;
use batchgen_core::{RenderedRow, RowReader, Template, TemplateSource, render_stream};
use serde_json::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn render(template: &str, csv: &str) -> Vec<Value> {
    let source = TemplateSource::from_path(format!("{ROOT}/templates/{template}")).unwrap();
    assert!(source.warnings().is_empty(), "{:?}", source.warnings());
    let rows = RowReader::from_path(format!("{ROOT}/samples/{csv}")).unwrap();
    let template = Template::builder(&source, rows.header()).build().unwrap();
    assert_eq!(template.full_validation_reason(), None);
    let mut out = Vec::new();
    render_stream(&template, rows, &mut |r: RenderedRow| {
        let project: Value =
            serde_json::from_slice(&r.outcome.expect("every sample row is valid")).unwrap();
        assert!(validate_project(&project).is_empty());
        out.push(project);
        Ok::<_, std::convert::Infallible>(())
    })
    .unwrap();
    out
}

#[test]
fn the_scene_level_template_renders_its_sample() {
    let projects = render("scene-scripts-promo.json", "scene-scripts.csv");
    assert_eq!(projects.len(), 3);
    let zoe = &projects[2];
    assert_eq!(zoe["name"], "Autumn promo for Zoë");
    assert_eq!(zoe["resolution"], "1080");
    let scripts = &zoe["scenes"][0]["scripts"];
    assert_eq!(scripts.as_array().unwrap().len(), 1);
    assert_eq!(
        scripts[0]["org"],
        "<p>Hi Zoë! Free shipping on your next order.</p>"
    );
    assert_eq!(
        scripts[0]["modelId"],
        zoe["scenes"][0]["clips"][0]["model"]["ai_name"]
    );
    assert_eq!(
        zoe["scenes"][1]["scripts"][0]["org"],
        "<p>Enjoy — the Initech team.</p>"
    );
    assert_eq!(zoe["scenes"][0]["clips"][1]["text"], "Zoë: free shipping");
    // Data is data: quotes come out literally.
    assert_eq!(
        projects[1]["scenes"][0]["scripts"][0]["org"],
        "<p>Hi Bo! Tickets are 2-for-1, \"no strings attached\".</p>"
    );
    // No clip carries a script of its own: this is the 1.5+ form only.
    for p in &projects {
        for s in p["scenes"].as_array().unwrap() {
            assert!(
                s["clips"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|c| c.get("script").is_none())
            );
        }
    }
}

#[test]
fn the_clip_level_templates_render_their_samples() {
    assert_eq!(render("two-scene-promo.json", "promo.csv").len(), 24);
    assert_eq!(render("welcome.json", "welcome.csv").len(), 6);
}

#[test]
fn a_blank_headline_is_an_invalid_row_naming_its_column() {
    let source =
        TemplateSource::from_path(format!("{ROOT}/templates/scene-scripts-promo.json")).unwrap();
    let csv = "first_name,campaign,offer,headline,closing,photo_url\nAnn,P,O, ,C,https://x.example/a.png\n";
    let rows = RowReader::from_reader(csv.as_bytes(), "t.csv").unwrap();
    let template = Template::builder(&source, rows.header()).build().unwrap();
    let mut errors = Vec::new();
    render_stream(&template, rows, &mut |r: RenderedRow| {
        errors.push(r.outcome.unwrap_err().to_string());
        Ok::<_, std::convert::Infallible>(())
    })
    .unwrap();
    assert!(
        errors[0].contains("/scenes/0/clips/1/text"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("column \"headline\""), "{}", errors[0]);
}
