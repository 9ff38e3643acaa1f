//! Validation with typed errors and stable codes.
//!
//! Two levels: the *shape* of a rule (what any reader checks, whatever its clock) and
//! its *times* against a [`TokenPolicy`] and "now" (what the daemon checks before it
//! accepts a revocation).

use std::fmt;

use crate::policy::TokenPolicy;
use crate::rule::{Lift, RevocationRule, RuleKind};
use crate::time::UnixSeconds;

/// The longest `value` (a `jti`, `sub` or `sid`), in bytes of UTF-8.
pub const MAX_VALUE_BYTES: usize = 256;
/// The longest issuer scope, in bytes.
pub const MAX_ISS_BYTES: usize = 512;
/// The longest `reason`, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;
/// The longest principal name in `revoked_by`/`lifted_by`, in bytes.
pub const MAX_PRINCIPAL_BYTES: usize = 256;

/// A text field of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The claim value.
    Value,
    /// The issuer scope.
    Iss,
    /// The audit reason.
    Reason,
    /// The audit principal.
    Principal,
}

impl Field {
    /// The field's name in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::Value => "value",
            Field::Iss => "iss",
            Field::Reason => "reason",
            Field::Principal => "revoked_by",
        }
    }

    const fn max_bytes(self) -> usize {
        match self {
            Field::Value => MAX_VALUE_BYTES,
            Field::Iss => MAX_ISS_BYTES,
            Field::Reason => MAX_REASON_BYTES,
            Field::Principal => MAX_PRINCIPAL_BYTES,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a rule, lift or setting is invalid. [`RuleError::code`] is stable: the admin API
/// returns it, and callers may match on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The kind is none of `jti`, `sub`, `sid`, `all`.
    #[error("unknown rule kind {name:?}: use jti, sub, sid or all")]
    UnknownKind {
        /// The rejected name (cut to 32 characters).
        name: String,
    },
    /// A `jti`, `sub` or `sid` rule without a value.
    #[error("a {kind} rule needs a value")]
    ValueRequired {
        /// The rule's kind.
        kind: RuleKind,
    },
    /// An `all` rule with a value.
    #[error("an all rule takes no value")]
    ValueNotAllowed,
    /// A text field that is present but empty.
    #[error("{field} is empty")]
    Empty {
        /// The field.
        field: Field,
    },
    /// A text field over its limit.
    #[error("{field} is {bytes} bytes long; the limit is {max}")]
    TooLong {
        /// The field.
        field: Field,
        /// Its length in bytes.
        bytes: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A text field with a control character (including NUL and newlines).
    #[error("{field} contains a control character")]
    ControlCharacter {
        /// The field.
        field: Field,
    },
    /// A `sub`, `sid` or `all` rule without `issued_before`.
    #[error("a {kind} rule needs issued_before")]
    IssuedBeforeRequired {
        /// The rule's kind.
        kind: RuleKind,
    },
    /// A `jti` rule with `issued_before`, which would have no effect.
    #[error("a jti rule names one token; issued_before does not apply")]
    IssuedBeforeNotAllowed,
    /// `issued_before` further in the future than the leeway allows.
    #[error("issued_before {issued_before} is in the future (latest accepted: {latest})")]
    IssuedBeforeInFuture {
        /// The rejected instant.
        issued_before: UnixSeconds,
        /// The latest accepted instant.
        latest: UnixSeconds,
    },
    /// `issued_before` so old that every token it covers has expired.
    #[error("issued_before {issued_before} is so old that every token issued before it has expired")]
    IssuedBeforeTooOld {
        /// The rejected instant.
        issued_before: UnixSeconds,
    },
    /// `expires_at` not in the future.
    #[error("expires_at {expires_at} is not in the future (now: {now})")]
    ExpiresAtInPast {
        /// The rejected instant.
        expires_at: UnixSeconds,
        /// The validating clock.
        now: UnixSeconds,
    },
    /// `expires_at` later than any token can live.
    #[error("expires_at {expires_at} is later than any token lives (latest accepted: {latest})")]
    ExpiresAtTooLate {
        /// The rejected instant.
        expires_at: UnixSeconds,
        /// The latest accepted instant.
        latest: UnixSeconds,
    },
    /// `expires_at` before the last covered token expires: the rule would be forgotten
    /// while tokens it revokes are still valid.
    #[error("expires_at {expires_at} is before the last covered token expires ({needed})")]
    ExpiresAtTooEarly {
        /// The rejected instant.
        expires_at: UnixSeconds,
        /// The earliest accepted instant.
        needed: UnixSeconds,
    },
    /// A deployment setting out of range.
    #[error("invalid {setting}: {reason}")]
    InvalidSetting {
        /// Which setting.
        setting: &'static str,
        /// What is allowed.
        reason: &'static str,
    },
}

impl RuleError {
    /// A stable, machine-readable code (`snake_case`).
    pub const fn code(&self) -> &'static str {
        match self {
            RuleError::UnknownKind { .. } => "unknown_kind",
            RuleError::ValueRequired { .. } => "value_required",
            RuleError::ValueNotAllowed => "value_not_allowed",
            RuleError::Empty { .. } => "empty_field",
            RuleError::TooLong { .. } => "field_too_long",
            RuleError::ControlCharacter { .. } => "control_character",
            RuleError::IssuedBeforeRequired { .. } => "issued_before_required",
            RuleError::IssuedBeforeNotAllowed => "issued_before_not_allowed",
            RuleError::IssuedBeforeInFuture { .. } => "issued_before_in_future",
            RuleError::IssuedBeforeTooOld { .. } => "issued_before_too_old",
            RuleError::ExpiresAtInPast { .. } => "expires_at_in_past",
            RuleError::ExpiresAtTooLate { .. } => "expires_at_too_late",
            RuleError::ExpiresAtTooEarly { .. } => "expires_at_too_early",
            RuleError::InvalidSetting { .. } => "invalid_setting",
        }
    }
}

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
        check_key(self.kind, self.iss.as_deref(), self.value.as_deref())?;
        check_text(Field::Reason, self.reason.as_deref())?;
        check_text(Field::Principal, self.revoked_by.as_deref())?;
        match (self.kind.uses_issued_before(), self.issued_before) {
            (true, None) => Err(RuleError::IssuedBeforeRequired { kind: self.kind }),
            (false, Some(_)) => Err(RuleError::IssuedBeforeNotAllowed),
            (true, Some(issued_before)) if self.expires_at <= issued_before => {
                Err(RuleError::ExpiresAtTooEarly {
                    expires_at: self.expires_at,
                    needed: issued_before,
                })
            }
            _ => Ok(()),
        }
    }

    /// Checks the shape, then the times against `policy` at `now`: `issued_before` no
    /// later than now + leeway, and not so old that nothing it covers is still valid;
    /// `expires_at` in the future, no later than a token can live, and (for
    /// `sub`/`sid`/`all`) no earlier than the last covered token expires.
    pub fn validate(&self, policy: &TokenPolicy, now: UnixSeconds) -> Result<(), RuleError> {
        self.validate_shape()?;
        let latest_expiry = match self.issued_before {
            None => policy.latest_jti_expiry(now),
            Some(issued_before) => {
                let latest = policy.latest_issued_before(now);
                if issued_before > latest {
                    return Err(RuleError::IssuedBeforeInFuture {
                        issued_before,
                        latest,
                    });
                }
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
