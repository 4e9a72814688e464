//! Reads collectors' `/metrics` pages: bounded concurrency, a deadline per target, and every
//! target's own result (an unreachable pod is an answer, not an error for the others).

use super::parse::{CollectorMetrics, ParseError, parse};
use futures::StreamExt;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::Duration;

/// The exposition format asked for: the classic text format, whose metric and label names are
/// always escaped to `[a-zA-Z0-9_:]` (never the quoted UTF-8 names of newer formats).
pub const ACCEPT: &str = "text/plain;version=0.0.4";

/// A collector pod's metrics endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The pod's name (for messages).
    pub pod: String,
    /// Its IP and `crate::collector::METRICS_PORT`.
    pub addr: SocketAddr,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScrapeOptions {
    /// Connect, request and whole body, per target.
    pub timeout: Duration,
    /// Targets scraped at once.
    pub concurrency: usize,
    /// A larger page is refused (a collector's is ~10 KiB plus ~7 KiB per exporter).
    pub max_body_bytes: usize,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            concurrency: 32,
            max_body_bytes: 16 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Request(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("reading the body: {0}")]
    Body(String),
    #[error("the page is not UTF-8")]
    NotUtf8,
    #[error("parsing the page: {0}")]
    Parse(#[from] ParseError),
}

/// One HTTP/1 client for every scrape.
#[derive(Clone, Debug)]
pub struct Scraper {
    client: Client<HttpConnector, Empty<Bytes>>,
    options: ScrapeOptions,
}

impl Scraper {
    pub fn new(options: ScrapeOptions) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(options.timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            // No idle connections kept: one socket per pod held between rounds would be
            // thousands of idle file descriptors on a large platform, to save a local
            // handshake every 30 s.
            .pool_max_idle_per_host(0)
            .build(connector);
        Self { client, options }
    }

    /// Scrapes one target.
    pub async fn scrape(&self, target: &Target) -> Result<CollectorMetrics, ScrapeError> {
        let timeout = self.options.timeout;
        tokio::time::timeout(timeout, self.fetch(target.addr))
            .await
            .unwrap_or(Err(ScrapeError::Timeout(timeout)))
    }

    async fn fetch(&self, addr: SocketAddr) -> Result<CollectorMetrics, ScrapeError> {
        let request = hyper::Request::get(format!("http://{addr}/metrics"))
            .header(hyper::header::ACCEPT, ACCEPT)
            .body(Empty::new())
            .map_err(|e| ScrapeError::Request(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| ScrapeError::Request(error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(ScrapeError::Status(response.status().as_u16()));
        }
        let body = Limited::new(response.into_body(), self.options.max_body_bytes)
            .collect()
            .await
            .map_err(|e| ScrapeError::Body(e.to_string()))?
            .to_bytes();
        let text = std::str::from_utf8(&body).map_err(|_| ScrapeError::NotUtf8)?;
        Ok(parse(text)?)
    }

    /// Scrapes every target, at most `concurrency` at once; results in the targets' order.
    pub async fn scrape_all(
        &self,
        targets: &[Target],
    ) -> Vec<Result<CollectorMetrics, ScrapeError>> {
        // The futures made first: a `map` closure inside the stream makes the whole future
        // not `Send` for every lifetime (rustc's higher-ranked Send limitation), and the
        // operator spawns it.
        let scrapes: Vec<_> = targets.iter().map(|t| self.scrape(t)).collect();
        futures::stream::iter(scrapes)
            .buffered(self.options.concurrency.max(1))
            .collect()
            .await
    }
}

/// An error with its sources ("client error (Connect): tcp connect error: Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
