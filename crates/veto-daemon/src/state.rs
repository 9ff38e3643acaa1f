//! What every handler shares.

use std::sync::Arc;

use veto_client::RevocationList;
use veto_client::jwt::Validator;
use veto_proto::TokenPolicy;

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::fleet::Fleet;
use crate::idp::IdentityProviders;
use crate::index::RuleIndex;
use crate::issuers::KnownIssuers;
use crate::publisher::Publisher;
use crate::ratelimit::RateLimiter;
use crate::ticker::TickHealth;

/// Shared by every handler.
#[derive(Debug)]
pub struct AppState {
    /// The settings in force.
    pub settings: Settings,
    /// This daemon's id, in ticks, logs and `/v1/status`.
    pub daemon_id: String,
    /// Token lifetimes.
    pub policy: TokenPolicy,
    /// The issuers a rule may be scoped to.
    pub issuers: KnownIssuers,
    /// Admin authentication.
    pub authenticator: Authenticator,
    /// Per-principal limits on mutating routes.
    pub rate_limiter: RateLimiter,
    /// Writes.
    pub publisher: Publisher,
    /// The daemon's own replica of the list: what services see.
    pub list: RevocationList,
    /// Every live rule in full, kept from what `list` applies: what `GET` answers.
    pub index: Arc<RuleIndex>,
    /// The NATS client (for readiness).
    pub client: async_nats::Client,
    /// Tick acknowledgements (for readiness).
    pub ticks: Arc<TickHealth>,
    /// Validates tokens handed to `/oauth2/revoke` (absent: the endpoint revokes nothing).
    pub oauth_validator: Option<Validator>,
    /// The snapshot writer (`GET` and `POST /v1/snapshot`); none when disabled.
    pub snapshots: Option<Arc<crate::snapshot::SnapshotWriter>>,
    /// The admin console's sessions and live feed.
    pub console: crate::ui::Console,
    /// The identity providers whose logout tokens and SETs are accepted.
    pub idp: IdentityProviders,
    /// The service instances that report presence; receipts wait on it.
    pub fleet: Arc<Fleet>,
}
