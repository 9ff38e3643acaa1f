//! Many rules, several clients: everyone ends up with the same list.

use std::time::Duration;

use veto_client::{ListConfig, RevocationList, TokenFacts, Verdict};
use veto_proto::{Event, RevocationRule, RuleKind, UnixSeconds};

use crate::support::*;

const RULES: usize = 10_000;

fn value(index: usize) -> String {
    format!("rule-{index:05}")
}

fn token(jti: &str) -> TokenFacts<'_> {
    TokenFacts {
        jti: Some(jti),
        sub: Some("someone"),
        iss: Some("https://idp.example"),
        iat: Some(UnixSeconds::now()),
        ..TokenFacts::default()
    }
}

fn verdict_of_every_rule(list: &RevocationList) -> Vec<Verdict> {
    (0..RULES)
        .map(|index| list.check(&token(&value(index))))
        .collect()
}

#[tokio::test]
async fn three_clients_agree_on_ten_thousand_rules_a_lift_and_an_expiry() {
    let (server, js) = server_with_stream().await;
    let _ticker = Ticker::start(js.clone());
    let mut lists = Vec::new();
    for _ in 0..3 {
        lists.push(ready_list(&server.url(), ListConfig::default()).await);
    }

    let events: Vec<Event> = (0..RULES)
        .map(|index| Event::Rule(jti_rule(&value(index))))
        .collect();
    within(60, "publish 10k rules", publish_all(&js, &events)).await;
    wait_until(30, "every client has every rule", || {
        lists
            .iter()
            .all(|list| list.stats().live_by_kind[0] == RULES as u64)
    })
    .await;
    let expected = vec![Verdict::Revoked(RuleKind::Jti); RULES];
    for list in &lists {
        assert_eq!(verdict_of_every_rule(list), expected);
        assert_eq!(list.check(&token("never-revoked")), Verdict::Allowed);
        assert!(list.is_ready() && !list.is_stale());
    }

    // A lift reaches everyone.
    publish_until_acked(&js, &Event::Lift(lift(RuleKind::Jti, &value(7))), 10).await;
    wait_until(10, "the lift reaches every client", || {
        lists
            .iter()
            .all(|list| list.check(&token(&value(7))) == Verdict::Allowed)
    })
    .await;
    for list in &lists {
        assert_eq!(list.stats().live_by_kind[0], RULES as u64 - 1);
        assert_eq!(list.check(&token(&value(8))), Verdict::Revoked(RuleKind::Jti));
    }

    // A rule that expires in two seconds: revoked, then forgotten by everyone.
    let short = RevocationRule::jti(
        "short-lived",
        None,
        UnixSeconds::now().saturating_add(Duration::from_secs(2)),
    );
    publish_until_acked(&js, &Event::Rule(short), 10).await;
    wait_until(5, "the short rule reaches every client", || {
        lists
            .iter()
            .all(|list| list.check(&token("short-lived")) == Verdict::Revoked(RuleKind::Jti))
    })
    .await;
    wait_until(10, "the short rule expires everywhere", || {
        lists
            .iter()
            .all(|list| list.check(&token("short-lived")) == Verdict::Allowed)
    })
    .await;
}

#[tokio::test]
async fn a_client_started_late_has_every_rule_when_ready() {
    let (server, js) = server_with_stream().await;
    let events: Vec<Event> = (0..RULES)
        .map(|index| Event::Rule(jti_rule(&value(index))))
        .collect();
    within(60, "publish 10k rules", publish_all(&js, &events)).await;
    publish_until_acked(&js, &Event::Lift(lift(RuleKind::Jti, &value(42))), 10).await;

    let client = within(10, "connect", async_nats::connect(server.url()))
        .await
        .expect("connect");
    let list = RevocationList::start(client, ListConfig::default()).expect("list starts");
    assert_eq!(
        list.check(&token(&value(0))),
        Verdict::NotReady,
        "not ready before bootstrap"
    );
    within(30, "list ready", list.ready()).await;

    // No waiting here: ready means everything that was in the stream is applied.
    let verdicts = verdict_of_every_rule(&list);
    for (index, verdict) in verdicts.iter().enumerate() {
        let expected = if index == 42 {
            Verdict::Allowed
        } else {
            Verdict::Revoked(RuleKind::Jti)
        };
        assert_eq!(*verdict, expected, "rule {index}");
    }
    assert_eq!(list.stats().live(), RULES as u64 - 1);
}

#[tokio::test]
async fn subject_session_and_all_rules_follow_issued_before() {
    let (server, js) = server_with_stream().await;
    // The daemon's listing index, kept from what the list applies.
    let index = std::sync::Arc::new(veto_daemon::index::RuleIndex::new());
    let list = ready_list(&server.url(), ListConfig::default().observed_by(index.clone())).await;
    let policy = veto_proto::TokenPolicy::default();
    let now = UnixSeconds::now();
    let rules = [
        RevocationRule::sub_or_sid(RuleKind::Sub, "alice", Some("https://a"), now, &policy),
        RevocationRule::sub_or_sid(RuleKind::Sid, "session-9", None, now, &policy),
        RevocationRule::all(Some("https://compromised"), now, &policy),
    ];
    for rule in &rules {
        publish_until_acked(&js, &Event::Rule(rule.clone()), 10).await;
    }
    wait_until(10, "three rules applied", || list.stats().live() == 3).await;

    let before = Some(UnixSeconds(now.0 - 60));
    let after = Some(UnixSeconds(now.0 + 1));
    let facts = |sub, sid, iss, iat| TokenFacts {
        jti: Some("j"),
        sub: Some(sub),
        sid: Some(sid),
        iss: Some(iss),
        iat,
    };
    let cases = [
        (
            facts("alice", "s", "https://a", before),
            Verdict::Revoked(RuleKind::Sub),
        ),
        (facts("alice", "s", "https://a", after), Verdict::Allowed),
        (facts("alice", "s", "https://b", before), Verdict::Allowed),
        (
            facts("bob", "session-9", "https://b", before),
            Verdict::Revoked(RuleKind::Sid),
        ),
        (facts("bob", "session-9", "https://b", after), Verdict::Allowed),
        (
            facts("bob", "s", "https://compromised", before),
            Verdict::Revoked(RuleKind::All),
        ),
        (facts("bob", "s", "https://compromised", after), Verdict::Allowed),
        (facts("bob", "s", "https://a", None), Verdict::Allowed),
        (
            facts("alice", "s", "https://a", None),
            Verdict::Revoked(RuleKind::Sub),
        ),
    ];
    for (token, expected) in cases {
        assert_eq!(list.check(&token), expected, "{token:?}");
    }
    // The daemon's view: full rules with their sequence, listable by kind.
    let stored = index
        .rule(RuleKind::Sub, Some("https://a"), Some("alice"))
        .expect("retained");
    assert_eq!(stored.rule, rules[0]);
    assert!(stored.sequence >= 1);
    let sids: Vec<_> = index
        .rules(Some(RuleKind::Sid), None, 10)
        .into_iter()
        .map(|stored| stored.rule)
        .collect();
    assert_eq!(sids, vec![rules[1].clone()]);
    assert_eq!(index.rules(None, None, 10).len(), 3);
}

#[tokio::test]
async fn lifting_most_rules_rebuilds_the_bloom_filter_and_keeps_the_rest() {
    let (server, js) = server_with_stream().await;
    let list = ready_list(&server.url(), ListConfig::default()).await;
    let events: Vec<Event> = (0..6_000)
        .map(|index| Event::Rule(jti_rule(&value(index))))
        .collect();
    within(60, "publish 6k rules", publish_all(&js, &events)).await;
    let lifts: Vec<Event> = (0..5_000)
        .map(|index| Event::Lift(lift(RuleKind::Jti, &value(index))))
        .collect();
    within(60, "publish 5k lifts", publish_all(&js, &lifts)).await;

    wait_until(30, "a rebuild after most keys died", || list.rebuilds() >= 1).await;
    wait_until(10, "the rebuilt replica holds the 1000 live rules", || {
        list.stats().live() == 1_000
    })
    .await;
    // The rebuild starts once dead keys outnumber live ones (after about 4,100 lifts);
    // lifts that arrive while it loads are dead in the new filter too, but the
    // thousands of keys dead before it started are gone.
    let stats = list.stats();
    assert!(
        stats.bloom_dead < 2_000,
        "the rebuilt filter dropped the dead keys: {stats:?}"
    );
    for index in 0..6_000 {
        let expected = if index < 5_000 {
            Verdict::Allowed
        } else {
            Verdict::Revoked(RuleKind::Jti)
        };
        assert_eq!(list.check(&token(&value(index))), expected, "rule {index}");
    }
}
