//! Deployment settings for token lifetimes, and the stream settings derived from them.

use std::time::Duration;

use crate::error::RuleError;
use crate::subject::STREAM_SUBJECTS;
use crate::time::UnixSeconds;

/// How long tokens live in this deployment, and how much clocks may disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenPolicy {
    /// The longest lifetime (`exp - iat`) any issuer gives a token. Default 24 h.
    pub max_token_ttl: Duration,
    /// Leeway granted when validating `exp`/`nbf`. Default 60 s.
    pub leeway: Duration,
    /// Added to "now" when a revocation names no `issued_before`, because the issuer's
    /// clock and the daemon's differ and `iat` has one-second resolution. Default 5 s.
    pub clock_skew: Duration,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        TokenPolicy {
            max_token_ttl: Duration::from_secs(24 * 60 * 60),
            leeway: Duration::from_secs(60),
            clock_skew: Duration::from_secs(5),
        }
    }
}

impl TokenPolicy {
    /// When a rule revoking tokens issued before `issued_before` can be forgotten:
    /// the last such token expires at `issued_before + max TTL`, validated with leeway.
    pub fn expiry_of_issued_before(&self, issued_before: UnixSeconds) -> UnixSeconds {
        issued_before
            .saturating_add(self.max_token_ttl)
            .saturating_add(self.leeway)
    }

    /// When a `jti` rule for a token expiring at `token_exp` can be forgotten.
    pub fn expiry_of_token(&self, token_exp: UnixSeconds) -> UnixSeconds {
        token_exp.saturating_add(self.leeway)
    }

    /// The latest `issued_before` accepted at `now`: now plus the leeway or the clock
    /// skew allowance, whichever is longer (the default `issued_before` is now plus the
    /// skew allowance, and must pass however small the leeway is set).
    pub fn latest_issued_before(&self, now: UnixSeconds) -> UnixSeconds {
        now.saturating_add(self.leeway.max(self.clock_skew))
    }

    /// The latest `expires_at` accepted for a `jti` rule at `now`.
    pub fn latest_jti_expiry(&self, now: UnixSeconds) -> UnixSeconds {
        self.expiry_of_token(now.saturating_add(self.max_token_ttl))
    }

    /// How long any message must stay in the stream: no rule outlives this after it
    /// was published.
    pub fn retention(&self) -> Duration {
        // A sub/sid/all rule expires at most `issued_before + ttl + leeway`, and
        // `issued_before <= now + leeway`; a jti rule at most `now + ttl + leeway`.
        self.max_token_ttl + self.leeway + self.leeway
    }
}

/// The JetStream stream that holds the list. Plain data: the daemon turns it into its
/// client library's stream config, and checks an existing stream against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSettings {
    /// Stream name (default [`StreamSettings::DEFAULT_NAME`]).
    pub name: String,
    /// Captured subjects: exactly [`STREAM_SUBJECTS`].
    pub subjects: Vec<String>,
    /// One message per subject: the latest state of each key.
    pub max_msgs_per_subject: i64,
    /// Messages older than this are dropped; at least max token TTL + leeway.
    pub max_age: Duration,
    /// Window in which a repeated `Nats-Msg-Id` is dropped as a duplicate (at least 2 min).
    pub duplicate_window: Duration,
    /// Replicas: 1 in development, 3 in production.
    pub replicas: usize,
}

impl StreamSettings {
    /// The default stream name.
    pub const DEFAULT_NAME: &'static str = "VETO";

    /// The shortest duplicate window veto accepts.
    pub const MIN_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

    /// The settings for a deployment's token policy.
    pub fn new(name: &str, policy: &TokenPolicy, replicas: usize) -> Result<StreamSettings, RuleError> {
        validate_stream_name(name)?;
        if !(1..=5).contains(&replicas) {
            return Err(RuleError::InvalidSetting {
                setting: "replicas",
                reason: "must be between 1 and 5",
            });
        }
        Ok(StreamSettings {
            name: name.to_owned(),
            subjects: STREAM_SUBJECTS
                .iter()
                .map(|subject| (*subject).to_owned())
                .collect(),
            max_msgs_per_subject: 1,
            max_age: policy.retention(),
            duplicate_window: StreamSettings::MIN_DUPLICATE_WINDOW,
            replicas,
        })
    }
}

/// JetStream stream names may not contain whitespace, `.`, `*`, `>`, or path separators.
fn validate_stream_name(name: &str) -> Result<(), RuleError> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(RuleError::InvalidSetting {
            setting: "stream name",
            reason: "use 1 to 255 ASCII letters, digits, '-' or '_'",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_settings_follow_the_design() {
        let policy = TokenPolicy::default();
        let settings = StreamSettings::new("VETO", &policy, 3).unwrap();
        assert_eq!(
            settings.subjects,
            vec!["veto.v1.rule.>".to_owned(), "veto.v1.tick".to_owned()]
        );
        assert_eq!(settings.max_msgs_per_subject, 1);
        assert!(settings.max_age >= policy.max_token_ttl + policy.leeway);
        assert!(settings.duplicate_window >= Duration::from_secs(120));
        assert_eq!(settings.replicas, 3);
    }

    #[test]
    fn bad_stream_settings_are_refused() {
        let policy = TokenPolicy::default();
        for name in ["", "a.b", "a*", "a>", "a b", "a/b"] {
            assert!(StreamSettings::new(name, &policy, 1).is_err(), "{name:?}");
        }
        assert!(StreamSettings::new("VETO", &policy, 0).is_err());
        assert!(StreamSettings::new("VETO", &policy, 7).is_err());
    }

    #[test]
    fn no_rule_outlives_the_stream_retention() {
        let policy = TokenPolicy::default();
        let now = UnixSeconds(1_800_000_000);
        let retained_until = now.saturating_add(policy.retention());
        assert!(policy.latest_jti_expiry(now) <= retained_until);
        assert!(policy.expiry_of_issued_before(policy.latest_issued_before(now)) <= retained_until);
    }
}
