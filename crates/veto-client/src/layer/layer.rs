//! The layer.

use std::marker::PhantomData;

use tower::Layer;

use super::VetoAuth;
use crate::RevocationList;
use crate::jwt::{NoCustomClaims, Validator};

/// Wraps a service in [`VetoAuth`]. `C` is the service's own claims type, found in the
/// request extensions as `Claims<C>`.
pub struct VetoAuthLayer<C = NoCustomClaims> {
    validator: Validator,
    list: RevocationList,
    _claims: PhantomData<fn() -> C>,
}

impl VetoAuthLayer {
    /// Validates with `validator`, then checks revocation with `list`; handlers find
    /// `Claims` (registered claims only) in the request extensions.
    pub fn new(validator: Validator, list: RevocationList) -> Self {
        VetoAuthLayer::with_claims(validator, list)
    }
}

impl<C> VetoAuthLayer<C> {
    /// Like [`VetoAuthLayer::new`], with the service's own claims: handlers find
    /// `Claims<C>` in the request extensions.
    pub fn with_claims(validator: Validator, list: RevocationList) -> Self {
        VetoAuthLayer {
            validator,
            list,
            _claims: PhantomData,
        }
    }
}

impl<C> Clone for VetoAuthLayer<C> {
    fn clone(&self) -> Self {
        VetoAuthLayer::with_claims(self.validator.clone(), self.list.clone())
    }
}

impl<C> std::fmt::Debug for VetoAuthLayer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VetoAuthLayer").finish_non_exhaustive()
    }
}

impl<S, C> Layer<S> for VetoAuthLayer<C> {
    type Service = VetoAuth<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        VetoAuth::new(inner, self.validator.clone(), self.list.clone())
    }
}
