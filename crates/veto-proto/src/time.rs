//! Time as JWTs count it: whole seconds since the Unix epoch.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch: the unit of the JWT `iat`, `nbf` and `exp` claims
/// (RFC 7519 "NumericDate"), and so of every instant in a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = i64, example = 1_800_000_000))]
#[serde(transparent)]
pub struct UnixSeconds(pub i64);

impl UnixSeconds {
    /// The beginning of time; a token without `iat` is treated as issued then.
    pub const EPOCH: UnixSeconds = UnixSeconds(0);

    /// The current wall-clock time, truncated to whole seconds.
    pub fn now() -> UnixSeconds {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        UnixSeconds(i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX))
    }

    /// `self + duration`, saturating at the ends of `i64`.
    pub fn saturating_add(self, duration: Duration) -> UnixSeconds {
        let seconds = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        UnixSeconds(self.0.saturating_add(seconds))
    }

    /// `self - duration`, saturating at the ends of `i64`.
    pub fn saturating_sub(self, duration: Duration) -> UnixSeconds {
        let seconds = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        UnixSeconds(self.0.saturating_sub(seconds))
    }
}

impl fmt::Display for UnixSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let far = UnixSeconds(i64::MAX - 1);
        assert_eq!(far.saturating_add(Duration::from_secs(10)), UnixSeconds(i64::MAX));
        assert_eq!(
            UnixSeconds(i64::MIN + 1).saturating_sub(Duration::from_secs(10)),
            UnixSeconds(i64::MIN)
        );
        assert_eq!(
            UnixSeconds(100).saturating_sub(Duration::from_secs(40)),
            UnixSeconds(60)
        );
    }

    #[test]
    fn now_is_after_2020() {
        assert!(UnixSeconds::now() > UnixSeconds(1_577_836_800));
    }
}
