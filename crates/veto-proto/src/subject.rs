//! NATS subject names.
//!
//! A rule lives on `veto.v1.rule.<kind>.<hex digest>`. Values never appear in subjects:
//! they may contain `.`, `*`, `>` or personal data. With one message kept per subject,
//! the stream holds the latest state of every key, so the stream *is* the list.

use crate::digest::KeyDigest;
use crate::kind::RuleKind;

/// Every subject the stream captures: rules (and lifts) and ticks. Nothing else under
/// `veto.v1.` is stored (live republishes, presence).
pub const STREAM_SUBJECTS: [&str; 2] = ["veto.v1.rule.>", "veto.v1.tick"];

/// The subjects veto's stream captured before it republished: an existing stream with
/// these is narrowed to [`STREAM_SUBJECTS`].
pub const FORMER_STREAM_SUBJECTS: &str = "veto.v1.>";

/// Where the stream republishes each stored message, with its stream sequence
/// (`Nats-Sequence`) and original subject (`Nats-Subject`), for core subscribers.
pub const LIVE_SUBJECTS: &str = "veto.v1.live.>";

/// The prefix of [`LIVE_SUBJECTS`].
pub const LIVE_SUBJECT_PREFIX: &str = "veto.v1.live.";

/// The prefix of every rule subject.
pub const RULE_SUBJECT_PREFIX: &str = "veto.v1.rule.";

/// The subject of the daemons' freshness ticks (one message kept).
pub const TICK_SUBJECT: &str = "veto.v1.tick";

/// The subject of the rule (or lift) for a key.
pub fn rule_subject(kind: RuleKind, digest: &KeyDigest) -> String {
    format!("{RULE_SUBJECT_PREFIX}{}.{digest}", kind.as_str())
}

/// The wildcard subject of every rule of one kind, for filtered consumers.
pub fn rule_subjects_of_kind(kind: RuleKind) -> String {
    format!("{RULE_SUBJECT_PREFIX}{}.*", kind.as_str())
}

/// The kind and digest named by a rule subject, or `None` for any other subject.
pub fn parse_rule_subject(subject: &str) -> Option<(RuleKind, KeyDigest)> {
    let rest = subject.strip_prefix(RULE_SUBJECT_PREFIX)?;
    let (kind, digest) = rest.split_once('.')?;
    Some((kind.parse().ok()?, digest.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed vectors: subjects are a contract with every deployed client.
    #[test]
    fn subjects_are_pinned() {
        let digest = KeyDigest::of(RuleKind::Sub, Some("https://idp.example"), Some("alice"));
        assert_eq!(
            rule_subject(RuleKind::Sub, &digest),
            "veto.v1.rule.sub.deb7f0ba8d2527819f70e415f0aa99e0"
        );
        assert_eq!(rule_subjects_of_kind(RuleKind::Jti), "veto.v1.rule.jti.*");
        assert_eq!(TICK_SUBJECT, "veto.v1.tick");
        assert_eq!(STREAM_SUBJECTS, ["veto.v1.rule.>", "veto.v1.tick"]);
        assert_eq!(LIVE_SUBJECTS, "veto.v1.live.>");
    }

    #[test]
    fn rule_subjects_parse_back() {
        for kind in RuleKind::EVERY {
            let digest = KeyDigest::of(kind, None, kind.has_value().then_some("v"));
            assert_eq!(
                parse_rule_subject(&rule_subject(kind, &digest)),
                Some((kind, digest))
            );
        }
        for other in [
            TICK_SUBJECT,
            "veto.v1.rule.",
            "veto.v1.rule.jti",
            "veto.v1.rule.xyz.00000000000000000000000000000000",
            "veto.v1.rule.jti.0000",
            "veto.v1.rule.jti.00000000000000000000000000000000.x",
        ] {
            assert_eq!(parse_rule_subject(other), None, "{other}");
        }
    }
}
