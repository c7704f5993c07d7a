//! Client cost per request: `cargo run --release -p batchgen-aistudios --example requests -- BASE_URL KEY N [CONCURRENCY] [RATE]`
//! creates one project, then sends N progress calls (CONCURRENCY at a time, default 8; or, with
//! RATE, one every 1/RATE s, each on a task of its own, as a paced run sends them) and prints
//! the wall time. Run it under `/usr/bin/time` against `batchgen sandbox` (another process) to see
//! the client's own CPU per request.

use batchgen_aistudios::{Client, ClientConfig, Credentials, Secret};
use std::time::Instant;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (base, key, n) = (&args[0], &args[1], args[2].parse::<usize>().expect("N"));
    let concurrency = args.get(3).map_or(8, |c| c.parse().expect("CONCURRENCY"));
    let config =
        ClientConfig::new(Credentials::ApiKey(Secret::new(key.clone()))).base_url(base.clone());
    let client = std::sync::Arc::new(Client::new(config).expect("client"));
    let body = br#"{"name":"bench","scenes":[{"sceneIdx":0,"background":{},"clips":[{"id":"a","type":"image","layer":1,"left":0,"top":0,"width":1,"height":1,"source_url":"https://x.example/a.png"}]}]}"#;
    let id = client.create_project(body).await.expect("create");
    let rate = args.get(4).map(|r| r.parse::<f64>().expect("RATE"));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(rate) = rate {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs_f64(1.0 / rate));
        for _ in 0..n {
            tick.tick().await;
            let client = client.clone();
            let id = id.clone();
            tasks.spawn(async move {
                client.progress(&id).await.expect("progress");
            });
        }
    }
    for t in 0..if rate.is_some() { 0 } else { concurrency } {
        let client = client.clone();
        let id = id.clone();
        tasks.spawn(async move {
            for _ in (t..n).step_by(concurrency) {
                client.progress(&id).await.expect("progress");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let took = start.elapsed();
    println!(
        "{n} progress calls in {:.3} s ({:.0}/s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
}
