//! 10. An attacker on the bus. The development config lets anyone publish; the daemon
//!     signs and its services trust only its key. While operators revoke, lift and
//!     revoke again, the attacker publishes unsigned rules and lifts, rules and lifts
//!     signed by its own key, garbage that erases rules from the stream, and replays of
//!     the daemon's own signed lifts captured off the bus. At the end every
//!     acknowledged revocation is in force on every client (and on one started after
//!     the attack, from what the stream then holds), every acknowledged lift too, and
//!     nothing the attacker invented revokes anything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use futures_util::StreamExt;
use veto_api::{RevokeRequest, RuleKey};
use veto_client::{ListConfig, RevocationList, Verdict};
use veto_daemon::signer::EventSigner;
use veto_e2e::*;
use veto_proto::{Event, KEY_ID_HEADER, Lift, RevocationRule, RuleKind, SIGNATURE_HEADER, UnixSeconds};
use veto_testkit::{NatsServer, TestSigningKey};

const KEYS: usize = 200;
const CLIENTS: usize = 6;

/// What the operators asked for last, per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Last {
    Revoked,
    Lifted,
}

fn in_minutes(minutes: u64) -> UnixSeconds {
    UnixSeconds::now().saturating_add(Duration::from_secs(minutes * 60))
}

#[tokio::test]
async fn an_attacker_on_the_bus_undoes_and_blocks_nothing() {
    let nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server");
    let key = TestSigningKey::new("daemon-key");
    let daemon = daemon_with(&nats.url(), 1, |settings| key.apply(settings)).await;
    let config = ListConfig::default().signed_by(key.verification_keys());
    let clients = start_clients(&nats.url(), CLIENTS, config.clone()).await;
    let writer = Writer::new(&daemon.url);

    // The attacker: publish rights on everything, its own signing key, and ears.
    let attacker = within(10, "attacker connects", async_nats::connect(nats.url()))
        .await
        .expect("connect");
    let stranger = EventSigner::from_seed("daemon-key", &EventSigner::generate_seed()).expect("a key");
    let captured: Arc<Mutex<Vec<async_nats::Message>>> = Arc::default();
    let mut tap = within(10, "tap", attacker.subscribe("veto.v1.rule.>"))
        .await
        .expect("subscribe");
    let tapped = Arc::clone(&captured);
    let daemon_keys = key.verification_keys();
    let tap_task = tokio::spawn(async move {
        while let Some(message) = tap.next().await {
            let header = |name: &str| {
                message
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get(name))
                    .map(|value| value.as_str().to_owned())
            };
            let genuine = daemon_keys
                .verify(
                    &message.subject,
                    &message.payload,
                    header(KEY_ID_HEADER).as_deref(),
                    header(SIGNATURE_HEADER).as_deref(),
                )
                .is_ok();
            // The daemon's own signed lifts, to replay later.
            if genuine && message.payload.windows(7).any(|window| window == b"\"lift\":") {
                tapped.lock().expect("lock").push(message);
            }
        }
    });
    let published = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let attack = {
        let (attacker, captured, published) =
            (attacker.clone(), Arc::clone(&captured), Arc::clone(&published));
        tokio::spawn(async move {
            for round in 0usize.. {
                let target = format!("key-{}", round % KEYS);
                let rule = RevocationRule::jti(&target, None, in_minutes(30));
                let invented = RevocationRule::jti(&format!("invented-{round}"), None, in_minutes(30));
                let lift = Lift {
                    kind: RuleKind::Jti,
                    value: Some(target.clone()),
                    iss: None,
                    reason: None,
                    lifted_by: Some("attacker".into()),
                    lifted_at: UnixSeconds::now(),
                    rule_expires_at: Some(rule.expires_at),
                };
                let (subject, invented_subject) = (rule.subject(), invented.subject());
                let mut forged_headers = HeaderMap::new();
                let forged_lift = Event::Lift(lift.clone()).encode_replacing(0);
                stranger.sign_into(&subject, &forged_lift, &mut forged_headers);
                let moves: Vec<(String, HeaderMap, Vec<u8>)> = vec![
                    // Unsigned: an invented revocation, and a lift of a real one.
                    (
                        invented_subject.clone(),
                        HeaderMap::new(),
                        Event::Rule(invented).encode(),
                    ),
                    (subject.clone(), HeaderMap::new(), Event::Lift(lift).encode()),
                    // Signed by a key nobody trusts, under the daemon's key id.
                    (subject.clone(), forged_headers, forged_lift),
                    // Erasure.
                    (subject.clone(), HeaderMap::new(), b"{\"v\":1}".to_vec()),
                ];
                for (subject, headers, payload) in moves {
                    let _ = attacker
                        .publish_with_headers(subject, headers, payload.into())
                        .await;
                    published.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                // A replay of one of the daemon's own lifts, captured earlier.
                let replay = {
                    let captured = captured.lock().expect("lock");
                    (!captured.is_empty()).then(|| captured[round % captured.len()].clone())
                };
                if let Some(message) = replay {
                    let mut headers = HeaderMap::new();
                    for name in [KEY_ID_HEADER, SIGNATURE_HEADER] {
                        if let Some(value) = message.headers.as_ref().and_then(|headers| headers.get(name)) {
                            headers.insert(name, value.as_str());
                        }
                    }
                    let _ = attacker
                        .publish_with_headers(message.subject.to_string(), headers, message.payload.clone())
                        .await;
                    published.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // The operators: revoke every key, lift a third, revoke half of those again.
    let mut last: HashMap<String, Last> = HashMap::new();
    let patience = Duration::from_secs(20);
    let revoke = |value: String| {
        let writer = writer.clone();
        async move {
            let request = RevokeRequest::new(RuleKind::Jti, Some(&value));
            matches!(writer.revoke(&request, patience).await, Written::Acknowledged(_)).then_some(value)
        }
    };
    let values: Vec<String> = (0..KEYS).map(|index| format!("key-{index}")).collect();
    let revoked = futures_util::stream::iter(values.clone())
        .map(revoke)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    for value in revoked.into_iter().flatten() {
        last.insert(value, Last::Revoked);
    }
    for value in values.iter().step_by(3) {
        match writer
            .lift(&RuleKey::new(RuleKind::Jti, Some(value)), patience)
            .await
        {
            Written::Acknowledged(_) => {
                last.insert(value.clone(), Last::Lifted);
            }
            other => panic!("lifting {value}: {other:?}"),
        }
    }
    for value in values.iter().step_by(6) {
        assert!(revoke(value.clone()).await.is_some(), "revoking {value} again");
        last.insert(value.clone(), Last::Revoked);
    }
    // Keep attacking for a while after the last write, replays included.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    attack.abort();
    tap_task.abort();

    let revoked: Vec<String> = last
        .iter()
        .filter(|(_, last)| **last == Last::Revoked)
        .map(|(value, _)| value.clone())
        .collect();
    let lifted: Vec<String> = last
        .iter()
        .filter(|(_, last)| **last == Last::Lifted)
        .map(|(value, _)| value.clone())
        .collect();
    let started = Instant::now();
    let late = start_clients(&nats.url(), 1, config).await;
    let everyone: Vec<RevocationList> = clients.into_iter().chain(late).collect();
    let settled = |list: &RevocationList| {
        revoked
            .iter()
            .all(|value| matches!(list.check(&jti_token(value)), Verdict::Revoked(_)))
            && lifted
                .iter()
                .all(|value| list.check(&jti_token(value)) == Verdict::Allowed)
    };
    within(30, "every client agrees with the operators", async {
        while !everyone.iter().all(settled) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let convergence = started.elapsed();
    for list in &everyone {
        for round in 0..200 {
            assert_eq!(
                list.check(&jti_token(&format!("invented-{round}"))),
                Verdict::Allowed,
                "an unsigned rule revoked something"
            );
        }
        assert!(list.rejected_events() > 0 || list.replayed_events() > 0);
    }
    println!(
        "e2e report | 10 attacker on the bus      | attacker publishes {}, replaying {} signed lifts of the daemon",
        published.load(std::sync::atomic::Ordering::Relaxed),
        captured.lock().expect("lock").len()
    );
    Report {
        scenario: "10 attacker on the bus",
        acknowledged: revoked.len(),
        found_per_client: found_per_client(&everyone, &revoked),
        worst_convergence: convergence,
    }
    .print_and_check();
}
