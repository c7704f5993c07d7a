//! Measures the sandbox's memory and CPU with 10,000 projects rendering at once.
//!
//! ```sh
//! cargo run -p batchgen-sandbox --example scale            # 10,000 projects
//! cargo run -p batchgen-sandbox --example scale -- 2000    # another count
//! ```
//!
//! The sandbox runs in a child process (this same example, started with `serve`), so the
//! figures are the server's alone: resident memory from `/proc/PID/status` (VmRSS, VmHWM)
//! and CPU time from `/proc/PID/stat` (utime + stime, 100 ticks a second). The parent
//! creates the projects over loopback (64 in flight), lets them render untouched for 5 s,
//! polls every one once, then lists and reads the stats. Renders take 10 to 20 minutes,
//! so all of them are in flight throughout. Linux only.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;

const BODY: &str = include_str!("../tests/fixtures/v3-authentication-curl.json");
const IN_FLIGHT: usize = 64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve();
    } else {
        let n = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
        drive(n);
    }
}

/// Child: a sandbox until stdin closes.
fn serve() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sb = batchgen_sandbox::SandboxConfig::default()
            .render_time(Duration::from_secs(600)..Duration::from_secs(1200))
            .seed(1)
            .start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        println!("{}", sb.base_url());
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .unwrap();
        sb.shutdown().await;
    });
}

/// (VmRSS KiB, VmHWM KiB) of `pid`.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) `pid` has used.
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the ")" that ends the command name; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    Duration::from_millis((f[11] + f[12]) * 10)
}

fn drive(n: usize) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = reqwest::Client::builder().no_proxy().build().unwrap();

    let (rss0, _) = memory(pid);
    let cpu0 = cpu(pid);
    println!("sandbox pid {pid} at {base}");
    println!("idle, no projects:        RSS {:>7} KiB", rss0);

    // Create n projects.
    let t = Instant::now();
    let ids: Vec<String> = rt.block_on(
        futures::stream::iter(0..n)
            .map(|i| {
                let c = c.clone();
                let url = format!("{base}/api/odin/v3/editor/project");
                let body = BODY.replacen("Test Project Using Api", &format!("row-{i}"), 1);
                async move {
                    let v: serde_json::Value = c
                        .post(url)
                        .header("Authorization", "sandbox-key")
                        .body(body)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    v["data"]["projectId"].as_str().unwrap().to_owned()
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect(),
    );
    let create_time = t.elapsed();
    let cpu1 = cpu(pid);
    let (rss1, _) = memory(pid);
    println!(
        "{n} created in {:.2?}:  RSS {:>7} KiB (+{} KiB, {} B/project), server CPU {:.2?} ({:.0} µs/create)",
        create_time,
        rss1,
        rss1.saturating_sub(rss0),
        (rss1.saturating_sub(rss0) * 1024) / n as u64,
        cpu1 - cpu0,
        (cpu1 - cpu0).as_micros() as f64 / n as f64
    );

    // Leave them rendering, untouched.
    std::thread::sleep(Duration::from_secs(5));
    let cpu2 = cpu(pid);
    println!("5 s idle, {n} rendering:  server CPU {:.2?}", cpu2 - cpu1);

    // Poll every one once.
    let t = Instant::now();
    let below_100: usize = rt.block_on(
        futures::stream::iter(ids.iter())
            .map(|id| {
                let c = c.clone();
                let url = format!("{base}/api/odin/v3/editor/progress/{id}");
                async move {
                    let v: serde_json::Value = c
                        .get(url)
                        .header("Authorization", "sandbox-key")
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    usize::from(v["data"]["progress"].as_f64().unwrap() < 100.0)
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .fold(0, |a, b| async move { a + b }),
    );
    let poll_time = t.elapsed();
    let cpu3 = cpu(pid);
    println!(
        "{n} polled in {:.2?}:   {below_100} still rendering, server CPU {:.2?} ({:.0} µs/poll)",
        poll_time,
        cpu3 - cpu2,
        (cpu3 - cpu2).as_micros() as f64 / n as f64
    );

    // A list page and the stats (which scan every project).
    let t = Instant::now();
    let stats: serde_json::Value = rt.block_on(async {
        c.get(format!("{base}/api/odin/v3/editor/project?limit=100"))
            .header("Authorization", "sandbox-key")
            .send()
            .await
            .unwrap();
        c.get(format!("{base}/__sandbox/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    println!(
        "list page + stats in {:.2?}: projects {}, requests {}, peak {}/s",
        t.elapsed(),
        stats["projects"],
        stats["requests"],
        stats["peak_requests_per_second"]
    );
    let (rss4, hwm) = memory(pid);
    println!("end:                      RSS {rss4:>7} KiB, peak RSS (VmHWM) {hwm} KiB");
    drop(child.stdin.take());
    let _ = child.wait();
}
