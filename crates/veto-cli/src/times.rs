//! Instants on the command line and on the screen. An instant argument (`--exp`,
//! `--before`, `--iat`) reads as [`veto_api::instant`] says, as the console's fields do;
//! shown instants are RFC 3339 in UTC with their distance from now. Here: what only the
//! CLI shows, to the millisecond (a report's age).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use veto_proto::UnixSeconds;

pub use veto_api::instant::{describe, rfc3339};

/// Parses an instant argument relative to the current time (a clap value parser).
pub fn parse_instant(text: &str) -> Result<UnixSeconds, String> {
    veto_api::instant::parse(text, UnixSeconds::now())
}

/// How long ago `at` was, to the millisecond; zero when `at` is ahead of `now` (another
/// machine's clock).
pub fn age(at: SystemTime, now: SystemTime) -> Duration {
    let age = now.duration_since(at).unwrap_or(Duration::ZERO);
    Duration::from_millis(u64::try_from(age.as_millis()).unwrap_or(u64::MAX))
}

/// Milliseconds since the epoch (for JSON).
pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// `2030-01-02T03:04:05.123Z (412ms ago)`.
pub fn describe_precise(at: SystemTime, now: SystemTime) -> String {
    let at_text = OffsetDateTime::from(at)
        .format(&Rfc3339)
        .unwrap_or_else(|_| format!("unix ms {}", unix_ms(at)));
    format!("{at_text} ({} ago)", humantime::format_duration(age(at, now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_in_milliseconds_and_never_negative() {
        let at = UNIX_EPOCH + Duration::from_millis(10_000);
        assert_eq!(
            age(at, at + Duration::from_micros(412_600)),
            Duration::from_millis(412)
        );
        assert_eq!(age(at + Duration::from_secs(1), at), Duration::ZERO);
        assert!(describe_precise(at, at + Duration::from_millis(412)).ends_with("(412ms ago)"));
    }
}
