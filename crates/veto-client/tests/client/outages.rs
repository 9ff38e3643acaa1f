//! NATS restarts and cut-off clients: no rule is missed, staleness is noticed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use veto_client::{ListConfig, StalePolicy, TokenFacts, Verdict};
use veto_proto::{Event, RuleKind};
use veto_testkit::TcpProxy;

use crate::support::*;

fn token(jti: &str) -> TokenFacts<'_> {
    TokenFacts {
        jti: Some(jti),
        ..TokenFacts::default()
    }
}

#[tokio::test]
async fn nats_restarts_and_a_kill_while_publishing_lose_no_rule() {
    let (mut server, js) = server_with_stream().await;
    let list = ready_list(&server.url(), ListConfig::default()).await;

    // A writer publishes until told to stop, each rule retried until acknowledged.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (js, acknowledged, stop) = (js.clone(), Arc::clone(&acknowledged), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                let index = acknowledged.load(Ordering::Acquire);
                publish_until_acked(&js, &Event::Rule(jti_rule(&format!("r-{index}"))), 60).await;
                acknowledged.fetch_add(1, Ordering::AcqRel);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut during_restarts = Vec::new();
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let before = acknowledged.load(Ordering::Acquire);
        if round == 1 {
            // kill -9: no shutdown at all.
            server.kill().expect("kill -9");
            within(30, "start again", server.start_again())
                .await
                .expect("nats back");
        } else {
            within(30, "restart", server.restart())
                .await
                .expect("nats restarts");
        }
        during_restarts.push(before);
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    stop.store(true, Ordering::Release);
    within(120, "publisher finishes", publisher)
        .await
        .expect("publisher task");
    let rules = acknowledged.load(Ordering::Acquire);
    during_restarts.push(rules);
    assert!(
        during_restarts.windows(2).all(|pair| pair[0] < pair[1]),
        "the writer made progress between every restart: {during_restarts:?}"
    );

    wait_until(30, "the client has every acknowledged rule", || {
        list.stats().live() == rules as u64
    })
    .await;
    for index in 0..rules {
        assert_eq!(
            list.check(&token(&format!("r-{index}"))),
            Verdict::Revoked(RuleKind::Jti),
            "rule {index}"
        );
    }
    // Exactly the published set: the stream holds one message per rule, no duplicates.
    let mut stream = within(10, "stream", js.get_stream("VETO")).await.expect("stream");
    let state = within(10, "info", stream.info())
        .await
        .expect("info")
        .state
        .clone();
    assert_eq!(state.messages, rules as u64);
}

#[tokio::test]
async fn a_cut_off_client_goes_stale_fails_closed_and_catches_up() {
    let (server, js) = server_with_stream().await;
    let ticker = Ticker::start(js.clone());
    let target = format!("127.0.0.1:{}", server.port()).parse().expect("address");
    let proxy = within(5, "proxy", TcpProxy::start(target))
        .await
        .expect("proxy starts");
    let config = ListConfig::default().max_staleness(Duration::from_secs(1));
    let closed = ready_list(&proxy.url(), config.clone().stale_policy(StalePolicy::FailClosed)).await;
    let open = ready_list(&proxy.url(), config).await;
    wait_until(10, "fresh", || !closed.is_stale() && !open.is_stale()).await;
    assert_eq!(closed.check(&token("t")), Verdict::Allowed);
    let fresh_at = closed.freshness().expect("a tick was applied");

    proxy.cut();
    wait_until(10, "stale after max_staleness", || {
        closed.is_stale() && open.is_stale()
    })
    .await;
    assert_eq!(closed.check(&token("t")), Verdict::Stale, "fail-closed rejects");
    assert_eq!(
        open.check(&token("t")),
        Verdict::Allowed,
        "fail-open answers from the list"
    );

    // Revoked while the clients were cut off.
    publish_until_acked(&js, &Event::Rule(jti_rule("revoked-during-cut")), 10).await;
    assert_eq!(
        open.check(&token("revoked-during-cut")),
        Verdict::Allowed,
        "not seen yet"
    );

    proxy.restore();
    wait_until(30, "fresh again and caught up", || {
        !closed.is_stale() && closed.check(&token("revoked-during-cut")) == Verdict::Revoked(RuleKind::Jti)
    })
    .await;
    wait_until(30, "the fail-open client caught up too", || {
        open.check(&token("revoked-during-cut")) == Verdict::Revoked(RuleKind::Jti)
    })
    .await;
    assert!(closed.freshness().expect("fresh") > fresh_at);
    drop(ticker);
}

#[tokio::test]
async fn a_client_started_while_nats_is_down_becomes_ready_when_it_is_back() {
    let (mut server, js) = server_with_stream().await;
    publish_until_acked(&js, &Event::Rule(jti_rule("before")), 10).await;
    let client = within(10, "connect", server.connect()).await.expect("connect");
    within(10, "stop", server.stop()).await.expect("stop");
    let list = veto_client::RevocationList::start(client, ListConfig::default()).expect("starts");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(list.check(&token("before")), Verdict::NotReady);
    within(30, "start again", server.start_again())
        .await
        .expect("nats back");
    within(30, "ready once NATS is back", list.ready()).await;
    assert_eq!(list.check(&token("before")), Verdict::Revoked(RuleKind::Jti));
}
