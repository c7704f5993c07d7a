//! Project names and the manifest's name, time and failure columns (issue 9, item 6):
//! `--name TEMPLATE` names projects from the row, a template that gives two rows one name is
//! refused before anything is sent, and the manifest says the name as sent, when each row was
//! submitted and ended, and what kind of failure a row had.

use std::time::Duration;

use batchgen_aistudios::ProjectId;
use batchgen_sandbox::{SandboxConfig, VendorRule};
use serde_json::Value;

use crate::support::export::{client, rt};
use crate::support::{Env, manifest};

fn quick() -> SandboxConfig {
    SandboxConfig::default().render_time(Duration::from_millis(50)..Duration::from_millis(150))
}

fn jsonl(env: &Env) -> Vec<Value> {
    std::fs::read_to_string(env.out().join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run_tag(env: &Env) -> String {
    let journal = std::fs::read_to_string(env.out().join("journal.jsonl")).unwrap();
    let header: Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    header["run_id"].as_str().unwrap()[..6].to_owned()
}

#[test]
fn name_templates_name_the_projects_and_the_manifest_says_names_times_and_failures() {
    let env = Env::start(quick().refuse(VendorRule::TextLongerThan(200)));
    let path = env.dir.path().join("people.csv");
    let long = "X".repeat(300);
    std::fs::write(
        &path,
        format!(
            "email,first_name,company,manager\na@x.com,Ann,Co,Alex\nb@x.com,,Co,Alex\nc@x.com,{long},Co,Alex\nd@x.com,Dan,Co,Alex\n"
        ),
    )
    .unwrap();
    let args = [
        "--require-cells",
        "--name",
        "Spring {{first_name}} ({{@key}}, {{@run}})",
    ];
    let out = env.run_cmd(&path, &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let tag = run_tag(&env);
    let rows = jsonl(&env);
    let by_key = |k: &str| rows.iter().find(|r| r["key"] == k).unwrap();

    // The name as sent, and the project on the server carries it.
    let ann = by_key("a@x.com");
    let name = format!("Spring Ann (a@x.com, {tag})");
    assert_eq!(ann["status"], "ready");
    assert_eq!(ann["project_name"], name.as_str());
    let id = ProjectId::new(ann["project_id"].as_str().unwrap()).unwrap();
    let info = rt()
        .block_on(client(&env.sandbox().base_url()).get_project(&id))
        .unwrap();
    assert_eq!(info.name.as_deref(), Some(name.as_str()));
    // Times: RFC 3339 UTC.
    let (sent, ended) = (
        ann["submitted_at"].as_str().unwrap(),
        ann["ended_at"].as_str().unwrap(),
    );
    assert!(sent.ends_with('Z') && sent.contains('T'), "{sent}");
    assert!(ended.ends_with('Z') && ended.contains('T'), "{ended}");
    assert_eq!(ann["failure_class"], Value::Null);
    // Failures by class.
    let refused = by_key("c@x.com");
    assert_eq!(
        (
            refused["status"].as_str(),
            refused["failure_class"].as_str()
        ),
        (Some("failed"), Some("rejected"))
    );
    assert!(refused["ended_at"].is_string() && refused["project_name"].is_string());
    let invalid = by_key("b@x.com");
    assert_eq!(invalid["failure_class"], "invalid");
    assert_eq!(invalid["project_name"], Value::Null, "never sent");
    assert!(invalid["ended_at"].is_string());

    // The CSV says the same.
    let (_, csv_rows) = manifest(&env.out());
    let a = csv_rows.iter().find(|r| r["key"] == "a@x.com").unwrap();
    assert_eq!(a["project_name"], name);
    assert_eq!(a["submitted_at"], sent);
    assert_eq!(a["ended_at"], ended);
    let c = csv_rows.iter().find(|r| r["key"] == "c@x.com").unwrap();
    assert_eq!(c["failure_class"], "rejected");

    // The same command again: nothing sent, the columns kept as they were.
    let creates = env.stats().submissions;
    let out = env.run_cmd(&path, &args).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(env.stats().submissions, creates);
    let again = jsonl(&env);
    let ann2 = again.iter().find(|r| r["key"] == "a@x.com").unwrap();
    for field in ["project_name", "submitted_at", "ended_at"] {
        assert_eq!(ann2[field], ann[field], "{field}");
    }
    let c2 = again.iter().find(|r| r["key"] == "c@x.com").unwrap();
    assert_eq!(c2["failure_class"], "rejected");

    // Without --name the default unique name stays.
    let env = Env::start(quick());
    let data = env.csv(2);
    let out = env.run_cmd(&data, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let tag = run_tag(&env);
    assert_eq!(
        jsonl(&env)[0]["project_name"],
        format!("Welcome Person 0 [p0@example.com] #{tag}").as_str()
    );
}

#[test]
fn a_name_template_that_gives_two_rows_one_name_is_refused_before_anything_is_sent() {
    let env = Env::start(quick());
    let data = env.csv(10); // companies "Co 0" … "Co 6": rows 1 and 8 share "Co 0"
    let out = env
        .run_cmd(&data, &["--name", "Promo for {{company}}"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "gives rows 1 (p0@example.com) and 8 (p7@example.com) the same project name \"Promo for Co 0\""
        ) && stderr.contains("{{@key}}"),
        "{stderr}"
    );
    assert_eq!(env.stats().requests, 0, "nothing was sent");

    // With the key in it: accepted; without {{@run}} a note says what that risks.
    let out = env
        .run_cmd(&data, &["--name", "Promo for {{company}} {{@key}}"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("--name has no {{@run}}"), "{stderr}");
    assert_eq!(env.stats().submissions, 10);
}
