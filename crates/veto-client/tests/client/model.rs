//! A property test: for random sequences of revoke, lift (naming the held rule, or a
//! replayed one naming another) and expiry, the replica's check agrees with the naive
//! model (veto-proto's key history and rule semantics applied to every key) on random
//! queries: no false Revoked, no missed Revoked.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use veto_client::TokenFacts;
use veto_client::replica::Replica;
use veto_proto::{KeyDigest, KeyState, Lift, RevocationRule, RuleKind, TokenPolicy, UnixSeconds};

const VALUES: [&str; 3] = ["a", "b", "c.d*>"];
const ISSUERS: [Option<&str>; 3] = [None, Some("https://one"), Some("https://two")];

#[derive(Clone, Debug)]
enum Operation {
    Revoke {
        kind: RuleKind,
        value: usize,
        iss: usize,
        issued_before_offset: i64,
        already_expired: bool,
    },
    Lift {
        kind: RuleKind,
        value: usize,
        iss: usize,
        /// Names the held rule (a lift the daemon writes), or not (one replayed).
        names_held: bool,
    },
    Sweep,
}

#[derive(Clone, Debug)]
struct Query {
    jti: Option<usize>,
    sub: Option<usize>,
    sid: Option<usize>,
    iss: usize,
    iat_offset: Option<i64>,
}

fn kind() -> impl Strategy<Value = RuleKind> {
    prop::sample::select(RuleKind::EVERY.to_vec())
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        6 => (kind(), 0..VALUES.len(), 0..ISSUERS.len(), prop::sample::select(vec![-300i64, -10, 0, 30]), prop::bool::weighted(0.2))
            .prop_map(|(kind, value, iss, issued_before_offset, already_expired)| Operation::Revoke {
                kind, value, iss, issued_before_offset, already_expired
            }),
        2 => (kind(), 0..VALUES.len(), 0..ISSUERS.len(), prop::bool::weighted(0.8))
            .prop_map(|(kind, value, iss, names_held)| Operation::Lift { kind, value, iss, names_held }),
        1 => Just(Operation::Sweep),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    let claim = || prop::option::weighted(0.8, 0..VALUES.len());
    (
        claim(),
        claim(),
        claim(),
        0..ISSUERS.len(),
        prop::option::weighted(0.9, prop::sample::select(vec![-400i64, -50, -10, -1, 0, 29, 100])),
    )
        .prop_map(|(jti, sub, sid, iss, iat_offset)| Query {
            jti,
            sub,
            sid,
            iss,
            iat_offset,
        })
}

fn rule_for(
    kind: RuleKind,
    value: usize,
    iss: usize,
    issued_before_offset: i64,
    already_expired: bool,
    now: UnixSeconds,
) -> RevocationRule {
    let policy = TokenPolicy::default();
    let value = kind.has_value().then(|| VALUES[value]);
    let iss = ISSUERS[iss];
    let mut rule = match kind {
        RuleKind::Jti => RevocationRule::jti(
            value.unwrap_or_default(),
            iss,
            now.saturating_add(Duration::from_secs(3600)),
        ),
        RuleKind::All => RevocationRule::all(iss, UnixSeconds(now.0 + issued_before_offset), &policy),
        _ => RevocationRule::sub_or_sid(
            kind,
            value.unwrap_or_default(),
            iss,
            UnixSeconds(now.0 + issued_before_offset),
            &policy,
        ),
    };
    if already_expired {
        rule.expires_at = UnixSeconds(now.0 - 100);
        if rule.issued_before.is_some() {
            rule.issued_before = Some(UnixSeconds(now.0 - 200));
        }
    }
    rule
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn check_agrees_with_the_naive_model(
        operations in prop::collection::vec(operation(), 0..40),
        queries in prop::collection::vec(query(), 1..40),
    ) {
        let now = UnixSeconds::now();
        let replica = Replica::new(0);
        // The model: each key's rule (kind, value, scope) and its state by the history
        // rules, applied to full rules.
        let mut model: HashMap<KeyDigest, (RevocationRule, KeyState)> = HashMap::new();
        for operation in &operations {
            match *operation {
                Operation::Revoke { kind, value, iss, issued_before_offset, already_expired } => {
                    let rule = rule_for(kind, value, iss, issued_before_offset, already_expired, now);
                    replica.apply_rule(&rule);
                    let state = model.get(&rule.digest()).map_or(KeyState::Absent, |(_, state)| *state);
                    let (state, _) = state.at(UnixSeconds::now()).with_rule(rule.times());
                    model.insert(rule.digest(), (rule, state));
                }
                Operation::Lift { kind, value, iss, names_held } => {
                    let mut lift = Lift {
                        kind,
                        value: kind.has_value().then(|| VALUES[value].to_owned()),
                        iss: ISSUERS[iss].map(str::to_owned),
                        reason: None,
                        lifted_by: None,
                        lifted_at: now,
                        rule_expires_at: None,
                    };
                    let entry = model.get(&lift.digest()).cloned();
                    let state = entry.as_ref().map_or(KeyState::Absent, |(_, state)| state.at(UnixSeconds::now()));
                    lift.rule_expires_at = match (state, names_held) {
                        (KeyState::Held(times), true) => Some(times.expires_at),
                        (_, true) => None,
                        // An old lift: it names a rule that is not the held one.
                        (_, false) => Some(UnixSeconds(now.0 - 7)),
                    };
                    replica.apply_lift(&lift);
                    let (state, _) = state.with_lift(lift.rule_expires_at);
                    if let Some((rule, _)) = entry {
                        model.insert(lift.digest(), (rule, state));
                    }
                }
                Operation::Sweep => {
                    replica.sweep_expired(UnixSeconds::now());
                    let now = UnixSeconds::now();
                    model.retain(|_, (_, state)| state.at(now) != KeyState::Absent);
                }
            }
        }
        // The live rules of the model, each with its held times.
        let now = UnixSeconds::now();
        let model: HashMap<KeyDigest, RevocationRule> = model
            .into_iter()
            .filter_map(|(digest, (rule, state))| match state.at(now) {
                KeyState::Held(times) => Some((digest, RevocationRule {
                    issued_before: times.issued_before,
                    expires_at: times.expires_at,
                    ..rule
                })),
                _ => None,
            })
            .collect();
        prop_assert_eq!(replica.stats().live(), model.len() as u64, "live rules");
        for query in &queries {
            let token = TokenFacts {
                jti: query.jti.map(|index| VALUES[index]),
                sub: query.sub.map(|index| VALUES[index]),
                sid: query.sid.map(|index| VALUES[index]),
                iss: ISSUERS[query.iss],
                iat: query.iat_offset.map(|offset| UnixSeconds(now.0 + offset)),
            };
            let matching: Vec<RuleKind> = model
                .values()
                .filter(|rule| rule.matches(&token, UnixSeconds::now()))
                .map(|rule| rule.kind)
                .collect();
            match replica.lookup(&token) {
                None => prop_assert!(matching.is_empty(), "missed a revocation: {:?} matches {:?}", token, matching),
                Some(kind) => prop_assert!(matching.contains(&kind), "false {:?} for {:?}; model: {:?}", kind, token, matching),
            }
        }
    }
}
