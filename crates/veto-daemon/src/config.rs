//! Settings, in layers (the later wins): a TOML file, then `VETO_*` environment
//! variables for any setting (`VETO_API__PUBLISH_TIMEOUT=5s`: sections joined by `__`),
//! then flags and their shorthand variables (`--nats-url`, `VETO_NATS_URL`). Layering
//! is figment's; durations are humantime's (`5s`, `500ms`, `24h`); secrets are
//! `secrecy`'s `SecretString`, whose `Debug` never shows them.
//!
//! Longer than most files on purpose: this is the settings reference, every section
//! with its default and its meaning, read in one place.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::SecretString;
use serde::Deserialize;
use veto_proto::{StreamSettings, TokenPolicy};

use crate::idp::settings::IdpSection;
use crate::permission::{ApiKeyEntry, Permission};

/// A value that is never printed.
pub type Secret = SecretString;

/// Everything `vetod` is configured with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Admin API address. Default `127.0.0.1:8080` (use port 0 for any free port).
    pub listen: SocketAddr,
    /// This daemon's name in ticks and logs. Default `<hostname>-<pid>`.
    pub daemon_id: Option<String>,
    /// The NATS connection.
    pub nats: NatsSettings,
    /// The JetStream stream.
    pub stream: StreamSection,
    /// Token lifetimes in this deployment.
    pub tokens: TokenSection,
    /// Request handling.
    pub api: ApiSection,
    /// Per-principal rate limit on mutating routes.
    pub rate_limit: RateLimitSection,
    /// Admin authentication.
    pub auth: AuthSection,
    /// RFC 7009: which tokens `/oauth2/revoke` accepts.
    pub oauth: Option<JwtSection>,
    /// Event signing.
    pub signing: SigningSection,
    /// Snapshots of the list for fast bootstrap.
    pub snapshot: crate::snapshot::SnapshotSection,
    /// The admin console under `/ui`.
    pub ui: crate::ui::UiSettings,
    /// Identity providers that feed veto: OIDC back-channel logout, Shared Signals.
    pub idp: IdpSection,
    /// The fleet of service instances that report presence, and receipts on writes.
    pub fleet: crate::fleet::FleetSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            daemon_id: None,
            nats: NatsSettings::default(),
            stream: StreamSection::default(),
            tokens: TokenSection::default(),
            api: ApiSection::default(),
            rate_limit: RateLimitSection::default(),
            auth: AuthSection::default(),
            oauth: None,
            signing: SigningSection::default(),
            snapshot: crate::snapshot::SnapshotSection::default(),
            ui: crate::ui::UiSettings::default(),
            idp: IdpSection::default(),
            fleet: crate::fleet::FleetSettings::default(),
        }
    }
}

/// How to reach NATS.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSettings {
    /// Server URL(s), comma-separated. Default `nats://127.0.0.1:4222`.
    pub url: String,
    /// A `.creds` file (JWT + NKey seed).
    pub credentials_file: Option<PathBuf>,
    /// A token.
    pub token: Option<Secret>,
    /// User and password.
    pub user: Option<String>,
    /// Password for `user`.
    pub password: Option<Secret>,
    /// Require TLS.
    pub tls_required: bool,
    /// CA certificate(s) to trust, PEM.
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate and key, PEM (mutual TLS).
    pub tls_client_cert: Option<PathBuf>,
    /// Client key for `tls_client_cert`.
    pub tls_client_key: Option<PathBuf>,
    /// How long start-up waits for the first connection. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for NatsSettings {
    fn default() -> Self {
        NatsSettings {
            url: "nats://127.0.0.1:4222".to_owned(),
            credentials_file: None,
            token: None,
            user: None,
            password: None,
            tls_required: false,
            tls_ca_file: None,
            tls_client_cert: None,
            tls_client_key: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Ed25519 event signing. Without a key the daemon publishes unsigned events (and
/// says so at start): development only.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningSection {
    /// The key id put in each event's `Veto-Key-Id` header.
    pub key_id: Option<String>,
    /// A file holding the 32-byte seed, base64url (`vetod --generate-signing-key`).
    pub seed_file: Option<PathBuf>,
    /// Other daemons' public keys the daemon's own replica also trusts, as
    /// `kid:publickey,…` (during a rotation: the old and the new key).
    pub trusted_keys: Option<String>,
}

/// The stream.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSection {
    /// Name. Default `VETO`.
    pub name: String,
    /// Replicas: 1 in development, 3 in production. Default 1.
    pub replicas: usize,
}

impl Default for StreamSection {
    fn default() -> Self {
        StreamSection {
            name: StreamSettings::DEFAULT_NAME.to_owned(),
            replicas: 1,
        }
    }
}

/// Token lifetimes; see [`TokenPolicy`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSection {
    /// The longest lifetime any issuer gives a token. Default 24 h.
    #[serde(with = "humantime_serde")]
    pub max_token_ttl: Duration,
    /// Leeway services grant on `exp`. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// Added to "now" for a default `issued_before`. Default 5 s.
    #[serde(with = "humantime_serde")]
    pub clock_skew: Duration,
    /// Issuers a rule's `iss` may name, besides the `[auth.jwt]` and `[oauth]` ones
    /// (see [`crate::issuers`]). When no issuer is configured anywhere, any `iss` is
    /// taken. Default none.
    pub issuers: Vec<String>,
}

impl Default for TokenSection {
    fn default() -> Self {
        let policy = TokenPolicy::default();
        TokenSection {
            max_token_ttl: policy.max_token_ttl,
            leeway: policy.leeway,
            clock_skew: policy.clock_skew,
            issuers: Vec::new(),
        }
    }
}

/// Request handling.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// How long a write may wait for JetStream's acknowledgement before answering 503.
    /// Default 3 s.
    #[serde(with = "humantime_serde")]
    pub publish_timeout: Duration,
    /// How often this daemon publishes a freshness tick. Default 5 s: every service
    /// receives every tick (about 16 µs of the server's CPU per service per tick on
    /// the reference machine: 1.6 % of a core at 1,000 services ticking every second,
    /// 0.3 % every 5 s; `benches/run`, fleet).
    /// Keep it at most half the services' `max_staleness` (10 s by default).
    #[serde(with = "humantime_serde")]
    pub tick_interval: Duration,
    /// Largest request body on single-item routes. Default 64 KiB.
    pub max_body_bytes: usize,
    /// Most items in one batch. Default 1000.
    pub max_batch_items: usize,
    /// Largest batch body. Default 1 MiB (1000 items of up to 1 KiB).
    pub max_batch_body_bytes: usize,
    /// How long shutdown waits for in-flight requests. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How long a client has to send a request's head, from when its connection is
    /// ready for one (accepted, or the previous response sent): bounds dripped heads
    /// and keep-alive idleness. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection with no request being handled for this long is closed. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// The most connections open at once, lowered to fit the open-file limit; at the
    /// cap the longest-idle connection is closed to make room (see [`crate::server`]).
    /// Default 1024.
    pub max_connections: usize,
    /// How long the answer to a request with an `Idempotency-Key` is kept to be given
    /// again (see [`crate::idempotency`]). Default 24 h.
    #[serde(with = "humantime_serde")]
    pub idempotency_ttl: Duration,
    /// The most bytes of such answers kept; the oldest go first. Default 64 MiB.
    pub idempotency_max_bytes: usize,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            publish_timeout: Duration::from_secs(3),
            tick_interval: Duration::from_secs(5),
            max_body_bytes: 64 * 1024,
            max_batch_items: 1000,
            max_batch_body_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
            idempotency_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A token bucket per principal on mutating routes (a batch counts once).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSection {
    /// Sustained requests per second per principal; 0 disables the limit. Default 50.
    pub per_second: u32,
    /// Burst size. Default 100.
    pub burst: u32,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        RateLimitSection {
            per_second: 50,
            burst: 100,
        }
    }
}

/// Admin authentication: static API keys (stored as SHA-256 hashes) and/or bearer JWTs.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// API keys.
    pub api_keys: Vec<ApiKeyEntry>,
    /// Bearer JWTs from an identity provider.
    pub jwt: Option<AdminJwtSection>,
}

/// Bearer JWTs for admins.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminJwtSection {
    /// Which tokens are accepted.
    #[serde(flatten)]
    pub validation: JwtSection,
    /// The claim holding roles (an array of strings, or a space-separated string).
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// The role that may revoke.
    #[serde(default = "default_revoke_role")]
    pub revoke_role: String,
    /// The role that may lift.
    #[serde(default = "default_lift_role")]
    pub lift_role: String,
    /// The role that may read (get, list). Revoke and lift imply read.
    #[serde(default = "default_read_role")]
    pub read_role: String,
}

fn default_roles_claim() -> String {
    "roles".to_owned()
}
fn default_revoke_role() -> String {
    "veto:revoke".to_owned()
}
fn default_lift_role() -> String {
    "veto:lift".to_owned()
}
fn default_read_role() -> String {
    "veto:read".to_owned()
}

/// Which JWTs are accepted: issuers, audiences, algorithms, keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSection {
    /// Accepted issuers.
    pub issuers: Vec<String>,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// The issuers' JWKS URL (https, or http on loopback).
    pub jwks_url: String,
    /// Accepted algorithms. Default `["ES256"]`.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock leeway. Default 30 s; at most `tokens.leeway` (a `jti` rule is forgotten
    /// that long after its token's `exp`).
    #[serde(default = "default_jwt_leeway", with = "humantime_serde")]
    pub leeway: Duration,
}

fn default_algorithms() -> Vec<String> {
    vec!["ES256".to_owned()]
}
fn default_jwt_leeway() -> Duration {
    Duration::from_secs(30)
}

impl Settings {
    /// The token policy.
    pub fn token_policy(&self) -> TokenPolicy {
        TokenPolicy {
            max_token_ttl: self.tokens.max_token_ttl,
            leeway: self.tokens.leeway,
            clock_skew: self.tokens.clock_skew,
        }
    }

    /// Reads a TOML file (and nothing else).
    pub fn from_file(path: &Path) -> anyhow::Result<Settings> {
        if !path.is_file() {
            anyhow::bail!("reading {}: no such file", path.display());
        }
        Figment::from(Toml::file_exact(path))
            .extract()
            .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
    }

    /// The file (if any), then `VETO_*` variables with `__` between section and key
    /// (`VETO_NATS__CONNECT_TIMEOUT`), plus `VETO_LISTEN` and `VETO_DAEMON_ID`. The
    /// flags' own shorthand variables (`VETO_NATS_URL`, …) are the flags' layer.
    pub fn from_file_and_env(path: Option<&Path>) -> anyhow::Result<Settings> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if !path.is_file() {
                anyhow::bail!("reading {}: no such file", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let env = Env::prefixed("VETO_")
            .filter(|key| key.as_str().contains("__") || matches!(key.as_str(), "listen" | "daemon_id"))
            .split("__");
        figment
            .merge(env)
            .extract()
            .map_err(|error| anyhow::anyhow!("settings: {error}"))
    }

    /// The HTTP server's limits.
    pub fn server_limits(&self) -> crate::server::ServerLimits {
        crate::server::ServerLimits {
            header_read_timeout: self.api.header_read_timeout,
            idle_timeout: self.api.idle_timeout,
            max_connections: self.api.max_connections,
        }
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        StreamSettings::new(&self.stream.name, &self.token_policy(), self.stream.replicas)?;
        anyhow::ensure!(
            !self.api.publish_timeout.is_zero() && !self.api.tick_interval.is_zero(),
            "api.publish_timeout and api.tick_interval must be positive"
        );
        anyhow::ensure!(
            !self.api.header_read_timeout.is_zero()
                && !self.api.idle_timeout.is_zero()
                && self.api.max_connections > 0,
            "api.header_read_timeout, api.idle_timeout and api.max_connections must be positive"
        );
        anyhow::ensure!(
            (1..=10_000).contains(&self.api.max_batch_items),
            "api.max_batch_items must be between 1 and 10000"
        );
        anyhow::ensure!(
            self.auth
                .api_keys
                .iter()
                .all(|key| key.sha256.len() == 64 && hex::decode(&key.sha256).is_ok()),
            "auth.api_keys[].sha256 must be 64 hex characters (the SHA-256 of the key)"
        );
        anyhow::ensure!(
            self.nats.password.is_none() || self.nats.user.is_some(),
            "nats.password needs nats.user"
        );
        anyhow::ensure!(
            self.signing.key_id.is_some() == self.signing.seed_file.is_some(),
            "signing.key_id and signing.seed_file go together"
        );
        self.ui.validate()?;
        self.idp.validate()?;
        let jwt_sections = [
            ("auth.jwt", self.auth.jwt.as_ref().map(|jwt| &jwt.validation)),
            ("oauth", self.oauth.as_ref()),
        ];
        for (name, section) in jwt_sections {
            if let Some(section) = section {
                anyhow::ensure!(
                    section.leeway <= self.tokens.leeway,
                    "{name}.leeway ({:?}) may not exceed tokens.leeway ({:?}): a jti rule is forgotten \
                     tokens.leeway after its token's exp, and the token would still be accepted",
                    section.leeway,
                    self.tokens.leeway
                );
            }
        }
        self.fleet.validate()?;
        Ok(())
    }
}

/// `vetod`'s command line. Every flag can also be set through its `VETO_*` variable.
#[derive(Debug, Parser)]
#[command(
    name = "vetod",
    version,
    about = "veto's admin API: durable, broadcast JWT revocations"
)]
pub struct Cli {
    /// A TOML settings file.
    #[arg(long, env = "VETO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Admin API address, such as 127.0.0.1:8080.
    #[arg(long, env = "VETO_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// NATS server URL(s), comma-separated.
    #[arg(long, env = "VETO_NATS_URL")]
    pub nats_url: Option<String>,
    /// NATS credentials file.
    #[arg(long, env = "VETO_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// NATS token.
    #[arg(long, env = "VETO_NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// NATS user.
    #[arg(long, env = "VETO_NATS_USER")]
    pub nats_user: Option<String>,
    /// NATS password.
    #[arg(long, env = "VETO_NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// Stream name.
    #[arg(long, env = "VETO_STREAM")]
    pub stream: Option<String>,
    /// Stream replicas.
    #[arg(long, env = "VETO_STREAM_REPLICAS")]
    pub stream_replicas: Option<usize>,
    /// API keys as `name:sha256hex:perm+perm`, separated by `;` (perms: revoke, lift, read).
    #[arg(long, env = "VETO_API_KEYS", hide_env_values = true)]
    pub api_keys: Option<String>,
    /// Key id of the event signing key.
    #[arg(long, env = "VETO_SIGNING_KEY_ID")]
    pub signing_key_id: Option<String>,
    /// File with the event signing seed (base64url, 32 bytes).
    #[arg(long, env = "VETO_SIGNING_SEED_FILE")]
    pub signing_seed_file: Option<PathBuf>,
    /// Other trusted daemon keys, `kid:publickey,…`.
    #[arg(long, env = "VETO_TRUSTED_KEYS")]
    pub trusted_keys: Option<String>,
    /// Print a new signing seed and its public key as JSON, and exit.
    #[arg(long)]
    pub generate_signing_key: bool,
    /// Create (or update) a region's mirrors of the stream and the snapshot bucket on
    /// the leaf node at --nats-url (deploy/nats/leaf.conf), mirroring the hub's
    /// JetStream domain --hub-domain, and exit.
    #[arg(long)]
    pub create_region_mirrors: bool,
    /// The hub's JetStream domain, for --create-region-mirrors.
    #[arg(long, default_value = "hub")]
    pub hub_domain: String,
    /// The largest size of a region's snapshot mirror, in bytes (oldest dropped
    /// first), for --create-region-mirrors.
    #[arg(long, default_value_t = 1 << 30)]
    pub snapshot_mirror_max_bytes: i64,
    /// Log as JSON lines.
    #[arg(long, env = "VETO_LOG_JSON")]
    pub log_json: bool,
}

impl Cli {
    /// The settings: file (if any), then these flags and variables on top.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::from_file_and_env(self.config.as_deref())?;
        if let Some(listen) = self.listen {
            settings.listen = listen;
        }
        if let Some(url) = &self.nats_url {
            settings.nats.url = url.clone();
        }
        if let Some(creds) = &self.nats_creds {
            settings.nats.credentials_file = Some(creds.clone());
        }
        if let Some(token) = &self.nats_token {
            settings.nats.token = Some(Secret::from(token.clone()));
        }
        if let Some(user) = &self.nats_user {
            settings.nats.user = Some(user.clone());
        }
        if let Some(password) = &self.nats_password {
            settings.nats.password = Some(Secret::from(password.clone()));
        }
        if let Some(stream) = &self.stream {
            settings.stream.name = stream.clone();
        }
        if let Some(replicas) = self.stream_replicas {
            settings.stream.replicas = replicas;
        }
        if let Some(keys) = &self.api_keys {
            settings.auth.api_keys.extend(parse_api_keys(keys)?);
        }
        if let Some(key_id) = &self.signing_key_id {
            settings.signing.key_id = Some(key_id.clone());
        }
        if let Some(seed_file) = &self.signing_seed_file {
            settings.signing.seed_file = Some(seed_file.clone());
        }
        if let Some(trusted) = &self.trusted_keys {
            settings.signing.trusted_keys = Some(trusted.clone());
        }
        settings.validate()?;
        Ok(settings)
    }
}

/// Parses `name:sha256hex:perm+perm;…`.
pub fn parse_api_keys(text: &str) -> anyhow::Result<Vec<ApiKeyEntry>> {
    text.split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let mut parts = entry.split(':');
            let (Some(name), Some(sha256), Some(permissions), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                anyhow::bail!("an API key entry is name:sha256hex:perm+perm");
            };
            let permissions = permissions
                .split('+')
                .map(|permission| permission.parse::<Permission>())
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ApiKeyEntry {
                name: name.to_owned(),
                sha256: sha256.to_ascii_lowercase(),
                permissions,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses_and_secrets_do_not_print() {
        let settings: Settings = toml::from_str(
            r#"
            listen = "127.0.0.1:0"
            [nats]
            url = "nats://a:4222,nats://b:4222"
            user = "vetod"
            password = "hunter2"
            connect_timeout = "3s"
            [stream]
            replicas = 3
            [tokens]
            max_token_ttl = "1h"
            [api]
            publish_timeout = "500ms"
            [[auth.api_keys]]
            name = "ops"
            sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
            permissions = ["revoke", "read"]
            "#,
        )
        .unwrap();
        settings.validate().unwrap();
        assert_eq!(settings.stream.replicas, 3);
        assert_eq!(settings.api.publish_timeout, Duration::from_millis(500));
        assert_eq!(settings.tokens.max_token_ttl, Duration::from_secs(3600));
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("REDACTED"));
    }

    #[test]
    fn the_production_example_in_deploy_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/vetod/vetod.toml");
        let settings = Settings::from_file(&path).unwrap();
        settings.validate().unwrap();
        assert_eq!(settings.stream.replicas, 3);
        assert!(settings.signing.key_id.is_some());
        assert!(settings.auth.jwt.is_some() && settings.oauth.is_some());
        assert_eq!(settings.ui.secure_cookie, crate::ui::SecureCookie::Always);
    }

    #[test]
    fn unknown_settings_are_refused() {
        assert!(toml::from_str::<Settings>("lisen = \"127.0.0.1:1\"").is_err());
    }

    #[test]
    fn a_jwt_leeway_over_the_token_policys_is_refused() {
        let settings: Settings = toml::from_str(
            r#"
            [tokens]
            leeway = "20s"
            [oauth]
            issuers = ["https://idp.example"]
            audiences = ["orders"]
            jwks_url = "https://idp.example/jwks.json"
            "#,
        )
        .unwrap();
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("oauth.leeway"), "{error}");
    }

    #[test]
    fn api_keys_parse_from_one_line() {
        let hash = "ab".repeat(32);
        let keys = parse_api_keys(&format!("ops:{hash}:revoke+lift+read; audit:{hash}:read")).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].permissions, vec![Permission::Read]);
        assert!(parse_api_keys("ops:abc").is_err());
        assert!(parse_api_keys(&format!("ops:{hash}:delete")).is_err());
    }
}
