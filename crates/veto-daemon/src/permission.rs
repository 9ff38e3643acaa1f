//! What a principal may do, and an API key as configured: the leaf that settings and
//! authentication both read.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// What a principal may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Revoke (and read).
    Revoke,
    /// Lift revocations (and read).
    Lift,
    /// Get and list rules.
    Read,
}

impl Permission {
    /// The permission's name in settings and messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::Revoke => "revoke",
            Permission::Lift => "lift",
            Permission::Read => "read",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "revoke" => Ok(Permission::Revoke),
            "lift" => Ok(Permission::Lift),
            "read" => Ok(Permission::Read),
            other => anyhow::bail!("unknown permission {other:?}: use revoke, lift or read"),
        }
    }
}

/// An API key as configured: its SHA-256 (hex), never the key. Its `Debug` leaves the
/// hash out too: the hash of a short or guessable key is a dictionary attack away from
/// the key, so it stays out of logs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    /// The principal's name, used in audit lines and rate limits.
    pub name: String,
    /// SHA-256 of the key, lower-case hex.
    pub sha256: String,
    /// What the key may do.
    pub permissions: Vec<Permission>,
}

impl fmt::Debug for ApiKeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyEntry")
            .field("name", &self.name)
            .field("sha256", &"[REDACTED]")
            .field("permissions", &self.permissions)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_key_entry_prints_without_its_hash() {
        let entry = ApiKeyEntry {
            name: "ops".into(),
            sha256: "ab".repeat(32),
            permissions: vec![Permission::Revoke],
        };
        let printed = format!("{entry:?}");
        assert!(!printed.contains(&entry.sha256), "{printed}");
        assert!(printed.contains("ops") && printed.contains("Revoke"), "{printed}");
    }
}
