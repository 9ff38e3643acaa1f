//! `veto token inspect`: what a token says (NOT verified) and whether a live rule
//! revokes it, asked of the daemon key by key.

use std::fmt::Write as _;
use std::io::Read as _;

use futures_util::future::try_join_all;
use serde_json::{Value, json};
use veto_proto::{RuleKind, UnixSeconds};

use crate::cli::InspectArgs;
use crate::error::{CliError, Exit};
use crate::output::{Report, rule_details, rule_label};
use crate::times::describe;
use crate::token::{TokenClaims, UnverifiedToken, decode_unverified};
use veto_api::{AdminClient, Reply, RuleKey, RuleResponse};

/// More than any sane token; reading stops there so a wrong pipe cannot fill memory.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// A live rule found for one of the token's keys, and whether it revokes the token.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The rule as the API returned it.
    pub stored: Reply<RuleResponse>,
    /// Whether it revokes this token now ([`veto_proto::RevocationRule::matches`]).
    pub revokes: bool,
}

/// Every key a rule revoking this token could have: for `jti`, `sub` and `sid` (when
/// the token has them) and for `all`, the rule scoped to the token's issuer (when it
/// has one) and the unscoped rule.
pub fn candidate_keys(claims: &TokenClaims) -> Vec<RuleKey> {
    let valued = [
        (RuleKind::Jti, claims.jti.as_deref()),
        (RuleKind::Sub, claims.sub.as_deref()),
        (RuleKind::Sid, claims.sid.as_deref()),
    ];
    let mut keys = Vec::new();
    let mut both_scopes = |kind: RuleKind, value: Option<&str>| {
        let value = value.map(str::to_owned);
        if let Some(iss) = &claims.iss {
            keys.push(RuleKey {
                kind,
                value: value.clone(),
                iss: Some(iss.clone()),
            });
        }
        keys.push(RuleKey {
            kind,
            value,
            iss: None,
        });
    };
    for (kind, value) in valued {
        // An empty claim cannot have a rule (values are 1 to 256 bytes).
        if let Some(value) = value.filter(|value| !value.is_empty()) {
            both_scopes(kind, Some(value));
        }
    }
    both_scopes(RuleKind::All, None);
    keys
}

/// Asks the daemon for the live rule of every candidate key, at once.
pub async fn find_rules(api: &AdminClient, token: &UnverifiedToken) -> Result<Vec<Finding>, CliError> {
    let keys = candidate_keys(&token.claims);
    let lookups = keys.iter().map(|key| async move {
        match api.get(key).await {
            Ok(stored) => Ok(Some(stored)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(CliError::from(error)),
        }
    });
    let now = UnixSeconds::now();
    let facts = token.claims.facts();
    Ok(try_join_all(lookups)
        .await?
        .into_iter()
        .flatten()
        .map(|stored| Finding {
            revokes: stored.body.rule.matches(&facts, now),
            stored,
        })
        .collect())
}

/// `veto token inspect`.
pub async fn run(api: &AdminClient, args: InspectArgs) -> Result<Report, CliError> {
    let text = if args.jwt == "-" { read_stdin()? } else { args.jwt };
    let token = decode_unverified(&text)
        .map_err(|error| CliError::usage(format!("cannot read the token: {error}")))?;
    let findings = if args.offline {
        None
    } else {
        Some(find_rules(api, &token).await?)
    };
    Ok(report(&token, findings.as_deref(), UnixSeconds::now()))
}

/// Reads the token from stdin. Blocking is fine here: nothing else runs yet.
fn read_stdin() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .take(MAX_TOKEN_BYTES)
        .read_to_string(&mut text)
        .map_err(|error| CliError::usage(format!("reading the token from stdin: {error}")))?;
    Ok(text)
}

/// The report; `findings` is `None` when the daemon was not asked.
pub fn report(token: &UnverifiedToken, findings: Option<&[Finding]>, now: UnixSeconds) -> Report {
    let (header, claims) = (&token.header, &token.claims);
    let mut human = String::from("token (NOT verified: the signature was not checked)\n");
    let text = |value: &Option<String>| {
        value
            .as_ref()
            .map_or_else(|| "-".to_owned(), |value| format!("{value:?}"))
    };
    let instant = |value: Option<UnixSeconds>| value.map_or_else(|| "-".to_owned(), |at| describe(at, now));
    for (name, shown) in [
        ("alg", text(&header.alg)),
        ("kid", text(&header.kid)),
        ("jti", text(&claims.jti)),
        ("sub", text(&claims.sub)),
        ("sid", text(&claims.sid)),
        ("iss", text(&claims.iss)),
        ("iat", instant(claims.iat)),
        ("exp", instant(claims.exp)),
    ] {
        let _ = writeln!(human, "  {name}  {shown}");
    }
    if claims.iat.is_none() {
        human.push_str("  (no iat: sub, sid and all rules treat it as issued at the epoch)\n");
    }

    let revoking = findings.map_or(0, |found| found.iter().filter(|finding| finding.revokes).count());
    match findings {
        None => human.push_str("revocation: not checked (--offline)\n"),
        Some(found) => {
            for finding in found.iter().filter(|finding| finding.revokes) {
                let _ = writeln!(human, "REVOKED by {}", rule_label(&finding.stored.body.rule));
                human.push_str(&rule_details(&finding.stored.body.rule, now));
            }
            for finding in found.iter().filter(|finding| !finding.revokes) {
                let rule = &finding.stored.body.rule;
                let why = if now >= rule.expires_at {
                    "it has expired"
                } else {
                    "the token was issued at or after its issued_before"
                };
                let _ = writeln!(human, "not revoked by {}: {why}", rule_label(rule));
            }
            if revoking == 0 {
                human.push_str("revocation: no live rule revokes this token\n");
            }
        }
    }

    let json = json!({
        "verified": false,
        "header": header,
        "claims": claims,
        "checked": findings.is_some(),
        "revoked": revoking > 0,
        "rules": findings.unwrap_or_default().iter().map(|finding| json!({
            "revokes": finding.revokes,
            "stored": finding.stored.json,
        })).collect::<Vec<Value>>(),
    });
    Report {
        human,
        json,
        exit: if revoking > 0 { Exit::Revoked } else { Exit::Ok },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(iss: Option<&str>, sid: Option<&str>) -> TokenClaims {
        TokenClaims {
            jti: Some("t-1".into()),
            sub: Some("alice".into()),
            sid: sid.map(str::to_owned),
            iss: iss.map(str::to_owned),
            iat: None,
            exp: None,
        }
    }

    #[test]
    fn every_kind_is_asked_in_both_scopes() {
        let keys = candidate_keys(&claims(Some("https://idp"), Some("s-1")));
        assert_eq!(keys.len(), 8);
        let scoped = keys.iter().filter(|key| key.iss.is_some()).count();
        assert_eq!(scoped, 4);
        assert!(
            keys.iter()
                .any(|key| key.kind == RuleKind::All && key.value.is_none())
        );
    }

    #[test]
    fn without_issuer_or_claim_only_what_exists_is_asked() {
        let keys = candidate_keys(&claims(None, None));
        let kinds: Vec<RuleKind> = keys.iter().map(|key| key.kind).collect();
        assert_eq!(kinds, [RuleKind::Jti, RuleKind::Sub, RuleKind::All]);
    }
}
