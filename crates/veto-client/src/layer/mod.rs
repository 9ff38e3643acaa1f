//! A tower layer for axum services (feature `axum`): reads `Authorization: Bearer`,
//! validates the token with the [`Validator`](crate::jwt::Validator), checks revocation
//! with the [`RevocationList`](crate::RevocationList), and puts the
//! [`Claims`](crate::jwt::Claims) into the request's extensions.
//!
//! Failures answer 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750)
//! and no detail in the body; the reason is logged at debug with the `jti` (never the
//! token). A list that is not ready, or stale under fail-closed, answers 503.
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
