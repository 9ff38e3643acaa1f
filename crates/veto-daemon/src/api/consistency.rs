//! Read-your-writes: a `GET` may name the stream sequence of a write it made
//! (`?min_sequence=`, the `sequence` of a 201) and is answered once the daemon's
//! replica has applied it.
//!
//! A 201 means JetStream stored the write; the daemon's own replica (what `GET`
//! answers from, as services see it) applies it a moment later, so a read right after
//! its write could miss it. The wait is bounded: a replica that does not get there in
//! [`MAX_WAIT`] answers 503 `not_ready`, to retry. It waits on the index's applied
//! sequence ([`RuleIndex::wait_for`]), woken as the index applies.

use std::time::Duration;

use veto_api::ErrorCode;

use crate::error::ApiError;
use crate::index::RuleIndex;

/// The longest a read waits for its write.
pub const MAX_WAIT: Duration = Duration::from_secs(2);

/// Returns once `index` has applied `sequence`, or 503 after [`MAX_WAIT`].
pub async fn applied(index: &RuleIndex, sequence: u64) -> Result<(), ApiError> {
    if index.wait_for(sequence, MAX_WAIT).await {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::NotReady,
        format!(
            "this daemon has not applied sequence {sequence} yet (it has {}); retry",
            index.applied_sequence()
        ),
    )
    .retry_after(1))
}
