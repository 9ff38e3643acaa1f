//! A tower layer for axum services (feature `axum`): reads `Authorization: Bearer`,
//! validates the token with the [`Validator`](crate::jwt::Validator), checks revocation
//! with the [`RevocationList`](crate::RevocationList), and puts the
//! [`Claims`](crate::jwt::Claims) into the request's extensions.
//!
//! Failures follow RFC 6750 §3.1, with no detail in the body: no bearer credentials
//! answer 401 with a bare `WWW-Authenticate: Bearer`; a malformed or repeated
//! `Authorization` header 400 with `Bearer error="invalid_request"`; a token that fails
//! validation or is revoked 401 with `Bearer error="invalid_token"`. The reason is
//! logged at debug with the `jti` (never the token). A list that is not ready, stale
//! under fail-closed, or a token whose key cannot be fetched (the JWKS endpoint is down
//! and its `kid` is not cached) answers 503: the service's failure, not the token's.
//!
//! Shaped as tower's own middleware: [`VetoAuthLayer`] (layer), [`VetoAuth`] (service),
//! [`ResponseFuture`] (future), [`AuthRejection`] (error), each in its own file.
//!
//! ```no_run
//! # async fn example(validator: veto_client::jwt::Validator, list: veto_client::RevocationList) {
//! use axum::{Extension, Router, routing::get};
//! use veto_client::jwt::Claims;
//! use veto_client::layer::VetoAuthLayer;
//!
//! async fn hello(Extension(claims): Extension<Claims>) -> String {
//!     format!("hello {}", claims.sub.unwrap_or_default())
//! }
//! let app: Router = Router::new()
//!     .route("/hello", get(hello))
//!     .layer(VetoAuthLayer::new(validator, list));
//! # }
//! ```

mod error;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use error::AuthRejection;
pub use future::ResponseFuture;
pub use layer::VetoAuthLayer;
pub use service::VetoAuth;
