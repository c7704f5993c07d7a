//! End-to-end test of `batchgen sandbox`: the real binary serves the API on loopback and stops
//! cleanly on SIGINT.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

#[test]
fn sandbox_serves_until_interrupted() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_batchgen"))
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            "k-123456",
            "--seed",
            "7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first.split_whitespace().last().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    let addr = base.trim_start_matches("http://");

    // A v3 call with the key, over a plain TCP connection.
    let body = r#"{"name":"cli test","scenes":[{"sceneIdx":0,"background":{},"clips":[{"id":"a","type":"image","layer":1,"left":0,"top":0,"width":1,"height":1,"source_url":"https://x.example/a.png"}]}]}"#;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /api/odin/v3/editor/project HTTP/1.1\r\nHost: {addr}\r\nAuthorization: k-123456\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"projectId\""), "{answer}");

    // SIGINT stops it with exit 0.
    // The workspace forbids `unsafe`, so signal through kill(1) rather than libc::kill.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// `batchgen sandbox ARGS --listen 127.0.0.1:0`: the child, its `host:port` and the banner's
/// fault line.
fn serve(args: &[&str]) -> (std::process::Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_batchgen"))
        .args(["sandbox", "--listen", "127.0.0.1:0", "--api-key", "k-1"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first.split_whitespace().last().unwrap().to_string();
    let faults = lines
        .map(Result::unwrap)
        .find(|l| l.trim_start().starts_with("faults"))
        .unwrap();
    (child, base.trim_start_matches("http://").to_owned(), faults)
}

/// `GET path` with the key: the whole answer.
fn get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: k-1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn no_project_list_makes_the_list_a_404_and_says_so() {
    let (mut with, addr, faults) = serve(&[]);
    assert!(faults.contains("none"), "{faults}");
    let listed = get(&addr, "/api/odin/v3/editor/project");
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    with.kill().unwrap();
    let _ = with.wait();

    let (mut without, addr, faults) = serve(&["--no-project-list"]);
    assert!(faults.contains("no project list (404)"), "{faults}");
    let answer = get(&addr, "/api/odin/v3/editor/project");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("\"success\":false"), "{answer}");
    // Everything else is still there.
    let models = get(&addr, "/api/odin/v3/model");
    assert!(models.starts_with("HTTP/1.1 200"), "{models}");
    without.kill().unwrap();
    let _ = without.wait();

    let help = Command::new(env!("CARGO_BIN_EXE_batchgen"))
        .args(["sandbox", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--no-project-list"), "{help}");
    assert!(help.contains("answers 404"), "{help}");
}
