//! Errors of the client library.

/// Why a [`crate::RevocationList`] could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The configuration is invalid.
    #[error("invalid veto client configuration: {0}")]
    Config(String),
}
