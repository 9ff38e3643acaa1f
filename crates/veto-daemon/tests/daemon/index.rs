//! The listing index pages one kind without walking the kinds before it, so a page of
//! `sub` rules after a hundred thousand `jti` rules holds the index's read lock (which
//! the replica's writer needs) for a few lookups, not for a walk.

use std::time::{Duration, Instant};

use veto_client::{Change, Observer};
use veto_daemon::index::RuleIndex;
use veto_proto::{RevocationRule, RuleKind, TokenPolicy, UnixSeconds};

/// The fastest of `runs` timings of `work`.
fn fastest(runs: usize, mut work: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

#[test]
fn a_page_of_a_later_kind_does_not_walk_the_earlier_ones() {
    let index = RuleIndex::new();
    let later = UnixSeconds::now().saturating_add(Duration::from_secs(3600));
    let mut sequence = 0;
    let mut observe = |rule: &RevocationRule| {
        sequence += 1;
        index.observe(&Change::Rule {
            rule,
            digest: rule.digest(),
            sequence,
        });
    };
    for n in 0..100_000 {
        observe(&RevocationRule::jti(&format!("t-{n}"), None, later));
    }
    let policy = TokenPolicy::default();
    for n in 0..5 {
        observe(&RevocationRule::sub_or_sid(
            RuleKind::Sub,
            &format!("u-{n}"),
            None,
            UnixSeconds::now(),
            &policy,
        ));
    }

    let mut page = Vec::new();
    let paging = fastest(5, || page = index.rules(Some(RuleKind::Sub), None, 10));
    assert_eq!(page.len(), 5);
    assert!(page.iter().all(|stored| stored.rule.kind == RuleKind::Sub));
    // What walking the jti rules costs, for comparison (read, not cloned).
    let walking = fastest(3, || {
        let mut cursor = None;
        loop {
            let chunk = index.rules(Some(RuleKind::Jti), cursor, 1000);
            match chunk.last() {
                Some(last) => cursor = Some((RuleKind::Jti, last.rule.digest())),
                None => break,
            }
        }
    });
    assert!(
        paging * 50 < walking,
        "a page of sub rules took {paging:?}; walking the jti rules takes {walking:?}"
    );
}
