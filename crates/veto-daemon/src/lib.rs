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
//!   [`repair`]: publishes a key's state again when something else sits on its subject.
//! - [`api`]: routes, handlers, extractors and the OpenAPI document; [`error`]: the
//!   one error type (codes from `veto-api`).
//! - [`auth`]: API keys and admin JWTs; [`ratelimit`]: per-principal limits.
//! - [`idp`]: identity providers feed veto (OIDC back-channel logout, Shared Signals).
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

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod fanout;
pub mod fleet;
pub mod idp;
pub mod index;
pub mod metrics;
pub mod nats;
pub mod permission;
pub mod publisher;
pub mod ratelimit;
pub mod repair;
pub mod signer;
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
use tracing::{info, warn};
use veto_client::jwt::{Algorithm, JwksConfig, JwksSource, Validator, ValidatorConfig};
use veto_client::{ListConfig, RevocationList};
use veto_proto::{StreamSettings, VerificationKeys};

use crate::auth::{AdminJwt, Authenticator, Permission};
use crate::config::{JwtSection, Settings};
use crate::idp::IdentityProviders;
use crate::index::RuleIndex;
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
    ticker: JoinHandle<()>,
    repairer: JoinHandle<()>,
    /// The fleet's listener, stream follower and sweeper.
    fleet_tasks: Vec<JoinHandle<()>>,
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
        nats::ensure_stream(&js, &stream_settings).await?;
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
        let mut list_config = ListConfig::default()
            .stream_name(&settings.stream.name)
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
        let oauth_validator = settings.oauth.as_ref().map(validator).transpose()?;
        let idp = IdentityProviders::build(&settings.idp)?;
        let publisher = Publisher::new(
            client.clone(),
            js.clone(),
            stream,
            Arc::clone(&index),
            settings.api.publish_timeout,
            signer.clone(),
        );

        let repairer = tokio::spawn(repair::run(Arc::clone(&index), publisher.clone()));
        let ticks = Arc::new(TickHealth::default());
        let daemon_id = settings.daemon_id.clone().unwrap_or_else(default_daemon_id);
        let ticker = tokio::spawn(ticker::run(
            js,
            daemon_id.clone(),
            settings.api.tick_interval,
            Arc::clone(&ticks),
            signer,
        ));

        let fleet = Arc::new(fleet::Fleet::new(settings.fleet.clone()));
        let fleet_tasks = vec![
            tokio::spawn(fleet::listen(client.clone(), Arc::clone(&fleet))),
            tokio::spawn(fleet::follow_stream(list.applied_sequence(), Arc::clone(&fleet))),
            tokio::spawn(fleet::sweep(Arc::clone(&fleet))),
        ];

        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        if settings.auth.api_keys.is_empty() && settings.auth.jwt.is_none() {
            warn!("no API keys and no admin JWT issuer configured: every authenticated route answers 401");
        }
        info!(daemon = %daemon_id, settings = ?settings, "vetod configured");
        let state = Arc::new(AppState {
            policy,
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
            fleet,
        });
        Ok(Application {
            listener,
            state,
            ticker,
            repairer,
            fleet_tasks,
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
            ticker,
            repairer,
            fleet_tasks,
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
        let server = axum::serve(listener, api::router(state)).with_graceful_shutdown(signal);
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
        ticker.abort();
        repairer.abort();
        for task in fleet_tasks {
            task.abort();
        }
        if let Err(error) = client.flush().await {
            warn!(%error, "flushing the NATS connection");
        }
        info!("vetod stopped");
        Ok(())
    }
}

/// The event signer, if configured; without one, events are unsigned (and we say so).
fn signer(settings: &Settings) -> anyhow::Result<Option<Arc<EventSigner>>> {
    match (&settings.signing.key_id, &settings.signing.seed_file) {
        (Some(key_id), Some(seed_file)) => {
            let signer = EventSigner::from_seed_file(key_id, seed_file)?;
            info!(key_id, public_key = %signer.public_key(), "signing events");
            Ok(Some(Arc::new(signer)))
        }
        _ => {
            warn!(
                "publishing UNSIGNED events (development mode): set signing.key_id and signing.seed_file in production"
            );
            Ok(None)
        }
    }
}

fn default_daemon_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "vetod".to_owned());
    format!("{host}-{}", std::process::id())
}

/// A validator for one `[oauth]` or `[auth.jwt]` section, with its JWKS source.
fn validator(section: &JwtSection) -> anyhow::Result<Validator> {
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
        validator: validator(&section.validation)?,
        roles_claim: section.roles_claim.clone(),
        roles: vec![
            (section.revoke_role.clone(), Permission::Revoke),
            (section.lift_role.clone(), Permission::Lift),
            (section.read_role.clone(), Permission::Read),
        ],
    }))
}
