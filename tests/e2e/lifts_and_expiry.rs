//! 7. Lifts and expiry under load: a client never answers Revoked for a lifted or
//!    expired rule once it has applied it, and never Allowed for a live one.
//!
//! "Applied" is read from the client's freshness: a daemon tick stamped after an
//! operation was acknowledged sits after it in the stream, so a client whose freshness
//! is past the acknowledgement has applied the operation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use veto_api::{RevokeRequest, RuleKey};
use veto_client::{ListConfig, RevocationList, Verdict};
use veto_e2e::*;
use veto_proto::{RuleKind, UnixSeconds};
use veto_testkit::NatsServer;

const KEYS: usize = 30;
const OPERATIONS: usize = 300;

#[derive(Debug, Clone, Copy)]
enum Expected {
    /// Revoked until this unix time (seconds).
    RevokedUntil(i64),
    Lifted,
}

#[derive(Debug, Clone, Copy)]
struct LastOperation {
    expected: Expected,
    /// When the API acknowledged it; `None` while in flight.
    acknowledged_at: Option<SystemTime>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs() as i64)
        .unwrap_or_default()
}

/// Checks every key whose last operation a client has certainly applied; returns how
/// many verdicts were checked. Holding the model lock keeps new operations from starting.
fn check_applied(clients: &[RevocationList], model: &Mutex<HashMap<String, LastOperation>>) -> usize {
    let model = model.lock().expect("lock");
    let mut checked = 0;
    for list in clients {
        let Some(fresh_until) = list.freshness() else {
            continue;
        };
        for (key, operation) in model.iter() {
            let Some(acknowledged_at) = operation.acknowledged_at else {
                continue;
            };
            if acknowledged_at >= fresh_until {
                continue; // not certainly applied yet
            }
            let verdict = list.check(&jti_token(key));
            let now = unix_now();
            match operation.expected {
                Expected::Lifted => assert_eq!(verdict, Verdict::Allowed, "{key} was lifted"),
                Expected::RevokedUntil(until) if now < until - 1 => {
                    assert!(
                        matches!(verdict, Verdict::Revoked(_)),
                        "{key} is live until {until}, got {verdict:?}"
                    )
                }
                Expected::RevokedUntil(until) if now > until + 1 => {
                    assert_eq!(verdict, Verdict::Allowed, "{key} expired at {until}")
                }
                Expected::RevokedUntil(_) => continue, // within a second of expiring
            }
            checked += 1;
        }
    }
    checked
}

#[tokio::test]
async fn lifts_and_expiries_under_load_are_never_misreported() {
    let nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server");
    // One second of leeway, so that short-lived rules really expire during the test.
    let daemon = daemon_with(&nats.url(), 1, |settings| {
        settings.tokens.leeway = Duration::from_secs(1)
    })
    .await;
    let clients = start_clients(&nats.url(), 3, ListConfig::default()).await;
    let writer = Writer::new(&daemon.url);
    let model = Arc::new(Mutex::new(HashMap::<String, LastOperation>::new()));

    let checker = {
        let (clients, model) = (clients.clone(), Arc::clone(&model));
        tokio::spawn(async move {
            let mut checked = 0;
            loop {
                checked += check_applied(&clients, &model);
                tokio::time::sleep(Duration::from_millis(20)).await;
                if checked > 1_000_000 {
                    return checked;
                }
            }
        })
    };

    let mut seed: u64 = 0x5eed;
    let mut next_random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut live: HashMap<String, bool> = HashMap::new();
    for _ in 0..OPERATIONS {
        let key = format!("churn-{}", next_random() % KEYS as u64);
        let is_live = live.get(&key).copied().unwrap_or(false);
        let lift = is_live && next_random() % 3 == 0;
        let short_lived = next_random() % 4 == 0;
        // exp + 1 s leeway: a short-lived rule expires about 3 s after it is written.
        let exp = unix_now() + if short_lived { 2 } else { 3600 };
        let expected = if lift {
            Expected::Lifted
        } else {
            Expected::RevokedUntil(exp + 1)
        };
        model.lock().expect("lock").insert(
            key.clone(),
            LastOperation {
                expected,
                acknowledged_at: None,
            },
        );
        let patience = Duration::from_secs(10);
        let expected = if lift {
            match writer
                .lift(&RuleKey::new(RuleKind::Jti, Some(&key)), patience)
                .await
            {
                Written::Acknowledged(_) => Expected::Lifted,
                // Lifting a rule that expired meanwhile: nothing live to lift.
                Written::Rejected(404, _) => Expected::Lifted,
                other => panic!("lifting {key} failed: {other:?}"),
            }
        } else {
            let request = RevokeRequest {
                exp: Some(UnixSeconds(exp)),
                ..RevokeRequest::new(RuleKind::Jti, Some(&key))
            };
            match writer.revoke(&request, patience).await {
                // A revocation merged with a longer-lived rule keeps the later expiry.
                Written::Acknowledged(stored) => Expected::RevokedUntil(stored.rule.expires_at.0),
                other => panic!("revoking {key} failed: {other:?}"),
            }
        };
        live.insert(key.clone(), matches!(expected, Expected::RevokedUntil(_)));
        model.lock().expect("lock").insert(
            key,
            LastOperation {
                expected,
                acknowledged_at: Some(SystemTime::now()),
            },
        );
    }
    // Let the short-lived rules expire and the last operations be applied everywhere.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let final_checks = check_applied(&clients, &model);
    checker.abort();
    assert!(
        final_checks >= KEYS,
        "the final check covered every key in every client ({final_checks})"
    );

    let live_keys: Vec<String> = {
        let model = model.lock().expect("lock");
        model
            .iter()
            .filter(|(_, operation)| matches!(operation.expected, Expected::RevokedUntil(until) if until > unix_now() + 1))
            .map(|(key, _)| key.clone())
            .collect()
    };
    let (found, took) = converge(&clients, &live_keys, Duration::from_secs(10)).await;
    Report {
        scenario: "7 lifts and expiry under load",
        acknowledged: live_keys.len(),
        found_per_client: found,
        worst_convergence: took,
    }
    .print_and_check();
}
