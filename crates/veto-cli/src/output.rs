//! What a command prints: text for people, JSON for scripts, and the exit code.

use std::fmt::Write as _;

use serde_json::Value;
use veto_proto::{RevocationRule, RuleKind, UnixSeconds};

use crate::error::Exit;
use crate::times::describe;
use veto_api::{AppliedBy, RuleResponse};

/// A finished command: both renderings (`--json` picks one) and the exit code.
#[derive(Debug, Clone)]
pub struct Report {
    /// The text for people, ending in a newline.
    pub human: String,
    /// The JSON for scripts.
    pub json: Value,
    /// How the process exits.
    pub exit: Exit,
}

impl Report {
    /// A report that exits 0.
    pub fn ok(human: String, json: Value) -> Report {
        Report {
            human,
            json,
            exit: Exit::Ok,
        }
    }

    /// The rendering to print.
    pub fn render(&self, json: bool) -> String {
        if json {
            // Serializing a `Value` cannot fail; the fallback is unreachable in practice.
            let mut text = serde_json::to_string_pretty(&self.json).unwrap_or_else(|_| self.json.to_string());
            text.push('\n');
            text
        } else {
            self.human.clone()
        }
    }
}

/// `jti "t-1" (every issuer)` or `all (issuer "https://idp")`: the key of a rule.
pub fn key_label(kind: RuleKind, value: Option<&str>, iss: Option<&str>) -> String {
    let mut label = kind.to_string();
    if let Some(value) = value {
        // Debug quoting escapes anything unprintable a value could smuggle to a terminal.
        let _ = write!(label, " {value:?}");
    }
    match iss {
        Some(iss) => {
            let _ = write!(label, " (issuer {iss:?})");
        }
        None => label.push_str(" (every issuer)"),
    }
    label
}

/// The key of a rule.
pub fn rule_label(rule: &RevocationRule) -> String {
    key_label(rule.kind, rule.value.as_deref(), rule.iss.as_deref())
}

/// A rule's fields, one per line, indented under a heading the caller writes.
pub fn rule_details(rule: &RevocationRule, now: UnixSeconds) -> String {
    let mut text = String::new();
    if let Some(issued_before) = rule.issued_before {
        let _ = writeln!(text, "  issued before  {}", describe(issued_before, now));
    }
    let _ = writeln!(text, "  expires at     {}", describe(rule.expires_at, now));
    if let Some(reason) = &rule.reason {
        let _ = writeln!(text, "  reason         {reason:?}");
    }
    let by = rule
        .revoked_by
        .as_deref()
        .map_or_else(String::new, |by| format!("by {by} "));
    let _ = writeln!(text, "  revoked        {by}at {}", describe(rule.revoked_at, now));
    text
}

/// A stored rule: key, fields, and where it lives in the stream.
pub fn stored_rule(stored: &RuleResponse, now: UnixSeconds) -> String {
    let mut text = format!("{}\n", rule_label(&stored.rule));
    text.push_str(&rule_details(&stored.rule, now));
    let _ = writeln!(text, "  sequence       {}", stored.sequence);
    let _ = writeln!(text, "  subject        {}", stored.subject);
    text
}

/// A write's receipt, for people: who has applied it, and who had not in time.
pub fn receipt(applied_by: &AppliedBy) -> String {
    let mut text = String::new();
    let scope = &applied_by.scope;
    if applied_by.of == 0 {
        let _ = writeln!(
            text,
            "applied by: no live instance in scope ({scope}) reports presence: nothing to wait for"
        );
    } else if applied_by.complete {
        let _ = writeln!(
            text,
            "applied by: all {} live instances ({scope}), {} ms after it was stored",
            applied_by.of, applied_by.waited_ms
        );
    } else {
        let _ = writeln!(
            text,
            "NOT applied everywhere: {} of {} live instances ({scope}) after {} ms; not yet:",
            applied_by.instances, applied_by.of, applied_by.waited_ms
        );
        for laggard in &applied_by.laggards {
            let tick_age = laggard.tick_age_ms.map_or_else(
                || "no tick yet".to_owned(),
                |age| format!("last tick {age} ms old"),
            );
            let _ = writeln!(
                text,
                "  {}/{}  applied {} (needs {}), {}, {tick_age}, last report {} ms ago",
                laggard.service,
                laggard.instance,
                laggard.applied_sequence,
                applied_by.sequence,
                laggard.state,
                laggard.last_seen_ms
            );
        }
    }
    text
}

/// The exit code of a write: 5 when it waited and not every instance applied it.
pub fn write_exit(applied_by: Option<&AppliedBy>) -> Exit {
    match applied_by {
        Some(applied_by) if !applied_by.complete => Exit::NotAppliedEverywhere,
        _ => Exit::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_quote_values_and_name_the_scope() {
        assert_eq!(
            key_label(RuleKind::Jti, Some("t-1"), None),
            "jti \"t-1\" (every issuer)"
        );
        assert_eq!(
            key_label(RuleKind::All, None, Some("https://idp")),
            "all (issuer \"https://idp\")"
        );
        assert_eq!(
            key_label(RuleKind::Sub, Some("a\u{1b}[2J"), None),
            "sub \"a\\u{1b}[2J\" (every issuer)"
        );
    }

    #[test]
    fn json_rendering_is_json() {
        let report = Report::ok("text\n".into(), serde_json::json!({"a": 1}));
        assert_eq!(report.render(false), "text\n");
        let parsed: Value = serde_json::from_str(&report.render(true)).expect("json");
        assert_eq!(parsed["a"], 1);
    }
}
