//! Instants as people write and read them, the same in the CLI's arguments and the
//! console's forms: RFC 3339 (`2030-01-02T03:04:05Z`, any offset), unix seconds
//! (`1893553445`), `now`, or relative to now with a sign and a humantime duration
//! (`+15m`, `-1h 30m`). Shown instants are RFC 3339 in UTC with their distance from now
//! (`… (in 15m)`, `… (3s ago)`).

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use veto_proto::UnixSeconds;

/// What an instant may look like, for messages and hints.
pub const ACCEPTED: &str =
    "RFC 3339 (2030-01-02T03:04:05Z), unix seconds, now, or +/- a duration (+15m, -1h)";

/// Reads an instant; relative ones count from `now`.
pub fn parse(text: &str, now: UnixSeconds) -> Result<UnixSeconds, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    // A sign always means "relative": `+15` without a unit is a mistake, not 1970.
    if let Some(relative) = text.strip_prefix('+') {
        return relative_duration(relative).map(|duration| now.saturating_add(duration));
    }
    if let Some(relative) = text.strip_prefix('-') {
        return relative_duration(relative).map(|duration| now.saturating_sub(duration));
    }
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map(UnixSeconds)
            .map_err(|_| format!("{text:?} is too large for unix seconds"));
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|at| UnixSeconds(at.unix_timestamp()))
        .map_err(|_| format!("cannot read {text:?} as an instant: use {ACCEPTED}"))
}

fn relative_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|error| format!("cannot read {text:?} as a duration ({error}): use {ACCEPTED}"))
}

/// `2030-01-02T03:04:05Z`, or `unix <n>` for an instant the calendar cannot show.
pub fn rfc3339(at: UnixSeconds) -> String {
    OffsetDateTime::from_unix_timestamp(at.0)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("unix {}", at.0))
}

/// `2030-01-02T03:04:05Z (in 15m)`, `… (3s ago)` or `… (now)`.
pub fn describe(at: UnixSeconds, now: UnixSeconds) -> String {
    let distance = rounded(Duration::from_secs(at.0.abs_diff(now.0)));
    let relative = if distance.is_zero() {
        "now".to_owned()
    } else if at.0 > now.0 {
        format!("in {}", humantime::format_duration(distance))
    } else {
        format!("{} ago", humantime::format_duration(distance))
    };
    format!("{} ({relative})", rfc3339(at))
}

/// A distance as precise as a reader needs next to the exact instant: to the second
/// under an hour, to the minute under a day, to the hour beyond.
fn rounded(distance: Duration) -> Duration {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let seconds = distance.as_secs();
    let unit = match seconds {
        0..HOUR => 1,
        HOUR..DAY => MINUTE,
        _ => HOUR,
    };
    Duration::from_secs((seconds + unit / 2) / unit * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixSeconds = UnixSeconds(1_900_000_000);

    #[test]
    fn every_accepted_form_parses() {
        assert_eq!(parse("1893553445", NOW), Ok(UnixSeconds(1_893_553_445)));
        assert_eq!(parse("2030-01-02T03:04:05Z", NOW), Ok(UnixSeconds(1_893_553_445)));
        assert_eq!(
            parse("2030-01-02T05:04:05+02:00", NOW),
            Ok(UnixSeconds(1_893_553_445))
        );
        assert_eq!(parse(" +15m ", NOW), Ok(UnixSeconds(NOW.0 + 900)));
        assert_eq!(parse("-1h 30m", NOW), Ok(UnixSeconds(NOW.0 - 5400)));
        assert_eq!(parse("now", NOW), Ok(NOW));
    }

    #[test]
    fn ambiguous_or_garbled_instants_are_refused() {
        for text in ["+15", "yesterday", "", "2030-01-02", "-", "12abc"] {
            let error = parse(text, NOW).expect_err(text);
            assert!(error.contains("RFC 3339"), "{text}: {error}");
        }
    }

    #[test]
    fn instants_show_with_their_distance_from_now() {
        assert_eq!(rfc3339(UnixSeconds(1_893_553_445)), "2030-01-02T03:04:05Z");
        assert_eq!(
            describe(UnixSeconds(NOW.0 + 960), NOW),
            format!("{} (in 16m)", rfc3339(UnixSeconds(NOW.0 + 960)))
        );
        assert!(describe(UnixSeconds(NOW.0 - 3), NOW).ends_with("(3s ago)"));
        assert!(describe(NOW, NOW).ends_with("(now)"));
        assert!(describe(UnixSeconds(NOW.0 + 86_400 + 65), NOW).ends_with("(in 1day)"));
        assert!(describe(UnixSeconds(NOW.0 - 7_265), NOW).ends_with("(2h 1m ago)"));
        assert_eq!(rfc3339(UnixSeconds(i64::MAX)), format!("unix {}", i64::MAX));
    }
}
