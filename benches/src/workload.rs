//! Deterministic workloads: rule values, tokens that hit or miss them, 128-bit keys.
//!
//! Everything derives from an index through a fixed mixing function, so a rule set of
//! ten million values is generated on the fly (no list to store), the tokens that hit
//! it are regenerated from the same indices, and every run measures the same data.

use std::time::Duration;

use veto_client::replica::Replica;
use veto_proto::rule::TokenFacts;
use veto_proto::{RevocationRule, UnixSeconds};

/// The length of a UUID in its text form (`8-4-4-4-12` hex digits): a typical `jti`.
pub const UUID_TEXT_LEN: usize = 36;

/// The issuer every benchmark token carries (rules are unscoped, as most are).
pub const ISSUER: &str = "https://idp.example.com";

/// Separate streams of values, so that a value of one never equals a value of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    /// `jti` values that are revoked (the rule set).
    RevokedJti = 1,
    /// `jti` values that no rule mentions.
    AbsentJti = 2,
    /// `sub` values (no rule mentions any).
    Subject = 3,
    /// `sid` values (no rule mentions any).
    Session = 4,
    /// `jti` values revoked through the daemon's API (propagation and ingest figures).
    DaemonJti = 5,
}

/// SplitMix64's finalizer: a bijection on `u64` whose outputs look uniformly random.
pub fn mix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// 128 pseudo-random bits for an index in a namespace.
pub fn bits128(namespace: Namespace, index: u64) -> u128 {
    let seed = ((namespace as u64) << 56) ^ index;
    let high = mix64(seed);
    let low = mix64(seed ^ 0x5555_5555_5555_5555);
    (u128::from(high) << 64) | u128::from(low)
}

/// Writes the UUID-like text of `bits128(namespace, index)` into `buffer`.
pub fn uuid_like(namespace: Namespace, index: u64, buffer: &mut [u8; UUID_TEXT_LEN]) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = bits128(namespace, index);
    let mut nibble = 0;
    for (position, byte) in buffer.iter_mut().enumerate() {
        *byte = if matches!(position, 8 | 13 | 18 | 23) {
            b'-'
        } else {
            let digit = (bits >> (124 - 4 * nibble)) & 0xf;
            nibble += 1;
            HEX[digit as usize]
        };
    }
    std::str::from_utf8(buffer).expect("hex digits and dashes are ASCII")
}

/// The same text, owned.
pub fn uuid_like_string(namespace: Namespace, index: u64) -> String {
    uuid_like(namespace, index, &mut [0; UUID_TEXT_LEN]).to_owned()
}

/// The `jti` rule for revoked value `index`, as the daemon would publish it: unscoped,
/// expiring well within the stream's `max_age` (24 h + leeway by default).
pub fn jti_rule(index: u64, now: UnixSeconds) -> RevocationRule {
    const RULE_LIFETIME: Duration = Duration::from_secs(23 * 3600);
    let mut buffer = [0; UUID_TEXT_LEN];
    RevocationRule::jti(
        uuid_like(Namespace::RevokedJti, index, &mut buffer),
        None,
        now.saturating_add(RULE_LIFETIME),
    )
    .revoked(now, Some("veto-bench"), Some("benchmark"))
}

/// A replica holding `rules` jti rules (revoked values `0..rules`), filled the way the
/// client's follower fills one during bootstrap: sized up front, one rule at a time.
pub fn build_replica(rules: u64) -> Replica {
    let replica = Replica::new(usize::try_from(rules).unwrap_or(usize::MAX));
    let now = UnixSeconds::now();
    for index in 0..rules {
        // As if rule `index` were the stream's message `index + 1` (sequences start at 1).
        replica.apply_rule(&jti_rule(index, now));
    }
    replica
}

/// The claims of a sample of tokens, owned; [`TokenSample::facts`] borrows them the way
/// a service's check does.
#[derive(Debug)]
pub struct TokenSample {
    jti: Vec<String>,
    sub: Vec<String>,
    sid: Vec<String>,
    iat: UnixSeconds,
}

impl TokenSample {
    /// `count` tokens whose `jti` no rule mentions: the Allowed path. Each carries
    /// `jti`, `sub`, `sid` and `iss`, so a check probes three claims.
    pub fn allowed(count: usize) -> TokenSample {
        TokenSample::with_jtis((0..count as u64).map(|index| (Namespace::AbsentJti, index)))
    }

    /// `count` tokens whose `jti` is one of the `rules` revoked values, picked at random:
    /// the Revoked path.
    pub fn revoked(count: usize, rules: u64) -> TokenSample {
        TokenSample::with_jtis((0..count as u64).map(|index| (Namespace::RevokedJti, mix64(index) % rules)))
    }

    fn with_jtis(jtis: impl Iterator<Item = (Namespace, u64)>) -> TokenSample {
        let jti: Vec<String> = jtis
            .map(|(namespace, index)| uuid_like_string(namespace, index))
            .collect();
        let count = jti.len() as u64;
        TokenSample {
            jti,
            sub: (0..count)
                .map(|index| uuid_like_string(Namespace::Subject, index))
                .collect(),
            sid: (0..count)
                .map(|index| uuid_like_string(Namespace::Session, index))
                .collect(),
            // Tokens issued a minute ago: after any `issued_before`, like most traffic.
            iat: UnixSeconds::now().saturating_sub(Duration::from_secs(60)),
        }
    }

    /// The facts a service passes to a check, borrowing this sample.
    pub fn facts(&self) -> Vec<TokenFacts<'_>> {
        (0..self.jti.len())
            .map(|index| TokenFacts {
                jti: Some(&self.jti[index]),
                sub: Some(&self.sub[index]),
                sid: Some(&self.sid[index]),
                iss: Some(ISSUER),
                iat: Some(self.iat),
            })
            .collect()
    }

    /// The `jti` values.
    pub fn jtis(&self) -> &[String] {
        &self.jti
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_like_values_look_like_uuids_and_differ_by_namespace() {
        let revoked = uuid_like_string(Namespace::RevokedJti, 7);
        let absent = uuid_like_string(Namespace::AbsentJti, 7);
        assert_eq!(revoked.len(), UUID_TEXT_LEN);
        assert_eq!(revoked.matches('-').count(), 4);
        assert_ne!(revoked, absent);
        assert_eq!(revoked, uuid_like_string(Namespace::RevokedJti, 7));
    }
}
