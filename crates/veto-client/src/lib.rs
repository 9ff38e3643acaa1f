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
//! - [`list`]: the handle, [`RevocationList`].
//! - [`config`]: [`ListConfig`], [`StalePolicy`].
//! - [`verdict`]: the [`Verdict`] a check answers.
//! - [`replica`]: one in-memory copy: bloom filter, exact sets, `all` rules.
//! - [`bloom`]: the lock-free split-block bloom filter.
//! - [`exact`]: the compact concurrent exact set.
//! - [`follower`]: the task that bootstraps, follows, sweeps and rebuilds.
//! - `watcher`: turns tick age into the stale bit; exports metrics.
//! - [`signing`]: Ed25519 event signatures (daemon side and client side).
//! - [`metrics`]: metric names. [`stream`]: the JetStream config for the stream.
//! - `jwt` (feature `jwt`): the validator and its key sources.
//! - `layer` (feature `axum`): the tower layer for axum services.
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
//! // A real nats-server (the test kit's), and the stream as the daemon would create it.
//! let nats = veto_testkit::NatsServer::start().await?;
//! let client = async_nats::connect(nats.url()).await?;
//! let js = async_nats::jetstream::new(client.clone());
//! let settings = StreamSettings::new("VETO", &TokenPolicy::default(), 1)?;
//! js.create_stream(veto_client::stream::jetstream_config(&settings)).await?;
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

pub mod bloom;
pub mod config;
mod counters;
pub mod error;
pub mod exact;
pub mod follower;
#[cfg(feature = "jwt")]
pub mod jwt;
#[cfg(feature = "axum")]
pub mod layer;
pub mod list;
pub mod metrics;
pub mod replica;
pub mod signing;
pub mod stream;
pub mod verdict;
mod watcher;

pub use config::{EventTrust, ListConfig, StalePolicy};
pub use error::ClientError;
pub use list::RevocationList;
pub use verdict::Verdict;
pub use veto_proto::rule::TokenFacts;
