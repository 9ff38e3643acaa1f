//! Helpers: a server with the veto stream, publishing events as the daemon would, and
//! bounded waits.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, Context};
use veto_client::{ListConfig, RevocationList};
use veto_proto::{Event, Lift, RevocationRule, RuleKind, StreamSettings, Tick, TokenPolicy, UnixSeconds};
use veto_testkit::NatsServer;

pub use veto_testkit::within;

/// Polls `condition` until it holds, for up to `seconds` (the test kit's bounded poll).
pub async fn wait_until(seconds: u64, what: &str, mut condition: impl FnMut() -> bool) {
    veto_testkit::until(seconds, what, || std::future::ready(condition())).await;
}

/// A server with the veto stream (R1), as the daemon creates it.
pub async fn server_with_stream() -> (NatsServer, Context) {
    let server = within(30, "nats-server start", NatsServer::start())
        .await
        .expect("nats-server starts");
    let js = stream_context(&server).await;
    (server, js)
}

pub async fn stream_context(server: &NatsServer) -> Context {
    let client = within(10, "connect", server.connect()).await.expect("connect");
    let js = jetstream::new(client);
    let settings = StreamSettings::new("VETO", &TokenPolicy::default(), 1).expect("settings");
    within(
        10,
        "create stream",
        veto_daemon::nats::ensure_stream(&js, &settings),
    )
    .await
    .expect("stream created");
    js
}

/// A list following `server`, ready.
pub async fn ready_list(url: &str, config: ListConfig) -> RevocationList {
    let client = within(10, "connect", async_nats::connect(url))
        .await
        .expect("connect");
    let list = RevocationList::start(client, config).expect("list starts");
    within(30, "list ready", list.ready()).await;
    list
}

pub fn in_minutes(minutes: u64) -> UnixSeconds {
    UnixSeconds::now().saturating_add(Duration::from_secs(minutes * 60))
}

/// When every `jti_rule` of this test process expires: one instant, so that `lift`
/// can name the rule it lifts.
pub fn jti_expiry() -> UnixSeconds {
    static EXPIRY: std::sync::OnceLock<UnixSeconds> = std::sync::OnceLock::new();
    *EXPIRY.get_or_init(|| in_minutes(30))
}

pub fn jti_rule(value: &str) -> RevocationRule {
    RevocationRule::jti(value, None, jti_expiry()).revoked(UnixSeconds::now(), Some("test"), None)
}

/// The lift of the `jti_rule` of `value`, as the daemon writes it (naming the rule).
pub fn lift(kind: RuleKind, value: &str) -> Lift {
    Lift {
        kind,
        value: Some(value.to_owned()),
        iss: None,
        reason: None,
        lifted_by: Some("test".into()),
        lifted_at: UnixSeconds::now(),
        rule_expires_at: Some(jti_expiry()),
    }
}

/// Publishes an event with `Nats-Msg-Id` and waits for the ack, retrying until acked
/// (same id, so a retry after a lost ack is stored once). Bounded by `seconds`.
pub async fn publish_until_acked(js: &Context, event: &Event, seconds: u64) -> u64 {
    let payload = event.encode();
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", Event::msg_id(&payload).as_str());
    within(seconds, "publish acknowledged", async {
        loop {
            let attempt = async {
                let ack = js
                    .publish_with_headers(event.subject(), headers.clone(), payload.clone().into())
                    .await
                    .ok()?;
                tokio::time::timeout(Duration::from_millis(500), ack.into_future())
                    .await
                    .ok()?
                    .ok()
            };
            if let Some(ack) = attempt.await {
                return ack.sequence;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// Publishes many events, pipelined (all sends, then all acks), failing on any error.
pub async fn publish_all(js: &Context, events: &[Event]) {
    for chunk in events.chunks(500) {
        let mut acks = Vec::with_capacity(chunk.len());
        for event in chunk {
            let ack = within(10, "publish", js.publish(event.subject(), event.encode().into()))
                .await
                .expect("publish sent");
            acks.push(ack);
        }
        for ack in acks {
            within(10, "ack", ack.into_future())
                .await
                .expect("publish acknowledged");
        }
    }
}

/// Publishes a daemon tick every 200 ms until dropped, as a daemon would every second.
pub struct Ticker(tokio::task::JoinHandle<()>);

impl Ticker {
    pub fn start(js: Context) -> Ticker {
        let js = Arc::new(js);
        Ticker(tokio::spawn(async move {
            loop {
                let at_unix_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|since| since.as_millis() as u64)
                    .unwrap_or_default();
                let tick = Event::Tick(Tick {
                    daemon: "test".into(),
                    at_unix_ms,
                });
                if let Ok(ack) = js.publish(tick.subject(), tick.encode().into()).await {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ack.into_future()).await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}
