//! Why a rule, a lift or a setting is invalid: typed errors with stable codes, and the
//! text fields they name with their limits.

use std::fmt;

use crate::kind::{RuleKind, UnknownKind};
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

    pub(crate) const fn max_bytes(self) -> usize {
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
    #[error(transparent)]
    UnknownKind(#[from] UnknownKind),
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
            RuleError::UnknownKind(_) => "unknown_kind",
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
