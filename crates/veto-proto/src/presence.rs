//! Presence: what each service's list says about itself, so that daemons know which
//! instances exist, what each has applied, and how fresh it is.
//!
//! A report is one JSON object on core NATS (never stored), on
//! `veto.presence.v1.<service>.<instance>`, sent on a heartbeat and right after the
//! list applied a new stream sequence. Presence is **advisory**: it is unsigned, it
//! changes nothing a check answers, and a daemon only uses it to say who has applied
//! what (the fleet view, receipts on writes). NATS permissions decide who may publish
//! on which presence subject.
//!
//! **Why not `veto.v1.presence.…`**: the stream captures `veto.v1.>`, and anything
//! published there is stored, kept one per subject for the stream's `max_age`, and
//! read back by every client as an event it must reject. Presence lives outside the
//! stream's subjects instead of narrowing them, so that (1) no stream has to change:
//! an existing stream keeps `veto.v1.>` and an older daemon in a rolling upgrade, which
//! refuses other subjects, keeps starting; (2) a reporting client can never write into
//! the list, even against a stream created by an older daemon; (3) `veto.v1.>` stays
//! the daemons' alone in the NATS permissions.
//!
//! Readers refuse other versions (`v`), names that are not subject tokens, and a
//! report whose `service`/`instance` differ from its subject's: NATS authorized the
//! subject, so the subject is what the report is taken to be about.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The prefix of every presence subject.
pub const PRESENCE_SUBJECT_PREFIX: &str = "veto.presence.v1.";

/// Every presence subject: what daemons subscribe to.
pub const PRESENCE_SUBJECTS: &str = "veto.presence.v1.>";

/// The presence encoding version this crate writes and reads.
pub const PRESENCE_VERSION: u32 = 1;

/// The longest service name or instance id, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// The longest library version a report may carry, in bytes.
pub const MAX_VERSION_BYTES: usize = 64;

/// The largest report a reader accepts, in bytes (a real one is about 350).
pub const MAX_REPORT_BYTES: usize = 4096;

/// Why a presence subject or report is not one veto accepts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PresenceError {
    /// A service name or instance id that cannot be a subject token.
    #[error(
        "{field} {value:?} is not a valid name: use 1 to {MAX_NAME_BYTES} ASCII letters, digits, '-' or '_'"
    )]
    InvalidName {
        /// `service` or `instance`.
        field: &'static str,
        /// The name, as given (shown escaped).
        value: String,
    },
    /// Not JSON, or not of a report's shape.
    #[error("malformed presence report: {0}")]
    Json(#[from] serde_json::Error),
    /// Written by a version of veto this one does not read.
    #[error("unsupported presence version {found} (this build reads {PRESENCE_VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// Larger than [`MAX_REPORT_BYTES`].
    #[error("a presence report of {0} bytes is over the {MAX_REPORT_BYTES}-byte limit")]
    TooLarge(usize),
    /// A subject that is not `veto.presence.v1.<service>.<instance>`.
    #[error("{0:?} is not a presence subject")]
    NotPresenceSubject(String),
    /// A version that is not short printable ASCII (it is shown in logs, tables and
    /// the console).
    #[error("the version is not 1 to {MAX_VERSION_BYTES} printable ASCII characters")]
    InvalidVersion,
    /// A report about another instance than its subject names.
    #[error("a report about {reported} arrived on the subject of {subject}")]
    SubjectMismatch {
        /// `service.instance` of the subject.
        subject: String,
        /// `service.instance` of the report.
        reported: String,
    },
}

impl PresenceError {
    /// A stable, short code for metrics labels.
    pub const fn code(&self) -> &'static str {
        match self {
            PresenceError::InvalidName { .. } => "invalid_name",
            PresenceError::Json(_) => "malformed",
            PresenceError::UnsupportedVersion { .. } => "unsupported_version",
            PresenceError::TooLarge(_) => "too_large",
            PresenceError::NotPresenceSubject(_) => "not_presence_subject",
            PresenceError::InvalidVersion => "invalid_version",
            PresenceError::SubjectMismatch { .. } => "subject_mismatch",
        }
    }
}

/// Checks a service name or instance id: 1 to [`MAX_NAME_BYTES`] of `[A-Za-z0-9_-]`, so
/// that it is one subject token, no wildcard, and safe in logs and metrics labels.
pub fn validate_name(field: &'static str, name: &str) -> Result<(), PresenceError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(PresenceError::InvalidName {
            field,
            value: name.chars().take(MAX_NAME_BYTES + 8).collect(),
        })
    }
}

/// The subject `instance` of `service` reports on.
pub fn presence_subject(service: &str, instance: &str) -> Result<String, PresenceError> {
    validate_name("service", service)?;
    validate_name("instance", instance)?;
    Ok(format!("{PRESENCE_SUBJECT_PREFIX}{service}.{instance}"))
}

/// The wildcard subject of every instance of `service` (what its NATS user may publish).
pub fn service_presence_subjects(service: &str) -> Result<String, PresenceError> {
    validate_name("service", service)?;
    Ok(format!("{PRESENCE_SUBJECT_PREFIX}{service}.*"))
}

/// The service and instance a presence subject names.
pub fn parse_presence_subject(subject: &str) -> Result<(&str, &str), PresenceError> {
    let not_presence = || PresenceError::NotPresenceSubject(subject.chars().take(200).collect());
    let rest = subject
        .strip_prefix(PRESENCE_SUBJECT_PREFIX)
        .ok_or_else(not_presence)?;
    let (service, instance) = rest.split_once('.').ok_or_else(not_presence)?;
    validate_name("service", service)?;
    validate_name("instance", instance)?;
    Ok((service, instance))
}

/// An instance's freshness, as its list judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Ready, and a daemon tick applied within its `max_staleness`.
    Fresh,
    /// Ready, but no daemon tick applied within its `max_staleness`.
    Stale,
    /// Still loading what the stream held when it started: checks answer "not ready".
    NotReady,
}

impl Freshness {
    /// The name on the wire and in metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::Stale => "stale",
            Freshness::NotReady => "not_ready",
        }
    }
}

impl fmt::Display for Freshness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bloom filter of an instance's serving replica.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BloomReport {
    /// Keys inserted since it was built.
    pub keys: u64,
    /// Keys whose rule is gone (lifted or expired); a rebuild drops them.
    pub dead: u64,
    /// The number of keys it was sized for.
    pub capacity: u64,
    /// Its memory, in bytes.
    pub bytes: u64,
}

/// One presence report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceReport {
    /// The service (the NATS permissions are per service).
    pub service: String,
    /// This instance; a restart with the same id is the same instance.
    pub instance: String,
    /// The client library's version.
    pub version: String,
    /// The highest stream sequence the serving replica applied (0: none yet).
    pub applied_sequence: u64,
    /// Fresh, stale or not ready.
    pub freshness: Freshness,
    /// Milliseconds since the daemon clock of the newest tick applied; absent before
    /// the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_age_ms: Option<u64>,
    /// Live rules held.
    pub rules: u64,
    /// The bloom filter.
    pub bloom: BloomReport,
    /// How often this instance reports when nothing changes, in milliseconds: a reader
    /// counts an instance gone after missing a few of these.
    pub heartbeat_ms: u64,
    /// When this instance's list started, ms since the epoch: a later start with the
    /// same instance id is a restart.
    pub started_unix_ms: u64,
    /// Reports sent since the list started (1 for the first): with `started_unix_ms`,
    /// orders reports, so that a late one never overwrites a newer one.
    pub report: u64,
}

/// The envelope on the wire: the report with its version first.
#[derive(Serialize)]
struct Outgoing<'a> {
    v: u32,
    #[serde(flatten)]
    report: &'a PresenceReport,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u32,
}

impl PresenceReport {
    /// The subject this report belongs on.
    pub fn subject(&self) -> Result<String, PresenceError> {
        presence_subject(&self.service, &self.instance)
    }

    /// The report's bytes: `{"v":1,"service":…,…}`.
    pub fn encode(&self) -> Vec<u8> {
        // Plain data with string keys: serializing cannot fail.
        serde_json::to_vec(&Outgoing {
            v: PRESENCE_VERSION,
            report: self,
        })
        .unwrap_or_default()
    }

    /// Reads a report that arrived on `subject`: the right version, valid names, and
    /// about the instance the subject names.
    pub fn decode_on(subject: &str, bytes: &[u8]) -> Result<PresenceReport, PresenceError> {
        if bytes.len() > MAX_REPORT_BYTES {
            return Err(PresenceError::TooLarge(bytes.len()));
        }
        let (service, instance) = parse_presence_subject(subject)?;
        // The version first, so that a later version's other shape says so.
        let VersionOnly { v } = serde_json::from_slice(bytes)?;
        if v != PRESENCE_VERSION {
            return Err(PresenceError::UnsupportedVersion { found: v });
        }
        // `v` is one more field the report's shape ignores.
        let report: PresenceReport = serde_json::from_slice(bytes)?;
        if report.service != service || report.instance != instance {
            return Err(PresenceError::SubjectMismatch {
                subject: format!("{service}.{instance}"),
                reported: format!(
                    "{}.{}",
                    report.service.escape_debug(),
                    report.instance.escape_debug()
                ),
            });
        }
        let printable = |byte: u8| byte.is_ascii_graphic() || byte == b' ';
        if report.version.is_empty()
            || report.version.len() > MAX_VERSION_BYTES
            || !report.version.bytes().all(printable)
        {
            return Err(PresenceError::InvalidVersion);
        }
        Ok(report)
    }

    /// Whether this report is newer than `other` from the same instance: a later start,
    /// or the same start and a later report.
    pub fn is_newer_than(&self, other: &PresenceReport) -> bool {
        (self.started_unix_ms, self.report) > (other.started_unix_ms, other.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::{RULE_SUBJECT_PREFIX, STREAM_SUBJECTS, TICK_SUBJECT};

    fn report() -> PresenceReport {
        PresenceReport {
            service: "orders".into(),
            instance: "orders-7d9f".into(),
            version: "0.1.0".into(),
            applied_sequence: 42,
            freshness: Freshness::Fresh,
            tick_age_ms: Some(310),
            rules: 3,
            bloom: BloomReport {
                keys: 3,
                dead: 0,
                capacity: 65_536,
                bytes: 98_304,
            },
            heartbeat_ms: 5000,
            started_unix_ms: 1_900_000_000_000,
            report: 7,
        }
    }

    /// A NATS subject pattern match (`*` one token, `>` the rest).
    fn matches(pattern: &str, subject: &str) -> bool {
        let mut tokens = subject.split('.');
        for wanted in pattern.split('.') {
            match (wanted, tokens.next()) {
                (">", Some(_)) => return true,
                ("*", Some(_)) => {}
                (wanted, Some(token)) if wanted == token => {}
                _ => return false,
            }
        }
        tokens.next().is_none()
    }

    #[test]
    fn presence_is_never_captured_by_the_stream() {
        let subject = presence_subject("orders", "orders-1").unwrap();
        assert_eq!(subject, "veto.presence.v1.orders.orders-1");
        // Neither today's stream subjects nor those of a stream an earlier daemon made.
        for pattern in STREAM_SUBJECTS
            .iter()
            .copied()
            .chain([crate::subject::FORMER_STREAM_SUBJECTS])
        {
            assert!(!matches(pattern, &subject), "the stream would store it");
            assert!(!matches(pattern, PRESENCE_SUBJECTS));
        }
        assert!(matches(PRESENCE_SUBJECTS, &subject));
        let own = service_presence_subjects("orders").unwrap();
        assert!(matches(&own, &subject));
        assert!(!matches(&own, "veto.presence.v1.billing.b-1"));
        // And the pattern helper agrees with NATS on the stream's own subjects.
        let captured = |subject: &str| STREAM_SUBJECTS.iter().any(|pattern| matches(pattern, subject));
        assert!(captured(TICK_SUBJECT));
        assert!(captured(&format!("{RULE_SUBJECT_PREFIX}jti.00")));
    }

    #[test]
    fn names_are_single_subject_tokens() {
        for bad in ["", "a.b", "a*", ">", "a b", "ü", &"x".repeat(65)] {
            assert!(presence_subject(bad, "i").is_err(), "{bad:?}");
            assert!(presence_subject("s", bad).is_err(), "{bad:?}");
        }
        assert!(presence_subject("orders_api-2", &"i".repeat(64)).is_ok());
        assert_eq!(
            parse_presence_subject("veto.presence.v1.orders.o-1").unwrap(),
            ("orders", "o-1")
        );
        for bad in [
            "veto.presence.v1.orders",
            "veto.presence.v1.orders.a.b",
            "veto.v1.presence.orders.a",
        ] {
            assert!(parse_presence_subject(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reports_round_trip_and_are_bound_to_their_subject() {
        let report = report();
        let subject = report.subject().unwrap();
        let bytes = report.encode();
        assert!(bytes.starts_with(br#"{"v":1,"service":"orders""#));
        assert_eq!(PresenceReport::decode_on(&subject, &bytes).unwrap(), report);
        let other = PresenceReport::decode_on("veto.presence.v1.orders.someone-else", &bytes);
        assert!(matches!(other, Err(PresenceError::SubjectMismatch { .. })));
        let v2 = String::from_utf8(bytes.clone())
            .unwrap()
            .replacen("\"v\":1", "\"v\":2", 1);
        assert!(matches!(
            PresenceReport::decode_on(&subject, v2.as_bytes()),
            Err(PresenceError::UnsupportedVersion { found: 2 })
        ));
        let extra = String::from_utf8(bytes)
            .unwrap()
            .replacen('{', "{\"later\":true,", 1);
        assert_eq!(
            PresenceReport::decode_on(&subject, extra.as_bytes()).unwrap(),
            report,
            "unknown fields are ignored"
        );
        assert!(PresenceReport::decode_on(&subject, &[b' '; MAX_REPORT_BYTES + 1]).is_err());
        assert!(PresenceReport::decode_on(&subject, b"[1]").is_err());
        let escape = PresenceReport {
            version: "0.1\u{1b}[2J".into(),
            ..report.clone()
        };
        assert!(matches!(
            PresenceReport::decode_on(&subject, &escape.encode()),
            Err(PresenceError::InvalidVersion)
        ));
    }

    #[test]
    fn a_restart_is_newer_than_any_report_before_it() {
        let first = report();
        let later = PresenceReport {
            report: 8,
            ..first.clone()
        };
        let restarted = PresenceReport {
            started_unix_ms: first.started_unix_ms + 1,
            report: 1,
            ..first.clone()
        };
        assert!(later.is_newer_than(&first) && !first.is_newer_than(&later));
        assert!(restarted.is_newer_than(&later));
    }
}
