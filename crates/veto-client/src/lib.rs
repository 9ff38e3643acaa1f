//! The library services embed: veto's whole revocation list in memory, followed live
//! from the NATS JetStream stream, checked in nanoseconds.
//!
//! Start a [`RevocationList`] from an `async_nats::Client`; it loads the stream's
//! latest state per key with an ordered consumer, then follows it live. Once
//! [`RevocationList::ready`] resolves, [`RevocationList::check`] answers from memory:
//! a split-block bloom filter lets the common "not revoked" answer skip everything
//! else; the exact set (128-bit BLAKE3 digests) decides, so a check never answers
//! Revoked wrongly. Call it after the token's signature was verified.
//!
//! Freshness comes from the daemons' ticks (one a second): a list that applied no tick
//! for longer than [`ListConfig::max_staleness`] is stale, and [`StalePolicy`] decides
//! whether checks then fail open (default: answer, count, warn) or closed.
//!
//! # Layout
//!
//! Data flows one way: [`follower`] → [`replica`] → [`list`]'s `check()`.
//!
//! - [`list`]: the handle, [`RevocationList`].
//! - [`config`]: [`ListConfig`], [`StalePolicy`], [`EventTrust`].
//! - [`verdict`]: the [`Verdict`] a check answers.
//! - [`replica`]: one in-memory copy: bloom filter, exact sets, `all` rules; its read
//!   path (`replica/check.rs`) and its writer's side (`replica/write.rs`).
//! - [`bloom`]: the lock-free split-block bloom filter.
//! - [`exact`]: the compact concurrent exact set.
//! - [`follower`]: the task that loads, follows, fills gaps, sweeps and rebuilds.
//! - [`direct`]: reading the stream without a consumer (direct gets);
//!   [`snapshots`]: finding and reading the newest snapshot.
//! - `shared`: the state the handle, the follower and the watcher share.
//! - `watcher`: turns tick age into the stale bit; exports metrics.
//! - [`presence`]: with [`ListConfig::reporting_as`], reports who this instance is and
//!   what it has applied, on core NATS (advisory: it changes no check).
//! - [`observer`]: the hook a daemon keeps its listing index with.
//! - [`metrics`]: metric names.
//! - `jwt` (feature `jwt`): the validator and its key sources.
//! - `layer` (feature `axum`): the tower layer for axum services.
//!
//! Event signatures are verified with [`veto_proto::VerificationKeys`]; signing is the
//! daemon's. Creating the stream is the daemon's too: this crate only reads.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use veto_client::{ListConfig, RevocationList, TokenFacts, Verdict};
//! use veto_proto::{Event, RevocationRule, RuleKind, StreamSettings, TokenPolicy, UnixSeconds};
//!
//! // A real nats-server (the test kit's), and the stream as the daemon creates it.
//! let nats = veto_testkit::NatsServer::start().await?;
//! let client = async_nats::connect(nats.url()).await?;
//! let js = async_nats::jetstream::new(client.clone());
//! let settings = StreamSettings::new("VETO", &TokenPolicy::default(), 1)?;
//! veto_daemon::nats::ensure_stream(&js, &settings).await?;
//!
//! // What the daemon publishes when token "t-1" is revoked.
//! let rule = Event::Rule(RevocationRule::jti("t-1", None, UnixSeconds::now().saturating_add(Duration::from_secs(600))));
//! js.publish(rule.subject(), rule.encode().into()).await?.await?;
//!
//! // What a service does.
//! let list = RevocationList::start(client, ListConfig::default())?;
//! tokio::time::timeout(Duration::from_secs(10), list.ready()).await?;
//! let token = TokenFacts { jti: Some("t-1"), sub: Some("alice"), ..TokenFacts::default() };
//! assert_eq!(list.check(&token), Verdict::Revoked(RuleKind::Jti));
//! let other = TokenFacts { jti: Some("t-2"), ..token };
//! assert_eq!(list.check(&other), Verdict::Allowed);
//! # Ok(()) }
//! ```

mod apply;
pub mod bloom;
pub mod config;
mod counters;
pub mod direct;
pub mod error;
pub mod exact;
pub mod follower;
#[cfg(feature = "jwt")]
pub mod jwt;
#[cfg(feature = "axum")]
pub mod layer;
pub mod list;
pub mod metrics;
pub mod observer;
pub mod presence;
pub mod replica;
mod shared;
pub mod snapshots;
pub mod verdict;
mod watcher;

/// The repository README's Rust example, compiled as a doc-test so that it cannot rot
/// (its shell examples are run by a test of `veto-cli`).
#[cfg(all(doctest, feature = "jwt"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExamples;

pub use config::{Bootstrap, EventTrust, ListConfig, PresenceIdentity, StalePolicy};
pub use error::ClientError;
pub use list::RevocationList;
pub use observer::{Change, Observer};
pub use verdict::Verdict;
pub use veto_proto::{TokenFacts, VerificationKeys};
