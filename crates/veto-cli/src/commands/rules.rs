//! `veto lift`, `veto get`, `veto list`: keyed and paged access to live rules.

use std::fmt::Write as _;

use serde_json::{Value, json};
use veto_proto::{RuleKind, UnixSeconds};

use crate::cli::{GetArgs, KindArg, LiftArgs, ListArgs};
use crate::error::CliError;
use crate::output::{Report, receipt, rule_details, rule_label, stored_rule, write_exit};
use crate::times::describe;
use veto_api::{AdminClient, ListQuery, RuleKey, RuleResponse};

/// The key a command line names, checked before anything is sent: a path with an
/// empty or missing value would reach another route, and the daemon's answer
/// ("no such route") would not say what was wrong.
pub fn key_of(kind: KindArg, value: Option<String>, iss: Option<String>) -> Result<RuleKey, CliError> {
    let kind = RuleKind::from(kind);
    match (kind.has_value(), &value) {
        (true, None) => Err(CliError::usage(format!("a {kind} rule needs a value"))),
        (true, Some(value)) if value.is_empty() => Err(CliError::usage("the value is empty")),
        (false, Some(_)) => Err(CliError::usage("an all rule takes no value")),
        _ => Ok(RuleKey { kind, value, iss }),
    }
}

/// `veto lift` (with `--wait`: and who has applied the lift; exit 5 when some had not).
pub async fn lift(api: &AdminClient, args: LiftArgs) -> Result<Report, CliError> {
    let key = key_of(args.kind, args.value, args.scope.iss)?;
    let api = match args.wait.wait() {
        Some(wait) => api.waiting_for(wait),
        None => api.clone(),
    };
    let reply = api.lift(&key, args.scope.reason.as_deref()).await?;
    let lifted = &reply.body.lifted;
    let mut human = format!("lifted: {}\n", rule_label(lifted));
    let _ = writeln!(human, "  tombstone at sequence {}", reply.body.sequence);
    human.push_str("  the rule was:\n");
    for line in rule_details(lifted, UnixSeconds::now()).lines() {
        let _ = writeln!(human, "  {line}");
    }
    let applied_by = reply.body.applied_by.as_ref();
    if let Some(applied_by) = applied_by {
        human.push_str(&receipt(applied_by));
    }
    Ok(Report {
        exit: write_exit(applied_by),
        human,
        json: reply.json,
    })
}

/// `veto get`.
pub async fn get(api: &AdminClient, args: GetArgs) -> Result<Report, CliError> {
    let key = key_of(args.kind, args.value, args.iss)?;
    let reply = api.get(&key).await?;
    Ok(Report::ok(
        stored_rule(&reply.body, UnixSeconds::now()),
        reply.json,
    ))
}

/// `veto list`: one page (the API's JSON), or with `--all-pages` every page (one JSON
/// object with every item).
/// The query of one page.
fn list_query(kind: Option<RuleKind>, limit: Option<u16>, cursor: Option<&str>) -> ListQuery {
    ListQuery {
        kind: kind.map(|kind| kind.as_str().to_owned()),
        limit: limit.map(usize::from),
        cursor: cursor.map(str::to_owned),
    }
}

pub async fn list(api: &AdminClient, args: ListArgs) -> Result<Report, CliError> {
    let kind = args.kind.map(RuleKind::from);
    if !args.all_pages {
        let page = api
            .list(&list_query(kind, args.limit, args.cursor.as_deref()))
            .await?;
        let human = rules_text(&page.body.items, page.body.next_cursor.as_deref());
        return Ok(Report::ok(human, page.json));
    }
    let mut cursor = args.cursor;
    let mut items = Vec::new();
    let mut items_json = Vec::new();
    loop {
        let page = api.list(&list_query(kind, args.limit, cursor.as_deref())).await?;
        if let Some(page_items) = page.json.get("items").and_then(Value::as_array) {
            items_json.extend(page_items.iter().cloned());
        }
        items.extend(page.body.items);
        match page.body.next_cursor {
            // A daemon that hands back the cursor it was given would page forever.
            Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                return Err(CliError::UnexpectedResponse {
                    what: api.base_url(),
                    detail: format!("next_cursor {next:?} repeats the cursor of the page"),
                });
            }
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let json = json!({ "items": items_json, "next_cursor": null });
    Ok(Report::ok(rules_text(&items, None), json))
}

/// One line per rule, a count, and how to get the next page if there is one.
fn rules_text(items: &[RuleResponse], next_cursor: Option<&str>) -> String {
    let now = UnixSeconds::now();
    let mut human = String::new();
    for stored in items {
        let rule = &stored.rule;
        human.push_str(&rule_label(rule));
        if let Some(issued_before) = rule.issued_before {
            let _ = write!(human, "  issued before {}", describe(issued_before, now));
        }
        let _ = writeln!(human, "  expires {}", describe(rule.expires_at, now));
    }
    let plural = if items.len() == 1 { "" } else { "s" };
    let _ = writeln!(human, "{} live rule{plural}", items.len());
    if let Some(next) = next_cursor {
        let _ = writeln!(human, "more: --cursor {next} (or --all-pages)");
    }
    human
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_before_anything_is_sent() {
        assert!(key_of(KindArg::Jti, Some("t-1".into()), None).is_ok());
        assert!(key_of(KindArg::All, None, Some("https://idp".into())).is_ok());
        for (kind, value) in [
            (KindArg::Jti, None),
            (KindArg::Sub, Some(String::new())),
            (KindArg::All, Some("x".into())),
        ] {
            assert!(matches!(key_of(kind, value, None), Err(CliError::Usage(_))));
        }
    }
}
