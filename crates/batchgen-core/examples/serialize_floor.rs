//! The floor any renderer must pay: serde_json serialising already-built documents.
//!
//! `cargo run --release -p batchgen-core --example serialize_floor -- PROJECTS.jsonl`
//! reads `batchgen render` output (`{"row","key","project"}` per line), builds every project as a
//! `serde_json::Value` (not timed), then times serialising all of them, one thread, compactly,
//! into a reused buffer that is written to stdout (send it to /dev/null).

use std::io::{BufRead, Write};
use std::time::Instant;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: serialize_floor PROJECTS.jsonl");
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("open"));
    let docs: Vec<serde_json::Value> = file
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(&l.expect("read")).expect("json");
            v["project"].take()
        })
        .collect();
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut buf = Vec::with_capacity(1 << 14);
    let start = Instant::now();
    let mut bytes = 0;
    for doc in &docs {
        buf.clear();
        serde_json::to_writer(&mut buf, doc).expect("serialise");
        buf.push(b'\n');
        bytes += buf.len();
        stdout.write_all(&buf).expect("write");
    }
    stdout.flush().expect("flush");
    let took = start.elapsed();
    eprintln!(
        "serialised {} documents ({:.1} MB) in {:.3} s: {:.2} µs/document",
        docs.len(),
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / docs.len() as f64
    );
}
