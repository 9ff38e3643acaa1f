//! Bounded polling: every wait in a test has a deadline.

use std::future::Future;
use std::time::Duration;

use crate::TestkitError;

/// How often [`eventually`] polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Polls `attempt` until it returns `Some`, or fails after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut attempt: F) -> Result<T, TestkitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        // An attempt that hangs must not stretch the wait past its deadline.
        if let Ok(Some(value)) = tokio::time::timeout(remaining, attempt()).await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TestkitError::Timeout {
                what: what.to_owned(),
                timeout,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
