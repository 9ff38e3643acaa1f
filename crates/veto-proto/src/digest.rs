//! 128-bit key digests.
//!
//! The digest of a rule's key is the first 16 bytes of BLAKE3 over
//! `kind || 0x00 || iss-or-empty || 0x00 || value-or-empty`. Rules never contain NUL
//! (validation forbids control characters), so the framing is unambiguous, and a
//! cryptographic hash keeps the exact set exact even against chosen values (a `sub` may
//! be a user-picked name). The hashing input is streamed: computing a digest allocates
//! nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::kind::RuleKind;

/// The 128-bit digest that identifies a rule's key on the wire and in the exact set.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyDigest(pub [u8; 16]);

impl KeyDigest {
    /// The digest of the key (`kind`, issuer scope, value).
    pub fn of(kind: RuleKind, iss: Option<&str>, value: Option<&str>) -> KeyDigest {
        let mut hasher = blake3::Hasher::new();
        hasher.update(kind.as_str().as_bytes());
        hasher.update(&[0]);
        hasher.update(iss.unwrap_or("").as_bytes());
        hasher.update(&[0]);
        hasher.update(value.unwrap_or("").as_bytes());
        let hash = hasher.finalize();
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&hash.as_bytes()[..16]);
        KeyDigest(digest)
    }

    /// The digest as one integer (big-endian), handy as a hash-set key.
    pub fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// The digest from an integer made by [`KeyDigest::as_u128`].
    pub fn from_u128(value: u128) -> KeyDigest {
        KeyDigest(value.to_be_bytes())
    }
}

impl fmt::Display for KeyDigest {
    /// Lower-case hex, 32 characters: the form used in subjects. Written through a stack
    /// buffer: formatting a digest allocates nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0u8; 32];
        hex::encode_to_slice(self.0, &mut text).map_err(|_| fmt::Error)?;
        // Only ASCII hex digits were written.
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({self})")
    }
}

/// A string that is not 32 lower-case hex characters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a key digest is 32 lower-case hex characters")]
pub struct ParseDigestError;

impl FromStr for KeyDigest {
    type Err = ParseDigestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // One spelling per digest: upper-case hex would name the same key twice.
        if text.len() != 32 || text.bytes().any(|byte| byte.is_ascii_uppercase()) {
            return Err(ParseDigestError);
        }
        let mut digest = [0u8; 16];
        hex::decode_to_slice(text, &mut digest).map_err(|_| ParseDigestError)?;
        Ok(KeyDigest(digest))
    }
}

impl Serialize for KeyDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        hex.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed vectors: if one of these changes, every deployed client disagrees with
    /// every stream. Change the hashing only with a new wire version.
    /// Cross-checked with an independent BLAKE3 implementation (Python `blake3`).
    #[test]
    fn digests_are_pinned() {
        let vectors = [
            (
                RuleKind::Jti,
                None,
                Some("7f1c2a9e-4b1d-4d8a-9a43-2f0d3c1e5b66"),
                "e975505898972aec53f89a78065d219c",
            ),
            (
                RuleKind::Sub,
                Some("https://idp.example"),
                Some("alice"),
                "deb7f0ba8d2527819f70e415f0aa99e0",
            ),
            (
                RuleKind::Sid,
                None,
                Some("s-42"),
                "0120ec83ac58d74651df228b57eed7a1",
            ),
            (RuleKind::All, None, None, "b62c6e9e3b0f3f58d817734b2a522b8d"),
            (
                RuleKind::All,
                Some("https://idp.example"),
                None,
                "5eebb4aa58c5a9d83d4e5f3cd637a104",
            ),
        ];
        for (kind, iss, value, expected) in vectors {
            assert_eq!(
                KeyDigest::of(kind, iss, value).to_string(),
                expected,
                "{kind} {iss:?} {value:?}"
            );
        }
    }

    #[test]
    fn the_framing_keeps_scope_and_value_apart() {
        assert_ne!(
            KeyDigest::of(RuleKind::Sub, Some("a"), Some("b")),
            KeyDigest::of(RuleKind::Sub, None, Some("a\0b"))
        );
        assert_ne!(
            KeyDigest::of(RuleKind::Sub, Some("x"), Some("y")),
            KeyDigest::of(RuleKind::Sid, Some("x"), Some("y"))
        );
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let digest = KeyDigest::of(RuleKind::Jti, None, Some("x"));
        assert_eq!(digest.to_string().parse::<KeyDigest>().unwrap(), digest);
        assert_eq!(KeyDigest::from_u128(digest.as_u128()), digest);
        for bad in ["", "zz", &"A".repeat(32), &"0".repeat(31), &"0".repeat(33)] {
            assert_eq!(bad.parse::<KeyDigest>(), Err(ParseDigestError), "{bad:?}");
        }
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(serde_json::from_str::<KeyDigest>(&json).unwrap(), digest);
    }
}
