//! Presence reports, as a daemon (here: a plain subscriber) receives them: none without
//! `reporting_as`; one at start, one per heartbeat while nothing changes, one within
//! milliseconds of a new sequence, a burst coalesced; bad names refused at start.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use veto_client::{ClientError, ListConfig, RevocationList};
use veto_proto::{Event, Freshness, PRESENCE_SUBJECTS, PresenceReport};

use crate::support::*;

/// Every report received on `subscriber` within `window`, with when it arrived.
async fn reports_within(
    subscriber: &mut async_nats::Subscriber,
    window: Duration,
) -> Vec<(Instant, PresenceReport)> {
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, subscriber.next()).await {
        let report = PresenceReport::decode_on(message.subject.as_str(), &message.payload)
            .expect("a valid presence report");
        received.push((Instant::now(), report));
    }
    received
}

/// The next report on `subscriber` that `accept` takes, within `seconds`.
async fn next_report(
    subscriber: &mut async_nats::Subscriber,
    seconds: u64,
    what: &str,
    accept: impl Fn(&PresenceReport) -> bool,
) -> (Instant, PresenceReport) {
    within(seconds, what, async {
        loop {
            let message = subscriber.next().await.expect("the subscription is open");
            let report = PresenceReport::decode_on(message.subject.as_str(), &message.payload)
                .expect("a valid presence report");
            if accept(&report) {
                return (Instant::now(), report);
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_list_not_reporting_publishes_nothing() {
    let (server, js) = server_with_stream().await;
    let watcher = within(10, "connect", server.connect()).await.expect("connect");
    let mut presence = within(10, "subscribe", watcher.subscribe(PRESENCE_SUBJECTS))
        .await
        .expect("subscribed");
    within(5, "flush", watcher.flush()).await.expect("flushed");
    let _list = ready_list(&server.url(), ListConfig::default()).await;
    publish_until_acked(&js, &Event::Rule(jti_rule("t-1")), 10).await;
    assert!(
        reports_within(&mut presence, Duration::from_secs(1))
            .await
            .is_empty(),
        "a list without reporting_as reports nothing"
    );
}

#[tokio::test]
async fn a_reporting_list_reports_at_start_on_its_heartbeat_and_at_once_on_a_new_sequence() {
    let (server, js) = server_with_stream().await;
    let ticker = Ticker::start(js.clone());
    let watcher = within(10, "connect", server.connect()).await.expect("connect");
    let mut presence = within(
        10,
        "subscribe",
        watcher.subscribe("veto.presence.v1.orders.orders-1"),
    )
    .await
    .expect("subscribed");
    within(5, "flush", watcher.flush()).await.expect("flushed");
    let heartbeat = Duration::from_millis(400);
    let config = ListConfig::default()
        .reporting_as("orders", "orders-1")
        .presence_heartbeat(heartbeat);
    let list = ready_list(&server.url(), config).await;

    let (_, first) = next_report(&mut presence, 5, "the first report", |_| true).await;
    assert_eq!(
        (first.service.as_str(), first.instance.as_str()),
        ("orders", "orders-1")
    );
    assert_eq!(first.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(first.heartbeat_ms, 400);
    assert_eq!(first.report, 1);
    let (_, fresh) = next_report(&mut presence, 5, "fresh, once ticks apply", |report| {
        report.freshness == Freshness::Fresh
    })
    .await;
    assert!(fresh.tick_age_ms.is_some());
    assert_eq!(fresh.started_unix_ms, first.started_unix_ms);

    // A new rule: reported within milliseconds, with the sequence that stored it.
    let sent = Instant::now();
    let sequence = publish_until_acked(&js, &Event::Rule(jti_rule("t-1")), 10).await;
    let (arrived, report) = next_report(&mut presence, 5, "the rule's report", |report| {
        report.applied_sequence >= sequence
    })
    .await;
    assert!(
        arrived.duration_since(sent) < Duration::from_millis(500),
        "reported {:?} after the publish",
        arrived.duration_since(sent)
    );
    assert_eq!(report.rules, 1);
    assert!(report.bloom.keys >= 1 && report.bloom.capacity > 0 && report.bloom.bytes > 0);
    assert_eq!(list.stats().live(), 1);

    // A burst of events is a few reports, not one per event; the last names the last.
    let burst: Vec<Event> = (0..200)
        .map(|n| Event::Rule(jti_rule(&format!("burst-{n}"))))
        .collect();
    publish_all(&js, &burst).await;
    let last = publish_until_acked(&js, &Event::Rule(jti_rule("burst-last")), 10).await;
    let (_, caught_up) = next_report(&mut presence, 10, "the burst's last sequence", |report| {
        report.applied_sequence >= last
    })
    .await;
    assert_eq!(caught_up.rules, 202);
    assert!(
        caught_up.report - report.report < 100,
        "{} reports for 201 events",
        caught_up.report - report.report
    );

    // No change but ticks every 200 ms: ticks are sequences too, so reports keep
    // coming; with none, the heartbeat alone (checked on a quiet list below).
    drop(ticker);
    let quiet = reports_within(&mut presence, Duration::from_millis(2100)).await;
    let count = quiet.len();
    assert!(
        (3..=8).contains(&count),
        "{count} reports in 2.1 s on a 400 ms heartbeat"
    );
    for pair in quiet.windows(2) {
        assert!(pair[1].1.is_newer_than(&pair[0].1), "reports are ordered");
    }
}

#[tokio::test]
async fn bad_names_and_heartbeats_are_refused_at_start() {
    let (server, _js) = server_with_stream().await;
    let client = within(10, "connect", server.connect()).await.expect("connect");
    for config in [
        ListConfig::default().reporting_as("orders.eu", "i-1"),
        ListConfig::default().reporting_as("orders", "host.example.com"),
        ListConfig::default().reporting_as("", "i-1"),
        ListConfig::default().reporting_as("orders", "*"),
        ListConfig::default()
            .reporting_as("orders", "i-1")
            .presence_heartbeat(Duration::from_millis(10)),
    ] {
        let started = RevocationList::start(client.clone(), config.clone());
        assert!(
            matches!(started, Err(ClientError::Config(_))),
            "{:?} must be refused",
            config.presence
        );
    }
    // A heartbeat alone, without reporting_as, reports nothing and is not checked.
    assert!(RevocationList::start(client, ListConfig::default().presence_heartbeat(Duration::ZERO)).is_ok());
}
