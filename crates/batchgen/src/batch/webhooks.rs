//! The webhook receiver of a `run` or a v3 `export`: `--webhook-listen` and its flags, the
//! public URL the vendor calls, a token per row (see [`batchgen_dispatch::webhook`]), and polls
//! turned into a slow safety net while it serves.

use std::net::SocketAddr;
use std::time::Duration;

use batchgen_aistudios::Client;
use batchgen_dispatch::journal::Header;
use batchgen_dispatch::poll::PollConfig;
use batchgen_dispatch::{Callbacks, EngineConfig, WebhookAuth, WebhookReceiver, WebhookUrls};
use clap::Args;
use humantime::parse_duration;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::engine::EngineArgs;
use crate::api::{is_loopback, origin};
use crate::error::{Error, IoAction as _};

/// The webhook flags.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Receive the vendor's completion webhooks on ADDR (e.g. 0.0.0.0:8080, or 127.0.0.1:0
    /// with --sandbox); polling then only backs them up.
    #[arg(long, value_name = "ADDR")]
    pub webhook_listen: Option<SocketAddr>,
    /// The receiver's public base URL, as the vendor reaches it (e.g. https://hooks.example.com).
    /// Default: http://<listen address> when both it and --base-url are loopback.
    #[arg(long, value_name = "URL", requires = "webhook_listen", value_parser = parse_public_url)]
    pub webhook_url: Option<String>,
    /// With webhooks: the first safety-net poll of a render comes no sooner than this.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub webhook_poll_interval: Duration,
    /// With webhooks: longest wait between two safety-net polls of one render.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub webhook_poll_cap: Duration,
}

/// Reads `--webhook-url`: an absolute http(s) URL without query or fragment.
fn parse_public_url(s: &str) -> Result<String, String> {
    let u = url::Url::parse(s)
        .map_err(|e| format!("{e}: give an absolute URL such as https://hooks.example.com"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err("expected an http:// or https:// URL with a host".into());
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        return Err("the URL must not carry a query, a fragment or credentials".into());
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// The webhook receiver of a run: bound, with its public base URL.
struct Bound {
    listener: tokio::net::TcpListener,
    public: String,
}

/// A webhook receiver serving.
struct Receiver {
    receiver: WebhookReceiver,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: CancellationToken,
}

/// A run's webhooks: nothing without `--webhook-listen`; bound before the journal is opened,
/// serving from [`Hooks::start`] to [`Hooks::stop`].
pub struct Hooks {
    bound: Option<Bound>,
    receiver: Option<Receiver>,
    /// The first safety-net poll, and the longest wait between two.
    poll_interval: Duration,
    poll_cap: Duration,
    rows: u64,
}

impl Hooks {
    /// Binds `--webhook-listen` and works out the public URL; exit 2 if it cannot be known.
    pub async fn bind(
        args: &WebhookArgs,
        engine: &EngineArgs,
        client: &Client,
        rows: u64,
    ) -> crate::error::Result<Hooks> {
        let mut hooks = Hooks {
            bound: None,
            receiver: None,
            poll_interval: engine.poll_interval.max(args.webhook_poll_interval),
            poll_cap: args.webhook_poll_cap,
            rows,
        };
        let Some(addr) = args.webhook_listen else {
            return Ok(hooks);
        };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::unusable(
                format!("listen for webhooks on {addr}"),
                e,
                Some("choose another --webhook-listen address"),
            )
        })?;
        let bound = listener
            .local_addr()
            .action(|| "read the webhook receiver's address".into())?;
        let public = match &args.webhook_url {
            Some(u) => u.clone(),
            None if bound.ip().is_loopback() && is_loopback(client.base_url()) => {
                format!("http://{bound}")
            }
            None => {
                return Err(Error::Usage(format!(
                    "failed to set up webhooks: --webhook-url is required unless both --webhook-listen and --base-url are loopback; give the public URL at which {} can reach this receiver (e.g. https://hooks.example.com)",
                    origin(client.base_url())
                )));
            }
        };
        hooks.bound = Some(Bound { listener, public });
        Ok(hooks)
    }

    /// Once the journal is open: serves the receiver (its tokens from the journal's secret),
    /// sets every row's webhook URL and turns polls into a safety net.
    pub fn start(&mut self, header: &Header, config: &mut EngineConfig, quiet: bool) {
        let Some(w) = self.bound.take() else {
            return;
        };
        let (auth, ephemeral) = WebhookAuth::for_run(header);
        if ephemeral && !quiet {
            crate::output::say!(
                "note: this journal predates webhook secrets; callbacks for projects sent before this resume cannot be verified and are polled instead"
            );
        }
        let callbacks = Callbacks::new(self.rows);
        let receiver = WebhookReceiver::new(auth.clone(), callbacks.clone());
        let interval = self.poll_interval;
        config.poll = PollConfig::safety_net(interval, self.poll_cap.max(interval));
        config.callbacks = Some(callbacks);
        if !quiet {
            crate::output::say!(
                "webhooks: receiving on {} (the vendor calls {}/batchgen/v1/{}/<row> with a per-row token); safety-net polls from {}s after each submission",
                w.listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                w.public,
                header.run_tag(),
                config.poll.interval.as_secs()
            );
        }
        let stop = CancellationToken::new();
        let server = tokio::spawn(receiver.clone().serve(w.listener, stop.clone()));
        self.receiver = Some(Receiver {
            receiver,
            server,
            stop,
        });
        config.webhook_urls = Some(WebhookUrls {
            auth,
            public_base: w.public,
        });
    }

    /// Stops the receiver; its counts for the JSON summary.
    pub async fn stop(self) -> crate::error::Result<Vec<(&'static str, Value)>> {
        let mut extra = Vec::new();
        if let Some(r) = self.receiver {
            r.stop.cancel();
            // Callbacks still arriving only find ended rows; do not wait long for idle
            // connections.
            let _ = tokio::time::timeout(Duration::from_secs(2), r.server).await;
            extra.push((
                "webhooks",
                serde_json::to_value(r.receiver.stats()).expect("the stats serialise"),
            ));
        }
        Ok(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls() {
        assert_eq!(
            parse_public_url("https://hooks.example.com/in/").unwrap(),
            "https://hooks.example.com/in"
        );
        for bad in [
            "hooks.example.com",
            "ftp://x",
            "https://h/?a=1",
            "https://u:p@h",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
