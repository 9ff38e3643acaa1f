//! The issuers a rule may be scoped to.
//!
//! A rule's `iss` is compared with tokens' `iss` byte for byte, so a scope with a typo
//! (a trailing slash, another case) matches no token, ever, while the caller is told
//! 201. When the deployment names its issuers, a scope that is none of them is refused
//! (`unknown_issuer`, 422). The issuers are the union of:
//!
//! - `tokens.issuers`: an explicit list, for issuers whose tokens services accept but
//!   vetod does not validate itself;
//! - `[oauth].issuers`: the issuers whose tokens RFC 7009 revokes (the services');
//! - `[auth.jwt].issuers`: the admins' issuers (admin tokens are tokens too).
//!
//! When none is configured anywhere, any scope is taken (a deployment with API keys only
//! has told vetod nothing to check against). Lifts and reads are not checked: a rule
//! stored before an issuer was removed must stay reachable.

use std::collections::BTreeSet;

use veto_api::ErrorCode;

use crate::config::Settings;
use crate::error::ApiError;

/// How many issuers a refusal names.
const NAMED_IN_MESSAGES: usize = 5;

/// The issuers a rule may be scoped to; empty means any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownIssuers(BTreeSet<String>);

impl KnownIssuers {
    /// The issuers `settings` name (see the module documentation).
    pub fn from_settings(settings: &Settings) -> KnownIssuers {
        let admin = settings
            .auth
            .jwt
            .iter()
            .flat_map(|jwt| jwt.validation.issuers.iter());
        let oauth = settings.oauth.iter().flat_map(|oauth| oauth.issuers.iter());
        KnownIssuers(
            settings
                .tokens
                .issuers
                .iter()
                .chain(admin)
                .chain(oauth)
                .cloned()
                .collect(),
        )
    }

    /// Whether a rule may be scoped to `iss` (an unscoped rule always may).
    pub fn check(&self, iss: Option<&str>) -> Result<(), ApiError> {
        match iss {
            Some(iss) if !self.0.is_empty() && !self.0.contains(iss) => {
                let mut named: Vec<&str> = self
                    .0
                    .iter()
                    .map(String::as_str)
                    .take(NAMED_IN_MESSAGES)
                    .collect();
                if self.0.len() > NAMED_IN_MESSAGES {
                    named.push("…");
                }
                Err(ApiError::new(
                    ErrorCode::UnknownIssuer,
                    format!(
                        "iss {iss:?} is none of the configured issuers ({}); a rule scoped to it \
                         would match no token (issuers are compared exactly)",
                        named.join(", ")
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_issuer_is_known_and_none_means_any() {
        let mut settings = Settings::default();
        assert_eq!(
            KnownIssuers::from_settings(&settings).check(Some("https://x")),
            Ok(())
        );
        settings.tokens.issuers = vec!["https://a.example".into()];
        let known = KnownIssuers::from_settings(&settings);
        assert_eq!(known.check(Some("https://a.example")), Ok(()));
        assert_eq!(known.check(None), Ok(()));
        let refused = known.check(Some("https://a.example/")).unwrap_err();
        assert_eq!(refused.code(), ErrorCode::UnknownIssuer);
        assert!(
            refused.message().contains("https://a.example"),
            "{}",
            refused.message()
        );
    }
}
