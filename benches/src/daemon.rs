//! `vetod` in-process for the daemon figures (the test kit's [`TestDaemon`]), and the
//! API calls they make through veto-api's [`AdminClient`].
//!
//! The daemon is built as the tests build it (`Application::build` on `127.0.0.1:0`,
//! served by a spawned `run_until`), with the admin key and no rate limit, so the
//! figures measure the daemon and NATS, not the limiter; and as shipped, signing every
//! event with its own key (services trust it through [`BenchDaemon::keys`]).

use std::time::Duration;

use anyhow::{Context, ensure};
use veto_api::{AdminClient, AppliedBy, BatchRequest, RevokeRequest, Wait};
use veto_client::VerificationKeys;
use veto_daemon::config::Settings;
use veto_proto::RuleKind;
use veto_testkit::daemon::{ADMIN_KEY, test_settings};
use veto_testkit::{TestDaemon, TestSigningKey};

/// How long one HTTP request (a batch of 1000 included) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `vetod` running in this process, and a client of its API.
#[derive(Debug)]
pub struct BenchDaemon {
    daemon: TestDaemon,
    api: AdminClient,
    key: TestSigningKey,
}

impl BenchDaemon {
    /// Builds and serves a daemon against `nats_url`, with `adjust` applied to the
    /// settings; returns once it is ready.
    pub async fn start(nats_url: &str, adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<BenchDaemon> {
        let mut settings = test_settings(nats_url);
        settings.daemon_id = Some("veto-bench".to_owned());
        // As shipped, not the tests' fast ticks.
        settings.api.tick_interval = Settings::default().api.tick_interval;
        let key = TestSigningKey::new("veto-bench");
        key.apply(&mut settings);
        adjust(&mut settings);
        let daemon = TestDaemon::start_with(settings).await;
        let api = AdminClient::new(
            daemon.url.parse()?,
            Some(ADMIN_KEY.to_owned().into()),
            REQUEST_TIMEOUT,
        )
        .context("building the admin client")?;
        Ok(BenchDaemon { daemon, api, key })
    }

    /// The key services trust: the daemon's.
    pub fn keys(&self) -> VerificationKeys {
        self.key.verification_keys()
    }

    /// `POST /v1/revocations` for a `jti`; `Ok` only on 201.
    pub async fn revoke_jti(&self, jti: &str) -> anyhow::Result<()> {
        self.api
            .revoke(&RevokeRequest::new(RuleKind::Jti, Some(jti)))
            .await
            .map(|_| ())
            .context("POST /v1/revocations")
    }

    /// `POST /v1/revocations?wait=…` for a `jti`: its receipt, on 201.
    pub async fn revoke_jti_waiting(&self, jti: &str, wait: &Wait) -> anyhow::Result<AppliedBy> {
        self.api
            .waiting_for(wait.clone())
            .revoke(&RevokeRequest::new(RuleKind::Jti, Some(jti)))
            .await
            .context("POST /v1/revocations?wait=")?
            .reply
            .body
            .applied_by
            .context("no applied_by in the answer of a write that waited")
    }

    /// How many instances `GET /v1/fleet` lists as fresh.
    pub async fn fresh_instances(&self) -> anyhow::Result<u64> {
        let fleet = self.api.fleet().await.context("GET /v1/fleet")?;
        Ok(fleet.body.by_state.fresh)
    }

    /// `POST /v1/revocations/batch` with one `jti` rule per value; how many items were
    /// stored (status 201).
    pub async fn revoke_batch(&self, jtis: &[String]) -> anyhow::Result<usize> {
        let batch = BatchRequest {
            revocations: jtis
                .iter()
                .map(|jti| RevokeRequest::new(RuleKind::Jti, Some(jti)))
                .collect(),
        };
        let answer = self
            .api
            .revoke_batch(&batch)
            .await
            .context("POST /v1/revocations/batch")?;
        let results = answer.body.results;
        ensure!(
            results.len() == jtis.len(),
            "the batch answered {} results for {} items",
            results.len(),
            jtis.len()
        );
        Ok(results.iter().filter(|item| item.status == 201).count())
    }

    /// Stops serving and waits (bounded) for the daemon to finish.
    pub async fn stop(self) {
        self.daemon.stop().await;
    }
}
