//! Validation with typed errors and stable codes.
//!
//! Two levels: the *shape* of a rule (what any reader checks, whatever its clock) and
//! its *times* against a [`TokenPolicy`] and "now" (what the daemon checks before it
//! accepts a revocation).

use crate::error::{Field, RuleError};
use crate::kind::RuleKind;
use crate::policy::TokenPolicy;
use crate::rule::{Lift, RevocationRule};
use crate::time::UnixSeconds;

pub use crate::error::{MAX_ISS_BYTES, MAX_PRINCIPAL_BYTES, MAX_REASON_BYTES, MAX_VALUE_BYTES};

/// Checks one optional text field: present means non-empty, within its limit, and free
/// of control characters.
pub fn check_text(field: Field, text: Option<&str>) -> Result<(), RuleError> {
    let Some(text) = text else { return Ok(()) };
    if text.is_empty() {
        return Err(RuleError::Empty { field });
    }
    if text.len() > field.max_bytes() {
        return Err(RuleError::TooLong {
            field,
            bytes: text.len(),
            max: field.max_bytes(),
        });
    }
    if text.chars().any(char::is_control) {
        return Err(RuleError::ControlCharacter { field });
    }
    Ok(())
}

/// Checks that a key (kind, issuer scope, value) is well formed.
fn check_key(kind: RuleKind, iss: Option<&str>, value: Option<&str>) -> Result<(), RuleError> {
    match (kind.has_value(), value) {
        (true, None) => return Err(RuleError::ValueRequired { kind }),
        (false, Some(_)) => return Err(RuleError::ValueNotAllowed),
        _ => {}
    }
    check_text(Field::Value, value)?;
    check_text(Field::Iss, iss)
}

impl RevocationRule {
    /// Checks what any reader can check without a clock: value present exactly when the
    /// kind takes one, `issued_before` present exactly when the kind uses it, text fields
    /// within limits and free of control characters, `expires_at` after `issued_before`.
    pub fn validate_shape(&self) -> Result<(), RuleError> {
        self.validate_fields()?;
        self.validate_order()
    }

    /// The key, the text fields, and `issued_before` present exactly when the kind uses it.
    fn validate_fields(&self) -> Result<(), RuleError> {
        check_key(self.kind, self.iss.as_deref(), self.value.as_deref())?;
        check_text(Field::Reason, self.reason.as_deref())?;
        check_text(Field::Principal, self.revoked_by.as_deref())?;
        match (self.kind.uses_issued_before(), self.issued_before) {
            (true, None) => Err(RuleError::IssuedBeforeRequired { kind: self.kind }),
            (false, Some(_)) => Err(RuleError::IssuedBeforeNotAllowed),
            _ => Ok(()),
        }
    }

    /// `expires_at` after `issued_before`.
    fn validate_order(&self) -> Result<(), RuleError> {
        match self.issued_before {
            Some(issued_before) if self.expires_at <= issued_before => Err(RuleError::ExpiresAtTooEarly {
                expires_at: self.expires_at,
                needed: issued_before,
            }),
            _ => Ok(()),
        }
    }

    /// Checks the shape, then the times against `policy` at `now`: `issued_before` no
    /// later than now + leeway, and not so old that nothing it covers is still valid;
    /// `expires_at` in the future, no later than a token can live, and (for
    /// `sub`/`sid`/`all`) no earlier than the last covered token expires.
    pub fn validate(&self, policy: &TokenPolicy, now: UnixSeconds) -> Result<(), RuleError> {
        self.validate_fields()?;
        // Before the order of the two instants: an `issued_before` near the end of time
        // saturates the expiry derived from it to the same instant, and the mistake to
        // report is the instant the caller sent, not the expiry derived from it.
        let latest = policy.latest_issued_before(now);
        if let Some(issued_before) = self.issued_before
            && issued_before > latest
        {
            return Err(RuleError::IssuedBeforeInFuture {
                issued_before,
                latest,
            });
        }
        self.validate_order()?;
        let latest_expiry = match self.issued_before {
            None => policy.latest_jti_expiry(now),
            Some(issued_before) => {
                let needed = policy.expiry_of_issued_before(issued_before);
                if needed <= now {
                    return Err(RuleError::IssuedBeforeTooOld { issued_before });
                }
                if self.expires_at < needed {
                    return Err(RuleError::ExpiresAtTooEarly {
                        expires_at: self.expires_at,
                        needed,
                    });
                }
                policy.expiry_of_issued_before(latest)
            }
        };
        if self.expires_at <= now {
            return Err(RuleError::ExpiresAtInPast {
                expires_at: self.expires_at,
                now,
            });
        }
        if self.expires_at > latest_expiry {
            return Err(RuleError::ExpiresAtTooLate {
                expires_at: self.expires_at,
                latest: latest_expiry,
            });
        }
        Ok(())
    }
}

impl Lift {
    /// Checks the lifted key and the audit fields.
    pub fn validate_shape(&self) -> Result<(), RuleError> {
        check_key(self.kind, self.iss.as_deref(), self.value.as_deref())?;
        check_text(Field::Reason, self.reason.as_deref())?;
        check_text(Field::Principal, self.lifted_by.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const NOW: UnixSeconds = UnixSeconds(1_800_000_000);

    fn policy() -> TokenPolicy {
        TokenPolicy::default()
    }

    fn jti(value: &str, expires_in_secs: i64) -> RevocationRule {
        RevocationRule::jti(value, None, UnixSeconds(NOW.0 + expires_in_secs)).revoked(NOW, Some("ops"), None)
    }

    fn sub(issued_before: UnixSeconds) -> RevocationRule {
        RevocationRule::sub_or_sid(RuleKind::Sub, "alice", None, issued_before, &policy())
            .revoked(NOW, None, None)
    }

    fn code(rule: &RevocationRule) -> &'static str {
        rule.validate(&policy(), NOW)
            .map_or_else(|error| error.code(), |()| "ok")
    }

    #[test]
    fn good_rules_pass() {
        assert_eq!(code(&jti("t-1", 3600)), "ok");
        assert_eq!(code(&sub(NOW)), "ok");
        assert_eq!(code(&sub(NOW.saturating_add(policy().clock_skew))), "ok");
        assert_eq!(
            code(&RevocationRule::all(Some("https://idp"), NOW, &policy())),
            "ok"
        );
        let longest = "v".repeat(MAX_VALUE_BYTES);
        assert_eq!(code(&jti(&longest, 60)), "ok");
        assert_eq!(code(&jti("ünïcødé ✓", 60)), "ok");
    }

    #[test]
    fn the_default_issued_before_passes_with_no_leeway() {
        let strict = TokenPolicy {
            leeway: Duration::ZERO,
            ..policy()
        };
        let default = NOW.saturating_add(strict.clock_skew);
        let rule = RevocationRule::sub_or_sid(RuleKind::Sub, "alice", None, default, &strict)
            .revoked(NOW, None, None);
        assert_eq!(rule.validate(&strict, NOW), Ok(()));
    }

    #[test]
    fn every_invalid_rule_has_its_code() {
        let cases: Vec<(RevocationRule, &str)> = vec![
            (jti("", 60), "empty_field"),
            (jti(&"v".repeat(MAX_VALUE_BYTES + 1), 60), "field_too_long"),
            (jti("a\nb", 60), "control_character"),
            (jti("a\0b", 60), "control_character"),
            (jti("t", 0), "expires_at_in_past"),
            (jti("t", -5), "expires_at_in_past"),
            (jti("t", 24 * 3600 + 61), "expires_at_too_late"),
            (
                RevocationRule {
                    value: None,
                    ..jti("t", 60)
                },
                "value_required",
            ),
            (
                RevocationRule {
                    value: Some("x".into()),
                    ..RevocationRule::all(None, NOW, &policy())
                },
                "value_not_allowed",
            ),
            (
                RevocationRule {
                    issued_before: Some(NOW),
                    ..jti("t", 60)
                },
                "issued_before_not_allowed",
            ),
            (
                RevocationRule {
                    issued_before: None,
                    ..sub(NOW)
                },
                "issued_before_required",
            ),
            (
                sub(NOW.saturating_add(Duration::from_secs(61))),
                "issued_before_in_future",
            ),
            // At the end of time, the saturated expiry equals issued_before: the mistake
            // is the instant, not the expiry.
            (sub(UnixSeconds(i64::MAX)), "issued_before_in_future"),
            (sub(UnixSeconds(i64::MAX - 1)), "issued_before_in_future"),
            (
                sub(NOW.saturating_sub(Duration::from_secs(24 * 3600 + 60))),
                "issued_before_too_old",
            ),
            (
                RevocationRule {
                    expires_at: NOW.saturating_add(Duration::from_secs(10)),
                    ..sub(NOW)
                },
                "expires_at_too_early",
            ),
            (
                RevocationRule {
                    expires_at: NOW.saturating_add(Duration::from_secs(3 * 24 * 3600)),
                    ..sub(NOW)
                },
                "expires_at_too_late",
            ),
            (
                RevocationRule {
                    iss: Some(String::new()),
                    ..jti("t", 60)
                },
                "empty_field",
            ),
            (
                RevocationRule {
                    reason: Some("r".repeat(MAX_REASON_BYTES + 1)),
                    ..jti("t", 60)
                },
                "field_too_long",
            ),
            (
                RevocationRule {
                    revoked_by: Some("ops\r".into()),
                    ..jti("t", 60)
                },
                "control_character",
            ),
        ];
        for (rule, expected) in cases {
            assert_eq!(code(&rule), expected, "{rule:?}");
        }
    }

    #[test]
    fn lifts_check_their_key() {
        let lift = Lift {
            kind: RuleKind::All,
            value: Some("x".into()),
            iss: None,
            reason: None,
            lifted_by: None,
            lifted_at: NOW,
            rule_expires_at: None,
        };
        assert_eq!(lift.validate_shape(), Err(RuleError::ValueNotAllowed));
        let lift = Lift {
            kind: RuleKind::Sid,
            value: None,
            ..lift
        };
        assert_eq!(
            lift.validate_shape(),
            Err(RuleError::ValueRequired { kind: RuleKind::Sid })
        );
    }
}
