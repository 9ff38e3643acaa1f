//! Freshness ticks: one message on `veto.v1.tick` every interval. A client that applied a
//! tick has applied everything the stream acknowledged before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream;
use tracing::{debug, warn};
use veto_proto::{Event, Tick};

use crate::signer::EventSigner;

/// The unix time (ms) of the last acknowledged tick; 0 before the first.
#[derive(Debug, Default)]
pub struct TickHealth {
    last_acked_unix_ms: AtomicU64,
}

impl TickHealth {
    /// Whether a tick was acknowledged within `within`.
    pub fn recent(&self, within: Duration) -> bool {
        let last = self.last_acked_unix_ms.load(Ordering::Acquire);
        last != 0 && now_unix_ms().saturating_sub(last) <= within.as_millis() as u64
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis() as u64)
        .unwrap_or_default()
}

/// Publishes ticks until the task is aborted.
pub async fn run(
    js: jetstream::Context,
    daemon: String,
    interval: Duration,
    health: Arc<TickHealth>,
    signer: Option<Arc<EventSigner>>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        let at_unix_ms = now_unix_ms();
        let event = Event::Tick(Tick {
            daemon: daemon.clone(),
            at_unix_ms,
        });
        let (subject, payload) = (event.subject(), event.encode());
        let mut headers = async_nats::HeaderMap::new();
        if let Some(signer) = &signer {
            signer.sign_into(&subject, &payload, &mut headers);
        }
        let acked = tokio::time::timeout(interval.max(Duration::from_secs(1)), async {
            js.publish_with_headers(subject, headers, payload.into())
                .await?
                .await
        })
        .await;
        match acked {
            Ok(Ok(_)) => {
                health.last_acked_unix_ms.fetch_max(at_unix_ms, Ordering::AcqRel);
                if failing {
                    debug!("ticks acknowledged again");
                    failing = false;
                }
            }
            Ok(Err(error)) if !failing => {
                warn!(%error, "tick not acknowledged; clients will go stale if this lasts");
                failing = true;
            }
            Err(_) if !failing => {
                warn!("tick not acknowledged in time; clients will go stale if this lasts");
                failing = true;
            }
            _ => {}
        }
    }
}
