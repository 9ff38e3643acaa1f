//! `veto check`: token facts checked by veto-client against the list loaded straight
//! from NATS, exactly as a service checks them (no daemon involved).

use std::fmt::Write as _;
use std::time::SystemTime;

use serde_json::{Value, json};
use veto_client::{ListConfig, TokenFacts, Verdict};
use veto_proto::UnixSeconds;

use crate::cli::{CheckArgs, Connection};
use crate::error::{CliError, Exit};
use crate::nats::{self, FIRST_TICK_GRACE};
use crate::output::Report;
use crate::times::{age, describe_precise, unix_ms};

/// `veto check`.
pub async fn run(connection: &Connection, args: CheckArgs) -> Result<Report, CliError> {
    let nats_url = connection
        .nats_url
        .as_deref()
        .ok_or_else(|| CliError::usage("check reads the list from NATS: set --nats-url or VETO_NATS_URL"))?;
    let client = nats::connect(nats_url, connection.timeout).await?;
    let signed = args.verify_keys.is_some();
    let list = nats::load_list(client, &connection.stream, args.verify_keys, connection.timeout).await?;
    let freshness = nats::freshness(&list, FIRST_TICK_GRACE.min(connection.timeout)).await;
    let iat_defaulted = args.iat.is_none();
    let facts = TokenFacts {
        jti: args.jti.as_deref(),
        sub: args.sub.as_deref(),
        sid: args.sid.as_deref(),
        iss: args.iss.as_deref(),
        iat: Some(args.iat.unwrap_or_else(UnixSeconds::now)),
    };
    let verdict = list.check(&facts);
    let mut report = report(verdict, freshness, SystemTime::now());
    if iat_defaulted {
        report
            .human
            .push_str("iat        now (none given: --iat sets it; --iat 0 for a token without iat)\n");
    }
    if !signed {
        report.human.push_str(
            "signatures not checked: unsigned events counted too (--verify-keys or VETO_VERIFY_KEYS checks as a production service does)\n",
        );
    }
    report.json["iat"] = json!(facts.iat.map(|iat| iat.0));
    report.json["iat_defaulted"] = json!(iat_defaulted);
    report.json["signed_only"] = json!(signed);
    Ok(report)
}

fn report(verdict: Verdict, freshness: Option<SystemTime>, now: SystemTime) -> Report {
    let mut human = format!("verdict    {verdict}\n");
    let freshness_json = match freshness {
        Some(at) => {
            let _ = writeln!(human, "freshness  {}", describe_precise(at, now));
            json!({
                "at_unix_ms": unix_ms(at),
                "age_ms": u64::try_from(age(at, now).as_millis()).unwrap_or(u64::MAX),
            })
        }
        None => {
            human.push_str(
                "freshness  unknown: no daemon tick applied, so the list may be behind (is a daemon running?)\n",
            );
            Value::Null
        }
    };
    // Judged from the tick age here rather than `list.is_stale()`: the client's watcher
    // sets that bit every 100 ms, so right after loading it can still say "stale".
    let max_staleness = ListConfig::default().max_staleness;
    let stale = freshness.is_none_or(|at| age(at, now) > max_staleness);
    if stale {
        let _ = writeln!(
            human,
            "stale      yes: no daemon tick within {}",
            humantime::format_duration(max_staleness)
        );
    }
    let revoked_kind = match verdict {
        Verdict::Revoked(kind) => Some(kind.as_str()),
        _ => None,
    };
    let json = json!({
        "verdict": verdict.as_str(),
        "kind": revoked_kind,
        "freshness": freshness_json,
        "stale": stale,
    });
    let exit = match verdict {
        Verdict::Revoked(_) => Exit::Revoked,
        Verdict::Allowed => Exit::Ok,
        // The list was ready and the policy fails open, so neither happens; if they
        // did, the answer is "cannot know", like a 503.
        Verdict::NotReady | Verdict::Stale => Exit::Unreachable,
    };
    Report { human, json, exit }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use veto_proto::RuleKind;

    use super::*;

    #[test]
    fn revoked_exits_1_and_an_old_or_missing_tick_is_stale() {
        let now = SystemTime::now();
        let revoked = report(
            Verdict::Revoked(RuleKind::Sub),
            Some(now - Duration::from_millis(300)),
            now,
        );
        assert_eq!(revoked.exit, Exit::Revoked);
        assert_eq!(revoked.json["kind"], "sub");
        assert_eq!(revoked.json["stale"], false);
        assert_eq!(revoked.json["freshness"]["age_ms"], 300);

        let old_tick = report(Verdict::Allowed, Some(now - Duration::from_secs(60)), now);
        assert_eq!(old_tick.exit, Exit::Ok);
        assert_eq!(old_tick.json["stale"], true);
        let no_tick = report(Verdict::Allowed, None, now);
        assert!(no_tick.human.contains("freshness  unknown"), "{}", no_tick.human);
        assert_eq!(no_tick.json["freshness"], Value::Null);
    }
}
