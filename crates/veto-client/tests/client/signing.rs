//! Signed events: a client with keys configured applies only events signed by a trusted
//! key, ignores and counts the rest, and loses nothing across a key rotation.

use std::future::IntoFuture;

use async_nats::HeaderMap;
use async_nats::jetstream::Context;
use veto_client::{ListConfig, TokenFacts, Verdict, VerificationKeys};
use veto_daemon::signer::EventSigner;
use veto_proto::{Event, RuleKind};

use crate::support::*;

async fn publish_signed(js: &Context, event: &Event, signer: Option<&EventSigner>) {
    let (subject, payload) = (event.subject(), event.encode());
    let mut headers = HeaderMap::new();
    if let Some(signer) = signer {
        signer.sign_into(&subject, &payload, &mut headers);
    }
    let ack = within(
        10,
        "publish",
        js.publish_with_headers(subject, headers, payload.into()),
    )
    .await
    .expect("sent");
    within(10, "ack", ack.into_future()).await.expect("acknowledged");
}

fn token(jti: &str) -> TokenFacts<'_> {
    TokenFacts {
        jti: Some(jti),
        ..TokenFacts::default()
    }
}

#[tokio::test]
async fn unsigned_and_forged_events_are_ignored_and_counted() {
    let (server, js) = server_with_stream().await;
    let trusted = EventSigner::from_seed("k1", &EventSigner::generate_seed()).expect("signer");
    let stranger = EventSigner::from_seed("k1", &EventSigner::generate_seed()).expect("same kid, other key");
    let unknown = EventSigner::from_seed("k9", &EventSigner::generate_seed()).expect("signer");
    let keys = VerificationKeys::new()
        .with_key("k1", &trusted.public_key())
        .expect("key");
    let list = ready_list(&server.url(), ListConfig::default().signed_by(keys)).await;

    publish_signed(&js, &Event::Rule(jti_rule("unsigned")), None).await;
    publish_signed(&js, &Event::Rule(jti_rule("forged")), Some(&stranger)).await;
    publish_signed(&js, &Event::Rule(jti_rule("unknown-key")), Some(&unknown)).await;
    publish_signed(&js, &Event::Rule(jti_rule("signed")), Some(&trusted)).await;

    wait_until(10, "the signed rule applies", || {
        list.check(&token("signed")) == Verdict::Revoked(RuleKind::Jti)
    })
    .await;
    wait_until(10, "three events rejected", || list.rejected_events() == 3).await;
    for ignored in ["unsigned", "forged", "unknown-key"] {
        assert_eq!(
            list.check(&token(ignored)),
            Verdict::Allowed,
            "{ignored} must be ignored"
        );
    }
    assert_eq!(list.stats().live(), 1);
}

#[tokio::test]
async fn a_key_rotation_with_two_keys_in_overlap_loses_no_event() {
    let (server, js) = server_with_stream().await;
    let old = EventSigner::from_seed("2026-05", &EventSigner::generate_seed()).expect("old key");
    let new = EventSigner::from_seed("2026-11", &EventSigner::generate_seed()).expect("new key");
    let both = VerificationKeys::new()
        .with_key(old.key_id(), &old.public_key())
        .and_then(|keys| keys.with_key(new.key_id(), &new.public_key()))
        .expect("keys");
    let list = ready_list(&server.url(), ListConfig::default().signed_by(both)).await;

    // Daemons switch keys one by one: for a while both keys sign.
    let values: Vec<String> = (0..200).map(|index| format!("rotation-{index}")).collect();
    for (index, value) in values.iter().enumerate() {
        let signer = if index < 80 || (index < 140 && index % 2 == 0) {
            &old
        } else {
            &new
        };
        publish_signed(&js, &Event::Rule(jti_rule(value)), Some(signer)).await;
    }
    wait_until(10, "every event applies", || {
        list.stats().live() == values.len() as u64
    })
    .await;
    assert!(
        values
            .iter()
            .all(|value| list.check(&token(value)) == Verdict::Revoked(RuleKind::Jti))
    );
    assert_eq!(list.rejected_events(), 0);
}
