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
