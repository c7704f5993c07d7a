//! `batchgen sandbox`: run the AI Studios emulator in the foreground until Ctrl-C.
//!
//! It prints the base URL, the key and a `batchgen run` line to try, then serves. Every
//! fault is off unless switched on here; with `--seed` the faults repeat exactly.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use crate::error::IoAction as _;
use batchgen_sandbox::{
    DEFAULT_API_KEY, DEFAULT_APP_ID, DEFAULT_USER_KEY, LimitHeaders, RateSchedule, Sandbox,
    SandboxConfig, VendorRule, parse_duration, parse_duration_range, parse_probability,
};

/// Options of `batchgen sandbox`. `Debug` hides the key and the user key.
#[derive(Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// The API key the sandbox accepts (raw on v3, `Bearer` on v2).
    #[arg(long, value_name = "KEY", default_value = DEFAULT_API_KEY)]
    pub api_key: String,
    /// The appId that POST /api/odin/v3/auth/token accepts.
    #[arg(long, value_name = "ID", default_value = DEFAULT_APP_ID)]
    pub app_id: String,
    /// The userKey that POST /api/odin/v3/auth/token accepts.
    #[arg(long, value_name = "KEY", default_value = DEFAULT_USER_KEY)]
    pub user_key: String,
    /// Requests per second per key, every API call counted (0 = no limit); past it: 429.
    /// A schedule changes it mid-run: 50,10@30s is 50/s, then 10/s from 30 s after the start.
    #[arg(long, value_name = "N[,N@TIME...]", default_value = "0")]
    pub rate_limit: RateSchedule,
    /// What tells a client about the rate limit: retry-after, ratelimit (RateLimit-*),
    /// x-ratelimit (X-RateLimit-*), comma-separated, or all, or none (the limit is hidden).
    #[arg(long, value_name = "LIST", default_value = "retry-after")]
    pub limit_headers: LimitHeaders,
    /// Renders in progress at once (0 = no limit); past it creates and exports get 429
    /// CONCURRENT_RENDER_LIMIT. Polls are never refused for it.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_renders: u32,
    /// Refuse (400, as the vendor would) creates with a script or text longer than N
    /// characters, which batchgen's own validation accepts.
    #[arg(long, value_name = "N")]
    pub refuse_text_longer_than: Option<usize>,
    /// Refuse (400) creates whose JSON Pointer holds this value, e.g.
    /// /scenes/0/clips/1/text="Hi" (repeatable; a value that is not JSON is a string).
    #[arg(long, value_name = "POINTER=VALUE")]
    pub refuse_value: Vec<VendorRule>,
    /// List projects still rendering (and failed ones) too, unlike the vendor, which lists
    /// exported projects only.
    #[arg(long, conflicts_with = "no_project_list")]
    pub list_unexported: bool,
    /// Serve no project list: GET /api/odin/v3/editor/project answers 404, as an API version
    /// or account without it would, so a client that lost a create's answer cannot look the
    /// project up.
    #[arg(long)]
    pub no_project_list: bool,
    /// How long a render takes, drawn per project, e.g. 200ms..2s or 30s.
    #[arg(long, value_name = "A..B", value_parser = parse_duration_range, default_value = "1s..3s")]
    pub render_time: Range<Duration>,
    /// Extra delay before each API call is answered, e.g. 50ms..300ms.
    #[arg(long, value_name = "A..B", value_parser = parse_duration_range, default_value = "0")]
    pub latency: Range<Duration>,
    /// Share of API calls answered 500 (some 502/503 pages), e.g. 0.05 or 5%.
    #[arg(long, value_name = "P", value_parser = parse_probability, default_value = "0")]
    pub fail_probability: f64,
    /// Share of API calls whose connection is closed before they are handled.
    #[arg(long, value_name = "P", value_parser = parse_probability, default_value = "0")]
    pub drop_probability: f64,
    /// Share of API calls handled and then left unanswered (a create still creates).
    #[arg(long, value_name = "P", value_parser = parse_probability, default_value = "0")]
    pub lost_probability: f64,
    /// Share of renders that end in failure (progress answers RENDER_FAILED).
    #[arg(long, value_name = "P", value_parser = parse_probability, default_value = "0")]
    pub render_fail_probability: f64,
    /// Share of downloads cut off before the first byte.
    #[arg(long, value_name = "P", value_parser = parse_probability, default_value = "0")]
    pub download_fail_probability: f64,
    /// Share of webhooks delivered twice.
    #[arg(long, value_name = "P", value_parser = parse_probability, default_value = "0")]
    pub webhook_duplicate_probability: f64,
    /// Seed for every random decision; the same seed repeats the same faults.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Number of finished projects that exist from the start (five to a v2 folder).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed_projects: usize,
    /// How long a token from /auth/token stays valid.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "24h")]
    pub token_ttl: Duration,
}

impl std::fmt::Debug for SandboxArgs {
    /// The configuration's own `Debug`, which redacts the key and the user key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxArgs")
            .field("listen", &self.listen)
            .field("config", &self.config())
            .finish()
    }
}

impl SandboxArgs {
    /// The library configuration these options describe.
    pub fn config(&self) -> SandboxConfig {
        let mut c = SandboxConfig::default()
            .api_key(self.api_key.clone())
            .app_credentials(self.app_id.clone(), self.user_key.clone())
            .rate_schedule(self.rate_limit.clone())
            .limit_headers(self.limit_headers)
            .max_renders(self.max_renders)
            .list_unexported(self.list_unexported)
            .project_list(!self.no_project_list)
            .render_time(self.render_time.clone())
            .latency(self.latency.clone())
            .fail_probability(self.fail_probability)
            .drop_probability(self.drop_probability)
            .lost_probability(self.lost_probability)
            .render_fail_probability(self.render_fail_probability)
            .download_fail_probability(self.download_fail_probability)
            .webhook_duplicate_probability(self.webhook_duplicate_probability)
            .seed_projects(self.seed_projects)
            .token_ttl(self.token_ttl);
        if let Some(s) = self.seed {
            c = c.seed(s);
        }
        if let Some(n) = self.refuse_text_longer_than {
            c = c.refuse(VendorRule::TextLongerThan(n));
        }
        for rule in &self.refuse_value {
            c = c.refuse(rule.clone());
        }
        c
    }

    /// The switched-on faults, for the banner; empty when none is.
    fn faults(&self) -> Vec<String> {
        let mut f = Vec::new();
        if self.rate_limit.is_limited() {
            let steps = self.rate_limit.steps();
            let text = steps
                .iter()
                .map(|(from, r)| match (from.is_zero(), r) {
                    (true, 0) => "none".to_owned(),
                    (true, r) => format!("{r}/s"),
                    (false, 0) => format!("none from {from:?}"),
                    (false, r) => format!("{r}/s from {from:?}"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            f.push(format!("rate limit {text} per key"));
            if self.limit_headers != LimitHeaders::RETRY_AFTER {
                f.push(format!("limit headers {}", self.limit_headers));
            }
        }
        if self.max_renders > 0 {
            f.push(format!("at most {} renders in progress", self.max_renders));
        }
        if let Some(n) = self.refuse_text_longer_than {
            f.push(format!("refuses texts longer than {n}"));
        }
        for rule in &self.refuse_value {
            f.push(format!("refuses {rule}"));
        }
        if self.list_unexported {
            f.push("lists unexported projects".to_owned());
        }
        if self.no_project_list {
            f.push("no project list (404)".to_owned());
        }
        for (name, p) in [
            ("fail", self.fail_probability),
            ("drop", self.drop_probability),
            ("lost", self.lost_probability),
            ("render fail", self.render_fail_probability),
            ("download fail", self.download_fail_probability),
            ("webhook duplicate", self.webhook_duplicate_probability),
        ] {
            if p > 0.0 {
                f.push(format!("{name} {}%", p * 100.0));
            }
        }
        if !self.latency.end.is_zero() {
            f.push(format!(
                "latency {:?}..{:?}",
                self.latency.start, self.latency.end
            ));
        }
        f
    }
}

/// What `batchgen sandbox` prints once it listens.
fn banner(args: &SandboxArgs, sb: &Sandbox) -> String {
    let url = sb.base_url();
    let key = sb.api_key();
    let faults = args.faults();
    let mut s = String::new();
    let _ = writeln!(s, "batchgen sandbox listening on {url}");
    let _ = writeln!(
        s,
        "  api key     {key}  (v3: \"Authorization: {key}\", v2: \"Authorization: Bearer {key}\")"
    );
    let _ = writeln!(
        s,
        "  app          appId {} / userKey {}  (POST {url}/api/odin/v3/auth/token)",
        args.app_id, args.user_key
    );
    let _ = writeln!(
        s,
        "  renders      {:?}..{:?}",
        args.render_time.start, args.render_time.end
    );
    let _ = writeln!(
        s,
        "  faults       {}",
        if faults.is_empty() {
            "none".to_owned()
        } else {
            faults.join(", ")
        }
    );
    let _ = writeln!(
        s,
        "  seed         {}  (--seed {} repeats this run's faults)",
        sb.seed(),
        sb.seed()
    );
    let _ = writeln!(s, "  stats        {url}/__sandbox/stats");
    let seeded = sb.seeded_projects();
    if !seeded.is_empty() {
        let _ = writeln!(
            s,
            "  seeded       {} ready projects ({url}/__sandbox/seeded):",
            seeded.len()
        );
        for p in seeded.iter().take(5) {
            let _ = writeln!(s, "                 {}/{}", p.folder_id, p.project_id);
        }
        if seeded.len() > 5 {
            let _ = writeln!(s, "                 ...");
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "try:");
    let _ = writeln!(
        s,
        "  AISTUDIOS_API_KEY={key} batchgen run data.csv template.json --out out --base-url {url}"
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "Ctrl-C stops it.");
    s
}

/// Runs the sandbox until Ctrl-C. Returns exit code 0 after a clean stop.
pub fn run(args: SandboxArgs) -> crate::error::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .action(|| "start the async runtime".into())?;
    rt.block_on(async move {
        let sb = args.config().start(args.listen).await?;
        print!("{}", banner(&args, &sb));
        tokio::signal::ctrl_c()
            .await
            .action(|| "listen for Ctrl-C".into())?;
        let stats = sb.stats();
        eprintln!(
            "stopping: {} API calls, {} projects, {} downloads, {} rate limited, {} faults",
            stats.requests,
            stats.projects,
            stats.downloads,
            stats.rate_limited,
            stats.faults_500 + stats.faults_dropped + stats.faults_lost
        );
        sb.shutdown().await;
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    #[test]
    fn defaults_are_a_well_behaved_sandbox() {
        let a = Cli::parse_from(["sandbox"]).args;
        assert_eq!(a.listen, "127.0.0.1:8787".parse().unwrap());
        assert_eq!(a.api_key, "sandbox-key");
        assert_eq!(
            a.render_time,
            Duration::from_secs(1)..Duration::from_secs(3)
        );
        assert_eq!(a.latency, Duration::ZERO..Duration::ZERO);
        assert!(a.faults().is_empty());
        assert_eq!(a.token_ttl, Duration::from_secs(86_400));
    }

    #[test]
    fn debug_hides_the_secrets() {
        let a = Cli::parse_from(["sandbox", "--api-key", "k-4711", "--user-key", "u-0815"]).args;
        let d = format!("{a:?}");
        assert!(!d.contains("k-4711") && !d.contains("u-0815"), "{d}");
        assert!(d.contains("rate_schedule"), "{d}");
    }

    #[test]
    fn options_parse_ranges_and_probabilities() {
        let a = Cli::parse_from([
            "sandbox",
            "--rate-limit",
            "5",
            "--render-time",
            "200ms..2s",
            "--fail-probability",
            "5%",
            "--drop-probability",
            "0.1",
            "--seed",
            "42",
        ])
        .args;
        assert_eq!(
            a.render_time,
            Duration::from_millis(200)..Duration::from_secs(2)
        );
        assert_eq!(a.fail_probability, 0.05);
        assert_eq!(
            a.faults(),
            ["rate limit 5/s per key", "fail 5%", "drop 10%"]
        );
        assert!(Cli::try_parse_from(["sandbox", "--fail-probability", "2"]).is_err());
        let a = Cli::parse_from([
            "sandbox",
            "--rate-limit",
            "50,10@30s",
            "--limit-headers",
            "none",
            "--max-renders",
            "8",
            "--refuse-text-longer-than",
            "300",
            "--refuse-value",
            "/orientation=portrait",
        ])
        .args;
        assert_eq!(a.rate_limit.rate_at(Duration::from_secs(31)), 10);
        assert_eq!(
            a.faults(),
            [
                "rate limit 50/s, 10/s from 30s per key",
                "limit headers none",
                "at most 8 renders in progress",
                "refuses texts longer than 300",
                "refuses /orientation = \"portrait\""
            ]
        );
        assert!(Cli::try_parse_from(["sandbox", "--rate-limit", "10@5s"]).is_err());
        assert!(Cli::try_parse_from(["sandbox", "--limit-headers", "some"]).is_err());
        assert!(Cli::try_parse_from(["sandbox", "--render-time", "3s..1s"]).is_err());
    }

    #[test]
    fn banner_gives_url_key_and_a_run_line() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let args = Cli::parse_from(["sandbox", "--listen", "127.0.0.1:0", "--seed", "7"]).args;
            let sb = args.config().start(args.listen).await.unwrap();
            let b = banner(&args, &sb);
            let url = sb.base_url();
            assert!(
                b.starts_with(&format!("batchgen sandbox listening on {url}\n")),
                "{b}"
            );
            assert!(b.contains(&format!("--base-url {url}")), "{b}");
            assert!(b.contains("AISTUDIOS_API_KEY=sandbox-key"), "{b}");
            assert!(b.contains("seed         7"), "{b}");
            assert!(b.contains("faults       none"), "{b}");
            sb.shutdown().await;
        });
    }
}
