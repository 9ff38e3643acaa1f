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

/// The document's split-block bloom filter, implemented from its text: the words a
/// filter of `blocks` blocks sets for `key`.
fn documented_bits(key: u64, blocks: usize) -> (usize, [u32; 8]) {
    const SALT: [u32; 8] = [
        0x47b6_137b,
        0x4497_4d91,
        0x8824_ad5b,
        0xa2b7_289d,
        0x7054_95c7,
        0x2df1_424b,
        0x9efc_4947,
        0x5c6b_fb31,
    ];
    let block = (((key >> 32) * blocks as u64) >> 32) as usize;
    let low = key as u32;
    (block, SALT.map(|salt| 1u32 << (low.wrapping_mul(salt) >> 27)))
}

#[test]
fn the_documented_snapshot_is_what_this_crate_writes_and_verifies() {
    use veto_proto::snapshot::{BloomWords, SnapshotEntry, ValueSection, bloom_key};
    use veto_proto::{KeyDigest, Snapshot};

    let vectors = vectors();
    let seed = URL_SAFE_NO_PAD.decode(vectors["seed"]).expect("seed");
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("a seed");
    let keys = VerificationKeys::new()
        .with_key(vectors["key_id"], vectors["public_key"])
        .expect("the documented key");
    let value = "7f1c2a9e-4b1d-4d8a-9a43-2f0d3c1e5b66";
    let rule = RevocationRule::jti(value, Some("https://idp.example"), UnixSeconds(1_900_000_060));

    // The seed of a jti key, as documented, and the one block it sets.
    let key = xxhash_rust::xxh3::xxh3_64_with_seed(value.as_bytes(), 0x6a74_6900);
    assert_eq!(key, bloom_key(RuleKind::Jti, value));
    let (block, bits) = documented_bits(key, 1);
    assert_eq!(block, 0);
    let one_block = |words: [u32; 8]| BloomWords {
        capacity: 1,
        words: words.to_vec(),
    };
    let mut snapshot = Snapshot {
        stream: "VETO".into(),
        stream_created_unix_ns: 1_800_000_000_000_000_000,
        sequence: 42,
        created_at_unix_ms: 1_900_000_000_000,
        daemon: "vector-daemon".into(),
        ..Snapshot::default()
    };
    snapshot.values[0] = ValueSection {
        scoped_seen: true,
        unscoped_seen: false,
        bloom: one_block(bits),
        entries: vec![SnapshotEntry {
            digest: rule.digest().0,
            issued_before: 0,
            expires_at: 1_900_000_060,
        }],
    };
    snapshot.values[1].bloom = one_block([0; 8]);
    snapshot.values[2].bloom = one_block([0; 8]);
    snapshot.tombstones = vec![(KeyDigest::of(RuleKind::Sub, None, Some("alice")).0, 1_900_003_600)];

    let signed = snapshot.encode_signed(vectors["key_id"], |body| {
        pair.sign(body).as_ref().try_into().expect("64 bytes")
    });
    let documented = DOC
        .split("```snapshot-vector\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .and_then(|block| block.trim().strip_prefix("snapshot_hex: "))
        .expect("docs/protocol.md has a ```snapshot-vector block");
    assert_eq!(hex::encode(&signed), documented, "the documented snapshot bytes");

    let bytes = hex::decode(documented).expect("hex");
    let decoded = Snapshot::decode_verified(&bytes, &keys).expect("the documented snapshot verifies");
    assert_eq!(decoded, snapshot);
    // The trailer, read from the end as documented.
    let signature = &bytes[bytes.len() - 64..];
    let id_length = usize::from(bytes[bytes.len() - 65]);
    let id_start = bytes.len() - 65 - id_length;
    assert_eq!(&bytes[id_start..bytes.len() - 65], vectors["key_id"].as_bytes());
    let mut input = b"veto.v1.snapshot-signature\0".to_vec();
    input.extend_from_slice(&bytes[..id_start]);
    assert_eq!(
        pair.sign(&input).as_ref(),
        signature,
        "over the domain tag and the body"
    );
    let mut tampered = bytes.clone();
    tampered[20] ^= 1;
    assert!(Snapshot::decode_verified(&tampered, &keys).is_err());
    // The filter says "maybe" for the value, and (at one block) "no" for most others.
    let probe = |value: &str| {
        let (_, bits) = documented_bits(bloom_key(RuleKind::Jti, value), 1);
        decoded.values[0]
            .bloom
            .words
            .iter()
            .zip(bits)
            .all(|(word, bit)| word & bit != 0)
    };
    assert!(probe(value));
    assert!((0..100).filter(|index| probe(&format!("other-{index}"))).count() < 10);
}
