//! Errors of the client library.

/// Why a [`crate::RevocationList`] could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The configuration is invalid.
    #[error("invalid veto client configuration: {0}")]
    Config(String),
}

/// Why the follower could not open the stream (logged and retried, never returned).
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("looking up stream: {0}")]
    GetStream(#[from] async_nats::jetstream::context::GetStreamError),
    #[error("reading stream info: {0}")]
    Info(#[from] async_nats::jetstream::stream::InfoError),
    #[error("creating the ordered consumer: {0}")]
    Consumer(#[from] async_nats::jetstream::stream::ConsumerError),
    #[error("subscribing to the ordered consumer: {0}")]
    Subscribe(#[from] async_nats::jetstream::consumer::StreamError),
}
