//! vetod's admin API as a contract, as `veto-proto` is the stream's: the request and
//! response types, every stable error code with its HTTP status, the routes and what
//! each can answer, and a typed client.
//!
//! The daemon answers with these types (and its OpenAPI document is generated from
//! them and from [`routes::ROUTES`]); the CLI, the end-to-end tests and the benchmarks
//! call the API through [`AdminClient`] (feature `client`). Nothing here is declared
//! a second time anywhere else.
//!
//! # Layout
//!
//! - [`error`]: [`ErrorCode`] (code ↔ status) and [`ErrorBody`].
//! - [`revocations`]: revoke, batch, lift, get, list, RFC 7009.
//! - [`status`]: health, readiness, and [`DaemonStatus`].
//! - [`fleet`]: `GET /v1/fleet` ([`FleetResponse`]), and what writes wait for
//!   ([`WaitQuery`]) and answer with ([`AppliedBy`]).
//! - [`idp`]: the identity-provider receivers' requests and spec-defined error bodies.
//! - [`instant`]: instants as the CLI and the console read and show them.
//! - [`routes`]: paths, headers, and [`routes::ROUTES`]: every operation with every
//!   status it can answer.
//! - `client` (feature `client`): [`AdminClient`].
//!
//! # Example
//!
//! ```
//! use veto_api::{ErrorCode, RevokeRequest};
//! use veto_proto::RuleKind;
//!
//! let request = RevokeRequest { reason: Some("leaked in a log".into()), ..RevokeRequest::new(RuleKind::Jti, Some("t-1")) };
//! let json = serde_json::to_value(&request).unwrap();
//! assert_eq!(json, serde_json::json!({"kind": "jti", "value": "t-1", "reason": "leaked in a log"}));
//! assert_eq!(ErrorCode::IssuedBeforeInFuture.status(), 422);
//! assert_eq!("contention".parse::<ErrorCode>(), Ok(ErrorCode::Contention));
//! ```

#[cfg(feature = "client")]
pub mod client;
pub mod error;
pub mod fleet;
pub mod idp;
pub mod instant;
pub mod revocations;
pub mod routes;
pub mod status;
pub mod stream;

#[cfg(feature = "client")]
pub use client::{AdminClient, AdminError, Reply, Revoked};
pub use error::{ErrorBody, ErrorCode};
pub use fleet::{
    AppliedBy, FleetResponse, InstanceState, InstanceView, Laggard, ServiceFleet, StateCounts, Wait,
    WaitQuery, WaitScope,
};
pub use idp::{LogoutErrorBody, LogoutTokenForm, SetErrorBody};
pub use revocations::{
    BatchItemResult, BatchRequest, BatchResponse, KeyQuery, LiftQuery, LiftResponse, ListQuery, ListResponse,
    RevokeRequest, RevokeTokenForm, RuleKey, RuleResponse,
};
pub use status::{DaemonStatus, Health, ListStatus, RulesByKind, StreamStatus};
pub use stream::{ChangesQuery, ChangesResponse, SnapshotWritten, StoredEvent};
