//! Which claim a rule matches on: the four rule kinds and their wire names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which claim a rule matches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// One token, by its `jti`.
    Jti,
    /// Every token of a subject (`sub`) issued before a moment.
    Sub,
    /// Every token of a session (`sid`) issued before a moment.
    Sid,
    /// Every token issued before a moment (no value).
    All,
}

impl RuleKind {
    /// Every kind, in a fixed order (the order of the wire names).
    pub const EVERY: [RuleKind; 4] = [RuleKind::Jti, RuleKind::Sub, RuleKind::Sid, RuleKind::All];

    /// The wire name: `jti`, `sub`, `sid` or `all`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RuleKind::Jti => "jti",
            RuleKind::Sub => "sub",
            RuleKind::Sid => "sid",
            RuleKind::All => "all",
        }
    }

    /// Whether rules of this kind carry a value (all but `all`).
    pub const fn has_value(self) -> bool {
        !matches!(self, RuleKind::All)
    }

    /// Whether rules of this kind compare the token's `iat` with `issued_before`
    /// (all but `jti`, which names one token outright).
    pub const fn uses_issued_before(self) -> bool {
        !matches!(self, RuleKind::Jti)
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuleKind {
    type Err = UnknownKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        RuleKind::EVERY
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownKind {
                name: name.chars().take(32).collect(),
            })
    }
}

/// A kind name that is none of `jti`, `sub`, `sid`, `all`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule kind {name:?}: use jti, sub, sid or all")]
pub struct UnknownKind {
    /// The rejected name (cut to 32 characters).
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for kind in RuleKind::EVERY {
            assert_eq!(kind.as_str().parse::<RuleKind>().unwrap(), kind);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert_eq!("JTI".parse::<RuleKind>(), Err(UnknownKind { name: "JTI".into() }));
    }
}
