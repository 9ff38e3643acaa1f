//! `docs/protocol.md` is a contract for readers in other languages: its test vectors
//! must be what this crate encodes, signs and applies.

use std::collections::HashMap;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use veto_proto::{
    Applied, BloomReport, Event, Freshness, KeyState, KeyedEvent, Lift, PresenceReport, RevocationRule,
    RuleKind, UnixSeconds, VerificationKeys, signing_input,
};

const DOC: &str = include_str!("../../../docs/protocol.md");

/// The `name: value` lines of the document's block of `kind` (```kind).
fn block(kind: &str) -> HashMap<&'static str, &'static str> {
    let block = DOC
        .split(&format!("```{kind}\n"))
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("docs/protocol.md has a ```{kind} block"));
    block.lines().filter_map(|line| line.split_once(": ")).collect()
}

/// The `name: value` lines of the document's `vectors` block.
fn vectors() -> HashMap<&'static str, &'static str> {
    block("vectors")
}

#[test]
fn the_documented_presence_report_is_what_this_crate_writes_and_reads() {
    let example = block("presence");
    let report = PresenceReport {
        service: "orders".into(),
        instance: "orders-7d9f".into(),
        version: "0.1.0".into(),
        applied_sequence: 1234,
        freshness: Freshness::Fresh,
        tick_age_ms: Some(310),
        rules: 57,
        bloom: BloomReport {
            keys: 60,
            dead: 3,
            capacity: 65_536,
            bytes: 98_304,
        },
        heartbeat_ms: 5000,
        started_unix_ms: 1_900_000_000_000,
        report: 42,
    };
    assert_eq!(report.subject().expect("a subject"), example["subject"]);
    assert_eq!(
        String::from_utf8(report.encode()).expect("utf-8"),
        example["payload"]
    );
    assert_eq!(
        PresenceReport::decode_on(example["subject"], example["payload"].as_bytes()).expect("it decodes"),
        report
    );
    assert!(
        !example["subject"].starts_with("veto.v1."),
        "presence is outside the stream's veto.v1.>"
    );
}

#[test]
fn the_documented_vectors_are_what_this_crate_writes_and_verifies() {
    let vectors = vectors();
    let seed = URL_SAFE_NO_PAD.decode(vectors["seed"]).expect("seed");
    assert_eq!(seed, [7u8; 32]);
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("a seed");
    assert_eq!(
        URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        vectors["public_key"]
    );
    let keys = VerificationKeys::new()
        .with_key(vectors["key_id"], vectors["public_key"])
        .expect("the documented key");

    let rule = RevocationRule::jti(
        "7f1c2a9e-4b1d-4d8a-9a43-2f0d3c1e5b66",
        Some("https://idp.example"),
        UnixSeconds(1_900_000_060),
    )
    .revoked(
        UnixSeconds(1_900_000_000),
        Some("key:ops"),
        Some("leaked in a log"),
    );
    let event = Event::Rule(rule.clone());
    let payload = event.encode_replacing(41);
    assert_eq!(event.subject(), vectors["rule_subject"]);
    assert_eq!(
        String::from_utf8(payload.clone()).expect("utf-8"),
        vectors["rule_payload"]
    );
    let input = signing_input(&event.subject(), &payload);
    assert_eq!(hex::encode(&input), vectors["rule_signing_input_hex"]);
    assert_eq!(
        URL_SAFE_NO_PAD.encode(pair.sign(&input).as_ref()),
        vectors["rule_signature"]
    );
    keys.verify(
        vectors["rule_subject"],
        vectors["rule_payload"].as_bytes(),
        Some(vectors["key_id"]),
        Some(vectors["rule_signature"]),
    )
    .expect("the documented rule signature verifies");

    let lift = Event::Lift(Lift {
        kind: RuleKind::Jti,
        value: Some("7f1c2a9e-4b1d-4d8a-9a43-2f0d3c1e5b66".into()),
        iss: Some("https://idp.example".into()),
        reason: Some("false alarm".into()),
        lifted_by: Some("key:ops".into()),
        lifted_at: UnixSeconds(1_900_000_030),
        rule_expires_at: Some(UnixSeconds(1_900_000_060)),
    });
    let lift_payload = lift.encode_replacing(42);
    assert_eq!(
        String::from_utf8(lift_payload.clone()).expect("utf-8"),
        vectors["lift_payload"]
    );
    keys.verify(
        vectors["rule_subject"],
        vectors["lift_payload"].as_bytes(),
        Some(vectors["key_id"]),
        Some(vectors["lift_signature"]),
    )
    .expect("the documented lift signature verifies");
    assert!(
        keys.verify(
            vectors["rule_subject"],
            vectors["rule_payload"].as_bytes(),
            Some(vectors["key_id"]),
            Some(vectors["lift_signature"]),
        )
        .is_err(),
        "a signature covers its own payload only"
    );

    // Decoded and applied as the document says: held, lifted, the replay ignored.
    let (decoded, replaces) =
        Event::decode_placed(vectors["rule_subject"], vectors["rule_payload"].as_bytes())
            .expect("the documented rule decodes");
    assert_eq!(replaces, Some(41));
    let KeyedEvent::Rule(decoded, _) = decoded else {
        panic!("a rule");
    };
    assert_eq!(decoded, rule);
    let (held, applied) = KeyState::Absent.with_rule(rule.times());
    assert_eq!(applied, Applied::New);
    let (tombstone, applied) = held.with_lift(Some(UnixSeconds(1_900_000_060)));
    assert_eq!(applied, Applied::Lifted);
    assert_eq!(tombstone.with_rule(rule.times()).1, Applied::Replayed);
}
