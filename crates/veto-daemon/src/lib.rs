//! `vetod`, veto's daemon: an admin HTTP API that takes revocations, makes each durable
//! in a NATS JetStream stream (and thereby broadcasts it to every service), and ticks
//! every second so services know how fresh their copy is.
//!
//! [`Application::build`] connects to NATS, creates or checks the stream, starts the
//! daemon's own replica of the list (what `GET` answers from: what services see), the
//! ticker and the key sources, and binds the listener; [`Application::run_until`]
//! serves until a shutdown future fires, then drains in-flight requests (each of which
//! finishes its publish) under a grace period.
//!
//! # Layout
//!
//! Data flows: HTTP → [`api`] → [`publisher`] → JetStream → the daemon's own replica
//! (veto-client) → [`index`] → `GET`.
//!
//! - [`config`]: settings from a TOML file, `VETO_*` variables and flags;
//!   [`permission`]: permissions and API key entries (read by config and auth).
//! - [`nats`]: connecting, and creating or checking the stream.
//! - [`publisher`]: durable, non-weakening, idempotent writes (compare-and-set);
//!   [`signer`]: the event signing key.
//! - [`index`]: every live rule in full, kept from what the replica applies;
//!   [`repair`]: publishes a key's state again when something else sits on its subject;
//!   [`snapshot`]: writes the whole list, signed once, for fast bootstrap;
//!   [`capture`]: the index's rules as a snapshot (for the writer, and for the
//!   daemon's own list when its bloom filters fill up);
//!   [`issuers`]: the issuers a rule may be scoped to.
//! - [`api`]: routes, handlers, extractors and the OpenAPI document; [`error`]: the
//!   one error type (codes from `veto-api`); [`idempotency`]: `Idempotency-Key` on
//!   the revocation routes.
//! - [`auth`]: API keys and admin JWTs; [`principal`]: bounded principal names;
//!   [`ratelimit`]: per-principal limits.
//! - [`idp`]: identity providers feed veto (OIDC back-channel logout, Shared Signals).
//! - [`server`]: the HTTP server, with connection limits and timeouts.
//! - [`fleet`]: the service instances that report presence (`GET /v1/fleet`), and
//!   receipts: writes that wait until every live instance has applied them.
//! - [`ticker`]: freshness ticks. [`metrics`]: Prometheus. [`state`]: shared state.
//! - [`ui`]: the admin console under `/ui` (HTML, sessions, live events);
//!   [`fanout`]: several observers of the replica as one.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! use veto_daemon::{Application, config::Settings};
//!
//! let nats = veto_testkit::NatsServer::start().await?;
//! let mut settings = Settings::default();
//! settings.listen = "127.0.0.1:0".parse()?;
//! settings.nats.url = nats.url();
//! let app = Application::build(settings).await?;
//! let url = format!("http://{}/healthz", app.local_addr());
//! let stop = tokio_util::sync::CancellationToken::new();
//! let server = tokio::spawn(app.run_until(stop.clone().cancelled_owned()));
//! # let _ = url;
//! stop.cancel();
//! server.await??;
//! # Ok(()) }
//! ```
//!
//! Longer than most files on purpose: the daemon's wiring (start, its tasks, shutdown) in
//! the order it runs; every piece it wires lives in its own module.

pub mod api;
pub mod auth;
pub mod capture;
pub mod config;
pub mod error;
pub mod fanout;
pub mod fleet;
pub mod idempotency;
pub mod idp;
pub mod index;
pub mod issuers;
pub mod metrics;
pub mod nats;
pub mod permission;
pub mod principal;
pub mod publisher;
pub mod ratelimit;
pub mod repair;
pub mod server;
pub mod signer;
pub mod snapshot;
pub mod state;
pub mod ticker;
pub mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use async_nats::jetstream;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use veto_client::jwt::{Algorithm, JwksConfig, JwksSource, Validator, ValidatorConfig};
use veto_client::{ListConfig, RevocationList};
use veto_proto::{StreamSettings, TokenPolicy, VerificationKeys};

use crate::auth::{AdminJwt, Authenticator, Permission};
use crate::config::{JwtSection, Settings};
use crate::idp::IdentityProviders;
use crate::index::RuleIndex;
use crate::issuers::KnownIssuers;
use crate::publisher::Publisher;
use crate::ratelimit::RateLimiter;
use crate::signer::EventSigner;
use crate::state::AppState;
use crate::ticker::TickHealth;

/// A daemon, built and bound, not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: Arc<AppState>,
    /// The ticker, the repairer, the snapshot writer, and the fleet's listener,
    /// stream follower and sweeper: stopped with the server.
    tasks: Vec<JoinHandle<()>>,
}

impl Application {
    /// Connects, prepares the stream, starts the replica and the ticker, binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        settings.validate()?;
        // Install the recorder before anything records.
        let _ = metrics::prometheus();
        let policy = settings.token_policy();
        let stream_settings = StreamSettings::new(&settings.stream.name, &policy, settings.stream.replicas)?;
        let client = nats::connect(&settings.nats).await?;
        let js = jetstream::new(client.clone());
        let stream_info = nats::ensure_stream(&js, &stream_settings).await?;
        let stream_created_unix_ns = i64::try_from(stream_info.created.unix_timestamp_nanos()).unwrap_or(0);
        let stream = js
            .get_stream(&settings.stream.name)
            .await
            .context("opening the stream")?;

        let signer = signer(&settings)?;
        let index = Arc::new(RuleIndex::new());
        let console = ui::Console::new(&settings.ui);
        let observer: Arc<dyn veto_client::Observer> = if settings.ui.enabled {
            Arc::new(fanout::Fanout::new(vec![
                Arc::clone(&index) as Arc<dyn veto_client::Observer>,
                Arc::clone(&console.feed) as Arc<dyn veto_client::Observer>,
            ]))
        } else {
            Arc::clone(&index) as Arc<dyn veto_client::Observer>
        };
        // The index needs every rule in full: the daemon replays the stream, never a
        // snapshot.
        let mut list_config = ListConfig::default()
            .stream_name(&settings.stream.name)
            .bootstrap(veto_client::Bootstrap::Replay)
            .observed_by(observer);
        if let Some(signer) = &signer {
            // The daemon's own replica trusts what it signs, and the keys it is told to
            // (other daemons, or the other key of a rotation).
            let trusted = match &settings.signing.trusted_keys {
                Some(list) => VerificationKeys::parse(list)?,
                None => VerificationKeys::new(),
            };
            list_config = list_config.signed_by(trusted.with_key(signer.key_id(), &signer.public_key())?);
        }
        let list = RevocationList::start(client.clone(), list_config)?;
        let authenticator =
            Authenticator::new(&settings.auth.api_keys, admin_jwt(&settings)?, Some(list.clone()));
        let oauth_validator = settings
            .oauth
            .as_ref()
            .map(|section| validator(section, policy))
            .transpose()?;
        let idp = IdentityProviders::build(&settings.idp, policy)?;
        let publisher = Publisher::new(
            client.clone(),
            js.clone(),
            stream,
            Arc::clone(&index),
            settings.api.publish_timeout,
            signer.clone(),
        );

        let mut tasks = vec![tokio::spawn(repair::run(Arc::clone(&index), publisher.clone()))];
        let ticks = Arc::new(TickHealth::default());
        let daemon_id = settings.daemon_id.clone().unwrap_or_else(default_daemon_id);
        let snapshots = if settings.snapshot.enabled {
            let bucket = settings.snapshot.bucket.clone().unwrap_or_else(|| {
                ListConfig::default()
                    .stream_name(&settings.stream.name)
                    .snapshot_bucket_name()
            });
            let writer = Arc::new(snapshot::SnapshotWriter::new(
                Arc::clone(&index),
                signer.clone(),
                (settings.stream.name.clone(), stream_created_unix_ns),
                daemon_id.clone(),
                snapshot::bucket(&js, &bucket, settings.stream.replicas).await?,
                settings.snapshot.clone(),
            ));
            tasks.push(tokio::spawn(Arc::clone(&writer).run(list.clone())));
            Some(writer)
        } else {
            None
        };
        tasks.push(tokio::spawn(ticker::run(
            js,
            daemon_id.clone(),
            settings.api.tick_interval,
            Arc::clone(&ticks),
            signer,
        )));

        let fleet = Arc::new(fleet::Fleet::new(settings.fleet.clone()));
        tasks.extend([
            tokio::spawn(fleet::listen(client.clone(), Arc::clone(&fleet))),
            tokio::spawn(fleet::follow_stream(list.applied_sequence(), Arc::clone(&fleet))),
            tokio::spawn(fleet::sweep(Arc::clone(&fleet))),
        ]);

        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        if settings.auth.api_keys.is_empty() && settings.auth.jwt.is_none() {
            warn!("no API keys and no admin JWT issuer configured: every authenticated route answers 401");
        }
        // The settings in full only at debug: they name every API key and credential
        // file (secrets and key hashes are redacted, but an info log is widely read).
        info!(
            daemon = %daemon_id,
            stream = %settings.stream.name,
            replicas = settings.stream.replicas,
            api_keys = settings.auth.api_keys.len(),
            admin_jwt = settings.auth.jwt.is_some(),
            oauth = settings.oauth.is_some(),
            "vetod configured"
        );
        debug!(settings = ?settings, "vetod settings");
        let state = Arc::new(AppState {
            policy,
            issuers: KnownIssuers::from_settings(&settings),
            rate_limiter: RateLimiter::new(settings.rate_limit.per_second, settings.rate_limit.burst),
            settings,
            daemon_id,
            authenticator,
            publisher,
            list,
            index,
            client,
            ticks,
            oauth_validator,
            console,
            idp,
            snapshots,
            fleet,
        });
        Ok(Application {
            listener,
            state,
            tasks,
        })
    }

    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.settings.listen)
    }

    /// The shared state (for tests and embedding).
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests
    /// finish (each completes its publish), and returns. If draining takes longer than
    /// `api.shutdown_grace`, returns anyway.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application {
            listener,
            state,
            tasks,
        } = self;
        let grace = state.settings.api.shutdown_grace;
        let client = state.client.clone();
        let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
        let console_state = Arc::clone(&state);
        let signal = async move {
            shutdown.await;
            info!("shutting down: no new connections; finishing in-flight requests");
            // Open console pages hold event streams that never end on their own.
            console_state.console.close_live_streams();
            let _ = draining_tx.send(());
        };
        let limits = state.settings.server_limits();
        let server = server::serve(listener, api::router(state), limits, signal);
        let grace_expired = async move {
            if draining_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = server => served.context("serving HTTP")?,
            () = grace_expired => warn!(?grace, "grace period over; stopping with requests in flight"),
        }
        for task in tasks {
            task.abort();
        }
        // Bounded: with NATS gone, a flush waits for a reconnection that never comes,
        // and a stopping daemon must stop. (Every acknowledged write is already stored:
        // only unacknowledged ticks could be pending.)
        match tokio::time::timeout(flush_limit(grace), client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(%error, "flushing the NATS connection"),
            Err(_) => warn!("NATS did not take the last flush in time; stopping anyway"),
        }
        info!("vetod stopped");
        Ok(())
    }
}

/// `vetod --create-region-mirrors`: a region's mirrors on the leaf node at
/// `settings.nats`, of the stream and snapshot bucket the settings name, in the hub's
/// domain `hub_domain`.
pub async fn create_region_mirrors(
    settings: &Settings,
    hub_domain: &str,
    snapshot_max_bytes: i64,
) -> anyhow::Result<()> {
    let policy = settings.token_policy();
    let stream = StreamSettings::new(&settings.stream.name, &policy, 1)?;
    let client = nats::connect(&settings.nats).await?;
    let bucket = settings.snapshot.bucket.clone().unwrap_or_else(|| {
        ListConfig::default()
            .stream_name(&settings.stream.name)
            .snapshot_bucket_name()
    });
    nats::ensure_region_mirrors(
        &jetstream::new(client),
        &stream,
        hub_domain,
        &bucket,
        snapshot_max_bytes,
    )
    .await
}

/// How long stopping waits for the last flush to NATS.
fn flush_limit(grace: std::time::Duration) -> std::time::Duration {
    grace.min(std::time::Duration::from_secs(2))
}

/// The event signer, if configured; without one, events are unsigned, which we say:
/// a warning in development, an error anywhere else (see [`is_development`]).
fn signer(settings: &Settings) -> anyhow::Result<Option<Arc<EventSigner>>> {
    match (&settings.signing.key_id, &settings.signing.seed_file) {
        (Some(key_id), Some(seed_file)) => {
            let signer = EventSigner::from_seed_file(key_id, seed_file)?;
            info!(key_id, public_key = %signer.public_key(), "signing events");
            Ok(Some(Arc::new(signer)))
        }
        _ if is_development(settings) => {
            warn!(
                "publishing UNSIGNED events (development: loopback only): set signing.key_id and signing.seed_file in production"
            );
            Ok(None)
        }
        _ => {
            tracing::error!(
                "publishing UNSIGNED events outside development: anyone who can publish on the bus can forge revocations and lifts; set signing.key_id and signing.seed_file (vetod --generate-signing-key)"
            );
            Ok(None)
        }
    }
}

/// Development: the API on a loopback address, NATS on loopback, one replica, no NATS
/// credentials. Anything else is a deployment.
pub fn is_development(settings: &Settings) -> bool {
    let loopback_host = |url: &str| {
        let url = url.trim();
        let url = if url.contains("://") {
            url.to_owned()
        } else {
            format!("nats://{url}")
        };
        url.parse::<axum::http::Uri>().is_ok_and(|uri| {
            let host = uri.host().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        })
    };
    let nats = &settings.nats;
    settings.listen.ip().is_loopback()
        && nats.url.split(',').all(loopback_host)
        && settings.stream.replicas == 1
        && nats.credentials_file.is_none()
        && nats.token.is_none()
        && nats.user.is_none()
}

fn default_daemon_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "vetod".to_owned());
    format!("{host}-{}", std::process::id())
}

/// A validator for one `[oauth]` or `[auth.jwt]` section, with its JWKS source, under
/// the deployment's token policy.
fn validator(section: &JwtSection, policy: TokenPolicy) -> anyhow::Result<Validator> {
    let algorithms = section
        .algorithms
        .iter()
        .map(|name| {
            name.parse::<Algorithm>()
                .map_err(|_| anyhow::anyhow!("unknown JWT algorithm {name:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = ValidatorConfig {
        algorithms,
        issuers: section.issuers.clone(),
        audiences: section.audiences.clone(),
        leeway: section.leeway,
        policy: Some(policy),
        ..ValidatorConfig::new("", "")
    };
    let keys = JwksSource::start(JwksConfig::new(&section.jwks_url))?;
    Ok(Validator::new(config, keys)?)
}

fn admin_jwt(settings: &Settings) -> anyhow::Result<Option<AdminJwt>> {
    let Some(section) = &settings.auth.jwt else {
        return Ok(None);
    };
    Ok(Some(AdminJwt {
        validator: validator(&section.validation, settings.token_policy())?,
        roles_claim: section.roles_claim.clone(),
        roles: vec![
            (section.revoke_role.clone(), Permission::Revoke),
            (section.lift_role.clone(), Permission::Lift),
            (section.read_role.clone(), Permission::Read),
        ],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_is_loopback_only_without_credentials() {
        let settings = |adjust: &dyn Fn(&mut Settings)| {
            let mut settings = Settings::default();
            adjust(&mut settings);
            is_development(&settings)
        };
        assert!(
            settings(&|_| {}),
            "the defaults: 127.0.0.1 and nats://127.0.0.1:4222"
        );
        assert!(settings(
            &|s| s.nats.url = "nats://localhost:4222,nats://[::1]:4223".into()
        ));
        assert!(settings(&|s| s.nats.url = "127.0.0.1:4222".into()));
        for (what, deployed) in [
            (
                "API on all interfaces",
                &(|s: &mut Settings| s.listen = "0.0.0.0:8080".parse().unwrap()) as &dyn Fn(&mut Settings),
            ),
            ("NATS elsewhere", &|s: &mut Settings| {
                s.nats.url = "nats://nats-1.veto.internal:4222".into()
            }),
            ("one of the NATS URLs elsewhere", &|s: &mut Settings| {
                s.nats.url = "nats://127.0.0.1:4222,nats://10.0.0.7:4222".into()
            }),
            ("three replicas", &|s: &mut Settings| s.stream.replicas = 3),
            ("a NATS user", &|s: &mut Settings| {
                s.nats.user = Some("vetod".into())
            }),
        ] {
            assert!(!settings(deployed), "{what} is a deployment");
        }
    }
}
