//! What a check answers.

use std::fmt;

use veto_proto::RuleKind;

/// The answer of [`crate::RevocationList::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// No live rule matches the token.
    Allowed,
    /// A live rule of this kind matches the token: refuse it.
    Revoked(RuleKind),
    /// The list has not yet applied everything that was in the stream when it
    /// started: the service cannot know. Treat as 503.
    NotReady,
    /// The list is stale and the policy is [`crate::StalePolicy::FailClosed`]. Treat as 503.
    Stale,
}

impl Verdict {
    /// Whether the token may be served.
    pub fn is_allowed(self) -> bool {
        self == Verdict::Allowed
    }

    /// The verdict's name, as in metrics labels: `allowed`, `revoked`, `not_ready`, `stale`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Revoked(_) => "revoked",
            Verdict::NotReady => "not_ready",
            Verdict::Stale => "stale",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Revoked(kind) => write!(f, "revoked ({kind})"),
            other => f.write_str(other.as_str()),
        }
    }
}
