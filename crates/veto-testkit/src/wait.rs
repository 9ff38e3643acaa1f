//! Bounded waits: every await in a test has a deadline, and says what it waited for
//! when the deadline passes.

use std::future::Future;
use std::time::Duration;

use crate::TestkitError;

/// Awaits `future` for at most `seconds`; panics naming `what` when it takes longer.
pub async fn within<T>(seconds: u64, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {seconds}s: {what}"))
}

/// Polls `condition` every [`POLL_INTERVAL`] until it holds; panics naming `what` after
/// `seconds`.
pub async fn until<F, Fut>(seconds: u64, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    within(seconds, what, async {
        while !condition().await {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    })
    .await;
}

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
