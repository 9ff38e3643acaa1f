//! `veto revoke jti|sub|sid|all`: `POST /v1/revocations`.

use veto_proto::{RuleKind, UnixSeconds};

use crate::cli::{RevokeCommand, RevokeIssuedBeforeArgs, WaitArgs};
use crate::error::CliError;
use crate::output::{Report, receipt, stored_rule, write_exit};
use veto_api::{AdminClient, RevokeRequest};

/// The request a `veto revoke` command line asks for. Absent instants stay absent so
/// that the daemon applies its own defaults (its clock, its clock-skew allowance).
pub fn request_of(command: RevokeCommand) -> RevokeRequest {
    let issued_before_rule = |kind: RuleKind, args: RevokeIssuedBeforeArgs| RevokeRequest {
        kind,
        value: Some(args.value),
        iss: args.scope.iss,
        exp: None,
        issued_before: args.before,
        reason: args.scope.reason,
    };
    match command {
        RevokeCommand::Jti(args) => RevokeRequest {
            kind: RuleKind::Jti,
            value: Some(args.value),
            iss: args.scope.iss,
            exp: args.exp,
            issued_before: None,
            reason: args.scope.reason,
        },
        RevokeCommand::Sub(args) => issued_before_rule(RuleKind::Sub, args),
        RevokeCommand::Sid(args) => issued_before_rule(RuleKind::Sid, args),
        RevokeCommand::All(args) => RevokeRequest {
            kind: RuleKind::All,
            value: None,
            iss: args.scope.iss,
            exp: None,
            issued_before: Some(args.before),
            reason: args.scope.reason,
        },
    }
}

/// The `--wait` of a revoke command line.
fn wait_args(command: &RevokeCommand) -> &WaitArgs {
    match command {
        RevokeCommand::Jti(args) => &args.wait,
        RevokeCommand::Sub(args) | RevokeCommand::Sid(args) => &args.wait,
        RevokeCommand::All(args) => &args.wait,
    }
}

/// Revokes, and reports the rule as stored (merged with any earlier one for the key);
/// with `--wait`, also who has applied it (exit 5 when some had not in time).
pub async fn run(api: &AdminClient, command: RevokeCommand) -> Result<Report, CliError> {
    let api = match wait_args(&command).wait() {
        Some(wait) => api.waiting_for(wait),
        None => api.clone(),
    };
    let answer = api.revoke(&request_of(command)).await?;
    let heading = if answer.replayed {
        "already revoked (a stored rule covers this; nothing new was published):"
    } else {
        "revoked:"
    };
    let mut human = format!(
        "{heading} {}",
        stored_rule(&answer.reply.body, UnixSeconds::now())
    );
    let applied_by = answer.reply.body.applied_by.as_ref();
    if let Some(applied_by) = applied_by {
        human.push_str(&receipt(applied_by));
    }
    Ok(Report {
        exit: write_exit(applied_by),
        human,
        json: answer.reply.json,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn request(args: &[&str]) -> RevokeRequest {
        let cli = Cli::try_parse_from(args).expect("parses");
        let Command::Revoke(command) = cli.command else {
            panic!("not a revoke command");
        };
        request_of(command)
    }

    #[test]
    fn each_kind_sends_only_its_own_instant() {
        let jti = request(&[
            "veto",
            "revoke",
            "jti",
            "t-1",
            "--exp",
            "1900000000",
            "--reason",
            "r",
        ]);
        assert_eq!(
            serde_json::to_value(&jti).expect("json"),
            serde_json::json!({"kind": "jti", "value": "t-1", "exp": 1_900_000_000, "reason": "r"})
        );
        let sid = request(&["veto", "revoke", "sid", "s-1", "--iss", "https://idp"]);
        assert_eq!(
            serde_json::to_value(&sid).expect("json"),
            serde_json::json!({"kind": "sid", "value": "s-1", "iss": "https://idp"})
        );
        let all = request(&["veto", "revoke", "all", "--before", "1900000000"]);
        assert_eq!(
            serde_json::to_value(&all).expect("json"),
            serde_json::json!({"kind": "all", "issued_before": 1_900_000_000})
        );
    }
}
