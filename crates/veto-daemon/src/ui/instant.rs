//! Instants in the console's forms and on its pages. A form field takes RFC 3339
//! (`2030-01-02T03:04:05Z`, any offset), unix seconds, or a duration from now
//! (`+15m`, `-1h`), as the `veto` CLI does; a page shows RFC 3339 in UTC with the
//! distance from now.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use veto_proto::UnixSeconds;

/// What an instant field may hold, for messages and hints.
pub const ACCEPTED: &str = "RFC 3339 (2030-01-02T03:04:05Z), unix seconds, or +/- a duration (+15m, -1h)";

/// Reads an instant field; relative ones count from `now`.
pub fn parse(text: &str, now: UnixSeconds) -> Result<UnixSeconds, String> {
    let text = text.trim();
    let relative = |duration: &str| {
        humantime::parse_duration(duration.trim())
            .map_err(|_| format!("cannot read {text:?} as an instant: use {ACCEPTED}"))
    };
    if let Some(ahead) = text.strip_prefix('+') {
        return relative(ahead).map(|duration| now.saturating_add(duration));
    }
    if let Some(ago) = text.strip_prefix('-') {
        return relative(ago).map(|duration| now.saturating_sub(duration));
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

/// `2030-01-02T03:04:05Z`, or `unix <n>` for an instant the calendar cannot show.
pub fn rfc3339(at: UnixSeconds) -> String {
    OffsetDateTime::from_unix_timestamp(at.0)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("unix {}", at.0))
}

/// `2030-01-02T03:04:05Z (in 15m)`, `… (3s ago)`.
pub fn describe(at: UnixSeconds, now: UnixSeconds) -> String {
    let distance = Duration::from_secs(at.0.abs_diff(now.0));
    // To the second under an hour, to the minute beyond: what a reader needs next to
    // the exact instant.
    let distance = if distance < Duration::from_secs(3600) {
        distance
    } else {
        Duration::from_secs(distance.as_secs() / 60 * 60)
    };
    let relative = if distance.is_zero() {
        "now".to_owned()
    } else if at > now {
        format!("in {}", humantime::format_duration(distance))
    } else {
        format!("{} ago", humantime::format_duration(distance))
    };
    format!("{} ({relative})", rfc3339(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixSeconds = UnixSeconds(1_900_000_000);

    #[test]
    fn fields_read_every_accepted_form_and_refuse_the_rest() {
        assert_eq!(parse("1893553445", NOW), Ok(UnixSeconds(1_893_553_445)));
        assert_eq!(parse("2030-01-02T03:04:05Z", NOW), Ok(UnixSeconds(1_893_553_445)));
        assert_eq!(
            parse("2030-01-02T05:04:05+02:00", NOW),
            Ok(UnixSeconds(1_893_553_445))
        );
        assert_eq!(parse(" +15m ", NOW), Ok(UnixSeconds(NOW.0 + 900)));
        assert_eq!(parse("-1h", NOW), Ok(UnixSeconds(NOW.0 - 3600)));
        for text in ["+15", "tomorrow", "", "2030-01-02", "12abc"] {
            assert!(parse(text, NOW).unwrap_err().contains("RFC 3339"), "{text}");
        }
    }

    #[test]
    fn pages_show_utc_with_the_distance() {
        assert_eq!(rfc3339(UnixSeconds(1_893_553_445)), "2030-01-02T03:04:05Z");
        assert!(describe(UnixSeconds(NOW.0 + 900), NOW).ends_with("(in 15m)"));
        assert!(describe(UnixSeconds(NOW.0 - 3), NOW).ends_with("(3s ago)"));
        assert!(describe(UnixSeconds(NOW.0 + 7265), NOW).ends_with("(in 2h 1m)"));
    }
}
