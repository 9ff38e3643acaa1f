//! Repairing the stream. Signatures decide what readers apply, but they cannot stop an
//! erasure: the stream keeps one message per subject, so any publish on a rule's subject
//! (garbage, unsigned, forged, or an old signed event replayed) replaces the rule
//! there. Running services keep their copy; a service started afterwards, a restarted
//! daemon and every bloom rebuild would not. The daemon holds every verified rule, so
//! when the latest message on a key's subject is not its own valid event, it publishes
//! the key's state again (compare-and-set on the bad message's sequence), counts it
//! (`veto_repairs_total`), and writes an audit line. NATS permissions are the first
//! defence; this is the last.

use std::sync::Arc;

use tracing::{info, warn};

use crate::index::RuleIndex;
use crate::metrics::names;
use crate::publisher::Publisher;

/// How long a repair that could not be published waits before it is tried again.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Repairs every key the index queues, until aborted.
pub async fn run(index: Arc<RuleIndex>, publisher: Publisher) {
    loop {
        let mut failed = Vec::new();
        for (kind, digest) in index.next_repairs().await {
            match publisher.repair(kind, digest).await {
                Ok(Some((what, sequence))) => {
                    metrics::counter!(names::REPAIRS_TOTAL, "what" => what).increment(1);
                    info!(target: "veto::audit", action = "repair", kind = %kind, digest = %digest, sequence, what,
                          "the latest message on the subject was not the daemon's; published the key's state again");
                }
                Ok(None) => {}
                Err(error) => {
                    warn!(%error, kind = %kind, digest = %digest, "repair not published; retrying in a second");
                    failed.push((kind, digest));
                }
            }
        }
        if !failed.is_empty() {
            tokio::time::sleep(RETRY_AFTER).await;
            for key in failed {
                index.queue_repair(key);
            }
        }
    }
}
