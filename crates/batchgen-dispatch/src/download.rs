//! Downloads: each finished video streamed to `DIR/videos/<stem>.mp4` through a temporary file.
//!
//! Videos come from the vendor's CDN, not the API, so downloads take no request budget; their
//! own semaphore bounds how many run at once (`--download-concurrency`). A failed download is
//! retried with the run's backoff; a file already in place is complete (it is only ever
//! renamed into place after being written in full and synced) and is not fetched again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

use crate::retry::Backoff;

/// The folder, inside the output directory, that holds the videos.
pub const VIDEOS_DIR: &str = "videos";

/// Why a download failed (after its retries).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The CDN answered with an error status.
    #[error("download the video: the server answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The transfer broke.
    #[error("download the video: {reason}")]
    Transfer {
        /// What happened (no URL query is included).
        reason: String,
    },
    /// The body was shorter or longer than announced.
    #[error("download the video: got {got} bytes of the {expected} announced")]
    Length {
        /// Bytes received.
        got: u64,
        /// `Content-Length`.
        expected: u64,
    },
    /// The file could not be written.
    #[error("save the video to {}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl DownloadError {
    fn retryable(&self) -> bool {
        match self {
            DownloadError::Status { status } => *status == 408 || *status == 429 || *status >= 500,
            DownloadError::Transfer { .. } | DownloadError::Length { .. } => true,
            DownloadError::Io { .. } => false,
        }
    }
}

/// A saved video.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    /// Path relative to the output directory, `/`-separated (`videos/<stem>.mp4`).
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Whether the file was already there (nothing was fetched).
    pub existed: bool,
}

/// Fetches videos into one output directory.
#[derive(Clone, Debug)]
pub struct Downloader {
    http: reqwest::Client,
    out_dir: PathBuf,
    backoff: Backoff,
}

impl Downloader {
    /// A downloader into `out_dir/videos/` with its own HTTP client (rustls; 10 s to connect,
    /// 30 s without progress).
    pub fn new(out_dir: &Path, backoff: Backoff) -> Result<Downloader, DownloadError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(30))
            .user_agent(concat!("batchgen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DownloadError::Transfer {
                reason: format!("start the http client: {e}"),
            })?;
        Ok(Downloader {
            http,
            out_dir: out_dir.to_owned(),
            backoff,
        })
    }

    /// Saves `url` as `videos/<stem>.mp4`, retrying transient failures; returns at once if the
    /// file is already there.
    pub async fn save(&self, url: &str, stem: &str) -> Result<Saved, DownloadError> {
        let file = format!("{VIDEOS_DIR}/{stem}.mp4");
        let dir = self.out_dir.join(VIDEOS_DIR);
        let path = dir.join(format!("{stem}.mp4"));
        if let Ok(meta) = tokio::fs::metadata(&path).await {
            return Ok(Saved {
                file,
                bytes: meta.len(),
                existed: true,
            });
        }
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|source| DownloadError::Io {
                path: dir.clone(),
                source,
            })?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.fetch(url, &path).await {
                Ok(bytes) => {
                    return Ok(Saved {
                        file,
                        bytes,
                        existed: false,
                    });
                }
                Err(e) if e.retryable() && attempt < self.backoff.max_attempts => {
                    tracing::debug!(error = %e, attempt, "download failed; retrying");
                    tokio::time::sleep(self.backoff.delay(attempt, None)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn fetch(&self, url: &str, path: &Path) -> Result<u64, DownloadError> {
        let transfer = |e: reqwest::Error| DownloadError::Transfer {
            reason: describe(&e),
        };
        let answer = self.http.get(url).send().await.map_err(transfer)?;
        let status = answer.status();
        if !status.is_success() {
            return Err(DownloadError::Status {
                status: status.as_u16(),
            });
        }
        let expected = answer.content_length();
        let tmp = path.with_extension("mp4.part");
        let io = |source| DownloadError::Io {
            path: tmp.clone(),
            source,
        };
        let mut out = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut got = 0u64;
        let mut body = answer.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    drop(out);
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(transfer(e));
                }
            };
            got += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(io)?;
        }
        if let Some(expected) = expected
            && expected != got
        {
            drop(out);
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(DownloadError::Length { got, expected });
        }
        out.flush().await.map_err(io)?;
        out.sync_data().await.map_err(io)?;
        drop(out);
        tokio::fs::rename(&tmp, path).await.map_err(io)?;
        Ok(got)
    }
}

/// A transport error's root cause without the URL reqwest adds (a signed CDN URL may carry a
/// token in its query).
fn describe(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    let root = source.to_string();
    if e.is_timeout() {
        format!("no data within the timeout ({root})")
    } else if e.is_connect() {
        format!("could not connect ({root})")
    } else {
        root
    }
}
