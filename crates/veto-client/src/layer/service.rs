//! The service.

use std::marker::PhantomData;
use std::task::{Context, Poll};

use axum::http::Request;
use axum::response::Response;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use tower::Service;
use tracing::debug;

use super::{AuthRejection, ResponseFuture};
use crate::jwt::bearer::{self, BearerError};
use crate::jwt::{Claims, Validator};
use crate::{RevocationList, Verdict};

/// Validates the bearer token, checks revocation, and passes the request on with
/// `Claims<C>` in its extensions; otherwise answers with an [`AuthRejection`].
pub struct VetoAuth<S, C> {
    inner: S,
    validator: Validator,
    list: RevocationList,
    _claims: PhantomData<fn() -> C>,
}

impl<S, C> VetoAuth<S, C> {
    /// Wraps `inner`.
    pub fn new(inner: S, validator: Validator, list: RevocationList) -> Self {
        VetoAuth {
            inner,
            validator,
            list,
            _claims: PhantomData,
        }
    }
}

impl<S: Clone, C> Clone for VetoAuth<S, C> {
    fn clone(&self) -> Self {
        VetoAuth::new(self.inner.clone(), self.validator.clone(), self.list.clone())
    }
}

impl<S, C> std::fmt::Debug for VetoAuth<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VetoAuth").finish_non_exhaustive()
    }
}

/// The bearer token of a request, or why there is none.
fn bearer_token<B>(request: &Request<B>) -> Result<String, AuthRejection> {
    bearer::from_headers(request.headers()).map_err(|error| match error {
        BearerError::Missing | BearerError::OtherScheme => AuthRejection::MissingToken,
        BearerError::Duplicate => AuthRejection::DuplicateHeader,
        BearerError::Malformed => AuthRejection::MalformedHeader,
    })
}

/// Validation, then revocation.
async fn authorize<C: DeserializeOwned>(
    validator: Validator,
    list: RevocationList,
    token: Result<String, AuthRejection>,
) -> Result<Claims<C>, AuthRejection> {
    let claims = validator.validate::<C>(&token?).await?;
    match list.check(&claims.facts()) {
        Verdict::Allowed => Ok(claims),
        Verdict::Revoked(kind) => {
            debug!(jti = claims.jti.as_deref(), %kind, "refused a revoked token");
            Err(AuthRejection::Revoked(kind))
        }
        Verdict::NotReady => Err(AuthRejection::NotReady),
        Verdict::Stale => Err(AuthRejection::Stale),
    }
}

impl<S, B, C> Service<Request<B>> for VetoAuth<S, C>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, B, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this request (tower's rule for
        // services that call inner from a future); a fresh clone stays for the next one.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        let token = bearer_token(&request);
        let check = authorize::<C>(self.validator.clone(), self.list.clone(), token).boxed();
        ResponseFuture::new(check, inner, request)
    }
}
