//! `vetod` in this process, for the daemon figures, and the two API calls they make.
//!
//! The daemon is built as the end-to-end harness builds it (`Application::build` on
//! `127.0.0.1:0`, served by a spawned `run_until`), with one API key that may revoke and
//! no rate limit, so that the figures measure the daemon and NATS, not the limiter. Its
//! events are unsigned (no signing key): signing is a per-event Ed25519 signature the
//! figures do not isolate. Requests go over loopback HTTP with reqwest.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde::Deserialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use veto_daemon::Application;
use veto_daemon::auth::{ApiKeyEntry, Permission, hash_api_key};
use veto_daemon::config::Settings;

/// The benchmark's API key (only ever on loopback).
const API_KEY: &str = "veto_bench_api_key";
/// How long building the daemon (connect, stream, listener) may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the daemon may take to answer `GET /readyz` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one HTTP request (a batch of 1000 included) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the daemon may take to stop once asked.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// `vetod` running in this process; stopped on [`BenchDaemon::stop`] (or aborted on drop).
#[derive(Debug)]
pub struct BenchDaemon {
    url: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The part of a batch answer the ingest figure reads.
#[derive(Debug, Deserialize)]
struct BatchAnswer {
    results: Vec<BatchItem>,
}

#[derive(Debug, Deserialize)]
struct BatchItem {
    status: u16,
}

impl BenchDaemon {
    /// Builds and serves a daemon against `nats_url`; returns once it is ready.
    pub async fn start(nats_url: &str) -> anyhow::Result<BenchDaemon> {
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse()?,
            daemon_id: Some("veto-bench".to_owned()),
            ..Settings::default()
        };
        settings.nats.url = nats_url.to_owned();
        settings.rate_limit.per_second = 0;
        settings.auth.api_keys = vec![ApiKeyEntry {
            name: "bench".to_owned(),
            sha256: hash_api_key(API_KEY),
            permissions: vec![Permission::Revoke, Permission::Read],
        }];
        let app = timeout(BUILD_TIMEOUT, Application::build(settings))
            .await
            .context("the daemon did not build in time")??;
        let url = format!("http://{}", app.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let daemon = BenchDaemon {
            url,
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .context("building the HTTP client")?,
            stop: Some(stop),
            task: Some(task),
        };
        daemon.wait_ready().await?;
        Ok(daemon)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        timeout(READY_TIMEOUT, async {
            loop {
                if let Ok(response) = self.http.get(format!("{}/readyz", self.url)).send().await
                    && response.status() == reqwest::StatusCode::OK
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .context("the daemon was not ready in time")
    }

    /// `POST /v1/revocations` for a `jti`; `Ok` only on 201.
    pub async fn revoke_jti(&self, jti: &str) -> anyhow::Result<()> {
        let body = serde_json::json!({ "kind": "jti", "value": jti });
        let response = timeout(
            REQUEST_TIMEOUT,
            self.http
                .post(format!("{}/v1/revocations", self.url))
                .bearer_auth(API_KEY)
                .json(&body)
                .send(),
        )
        .await
        .context("POST /v1/revocations took too long")??;
        let status = response.status();
        if status != reqwest::StatusCode::CREATED {
            let text = response.text().await.unwrap_or_default();
            bail!("POST /v1/revocations answered {status}: {text}");
        }
        Ok(())
    }

    /// `POST /v1/revocations/batch` with one `jti` rule per value; how many items were
    /// stored (status 201).
    pub async fn revoke_batch(&self, jtis: &[String]) -> anyhow::Result<usize> {
        let revocations: Vec<serde_json::Value> = jtis
            .iter()
            .map(|jti| serde_json::json!({ "kind": "jti", "value": jti }))
            .collect();
        let body = serde_json::json!({ "revocations": revocations });
        let answer = timeout(REQUEST_TIMEOUT, async {
            let response = self
                .http
                .post(format!("{}/v1/revocations/batch", self.url))
                .bearer_auth(API_KEY)
                .json(&body)
                .send()
                .await?;
            let status = response.status();
            if status != reqwest::StatusCode::OK {
                let text = response.text().await.unwrap_or_default();
                bail!("POST /v1/revocations/batch answered {status}: {text}");
            }
            Ok(response.json::<BatchAnswer>().await?)
        })
        .await
        .context("POST /v1/revocations/batch took too long")??;
        ensure!(
            answer.results.len() == jtis.len(),
            "the batch answered {} results for {} items",
            answer.results.len(),
            jtis.len()
        );
        Ok(answer.results.iter().filter(|item| item.status == 201).count())
    }

    /// Stops serving and waits (bounded) for the daemon to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if timeout(STOP_TIMEOUT, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for BenchDaemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
