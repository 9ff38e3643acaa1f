//! A principal's name as it goes into rules (`revoked_by`, `lifted_by`), audit lines
//! and rate-limit buckets: bounded and printable, whatever an identity provider puts
//! in a token's `iss` and `sub`.
//!
//! Every reader of the stream refuses a principal over [`MAX_PRINCIPAL_BYTES`] or with
//! a control character, so a name built straight from a token (`jwt:<iss>#<sub>`) made
//! every write of such an admin fail with 422, for a reason the admin cannot fix. So a
//! name that does not fit is derived: control characters escaped (`\n` → `\u{a}`), cut
//! at a character boundary, and ended with `~` and 16 hex characters of the SHA-256 of
//! the original, so that two principals never share a derived name (nor one an
//! untouched name: those carry no such suffix unless their owner chose one).

use sha2::{Digest, Sha256};
use veto_proto::validate::MAX_PRINCIPAL_BYTES;

/// Hex characters of the digest suffix.
const DIGEST_HEX: usize = 16;

/// `raw` if it is a valid principal name; otherwise a bounded, printable name derived
/// from it (see the module documentation).
pub fn bounded_name(raw: &str) -> String {
    let printable = !raw.chars().any(char::is_control);
    if printable && !raw.is_empty() && raw.len() <= MAX_PRINCIPAL_BYTES {
        return raw.to_owned();
    }
    let digest = hex::encode(Sha256::digest(raw.as_bytes()));
    let suffix = format!("~{}", &digest[..DIGEST_HEX]);
    let room = MAX_PRINCIPAL_BYTES - suffix.len();
    let mut name = String::with_capacity(MAX_PRINCIPAL_BYTES);
    for character in raw.chars() {
        let piece = if character.is_control() {
            character.escape_unicode().to_string()
        } else {
            character.to_string()
        };
        if name.len() + piece.len() > room {
            break;
        }
        name.push_str(&piece);
    }
    name.push_str(&suffix);
    name
}

#[cfg(test)]
mod tests {
    use veto_proto::Field;
    use veto_proto::validate::check_text;

    use super::*;

    #[test]
    fn a_valid_name_is_kept_as_it_is() {
        assert_eq!(bounded_name("jwt:https://idp#alice"), "jwt:https://idp#alice");
        let longest = "a".repeat(MAX_PRINCIPAL_BYTES);
        assert_eq!(bounded_name(&longest), longest);
    }

    #[test]
    fn any_name_becomes_a_valid_and_distinct_one() {
        let cases = [
            "a".repeat(MAX_PRINCIPAL_BYTES + 1),
            "a".repeat(10_000),
            "ü".repeat(200),
            "mallory\nkey:admin".to_owned(),
            "\u{7}".repeat(300),
            String::new(),
        ];
        let mut seen = std::collections::HashSet::new();
        for raw in &cases {
            let name = bounded_name(raw);
            assert_eq!(
                check_text(Field::Principal, Some(&name)),
                Ok(()),
                "{raw:?} → {name:?}"
            );
            assert!(seen.insert(name.clone()), "{name} twice");
        }
        assert!(bounded_name("mallory\nkey:admin").starts_with("mallory\\u{a}key:admin~"));
    }
}
