//! `[idp]`: the identity providers that feed veto directly. One section per OpenID
//! provider (`[idp.oidc.<name>]`, back-channel logout) and per Shared Signals
//! transmitter (`[idp.ssf.<name>]`); the name labels metrics and logs. Like every
//! setting, each can come from the environment: `VETO_IDP__OIDC__KEYCLOAK__ISSUER=…`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use veto_api::routes;
use veto_proto::validate::MAX_PRINCIPAL_BYTES;

use crate::config::JwtSection;

/// Identity providers and their receivers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdpSection {
    /// Where OpenID providers post logout tokens. Default `/oidc/backchannel-logout`.
    pub backchannel_logout_path: String,
    /// Where Shared Signals transmitters push SETs. Default `/ssf/events`.
    pub ssf_events_path: String,
    /// OpenID providers whose back-channel logout tokens are accepted, by name.
    pub oidc: BTreeMap<String, OidcProviderSection>,
    /// Shared Signals transmitters whose SETs are accepted, by name.
    pub ssf: BTreeMap<String, SsfTransmitterSection>,
    /// How many received token ids are remembered to refuse replays. Default 100 000.
    pub replay_cache_capacity: usize,
}

impl Default for IdpSection {
    fn default() -> Self {
        IdpSection {
            backchannel_logout_path: routes::OIDC_BACKCHANNEL_LOGOUT.to_owned(),
            ssf_events_path: routes::SSF_EVENTS.to_owned(),
            oidc: BTreeMap::new(),
            ssf: BTreeMap::new(),
            replay_cache_capacity: 100_000,
        }
    }
}

/// An OpenID provider that sends back-channel logout tokens.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderSection {
    /// Its issuer identifier: the `iss` of its tokens, and the scope of the rules.
    pub issuer: String,
    /// Its JWKS URL (https, or http on loopback).
    pub jwks_url: String,
    /// The client ids its logout tokens are addressed to (`aud`): every client whose
    /// back-channel logout URL is veto's.
    pub client_ids: Vec<String>,
    /// Accepted signing algorithms. Default `["ES256"]` (Keycloak signs with `RS256`).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock leeway for `exp`, `nbf` and `iat`. Default 30 s.
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
}

/// A Shared Signals transmitter that pushes SETs (RFC 8935).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsfTransmitterSection {
    /// Its issuer: the `iss` of its SETs.
    pub issuer: String,
    /// Its JWKS URL (https, or http on loopback).
    pub jwks_url: String,
    /// veto's audience at this transmitter: the `aud` of the SETs it sends.
    pub audience: String,
    /// The SHA-256 (hex) of the bearer token the transmitter sends in `Authorization`
    /// with each push (the stream's authorization header). Absent: no push
    /// authorization is required (the SET's signature still is).
    #[serde(default)]
    pub authorization_sha256: Option<String>,
    /// The issuer of the services' tokens that `opaque` and `email` subjects refer to
    /// (the scope of their rules). Default: `issuer`.
    #[serde(default)]
    pub subject_issuer: Option<String>,
    /// The token claim that holds the e-mail address of an `email` subject: only `sub`
    /// (rules match `sub`, `sid` or `jti`). Absent: `email` subjects are acknowledged
    /// and counted, not acted on.
    #[serde(default)]
    pub email_claim: Option<String>,
    /// Accepted signing algorithms. Default `["ES256"]`.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock leeway for `exp`, `nbf` and `iat`. Default 30 s.
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
}

fn default_algorithms() -> Vec<String> {
    vec!["ES256".to_owned()]
}
fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

/// The principal recorded on rules from a back-channel logout of `issuer`.
pub fn backchannel_principal(issuer: &str) -> String {
    format!("backchannel-logout:{issuer}")
}

/// The principal recorded on rules from a SET of `issuer`.
pub fn ssf_principal(issuer: &str) -> String {
    format!("ssf:{issuer}")
}

impl OidcProviderSection {
    /// What its tokens are validated against.
    pub fn validation(&self) -> JwtSection {
        JwtSection {
            issuers: vec![self.issuer.clone()],
            audiences: self.client_ids.clone(),
            jwks_url: self.jwks_url.clone(),
            algorithms: self.algorithms.clone(),
            leeway: self.leeway,
        }
    }
}

impl SsfTransmitterSection {
    /// What its SETs are validated against.
    pub fn validation(&self) -> JwtSection {
        JwtSection {
            issuers: vec![self.issuer.clone()],
            audiences: vec![self.audience.clone()],
            jwks_url: self.jwks_url.clone(),
            algorithms: self.algorithms.clone(),
            leeway: self.leeway,
        }
    }
}

/// The routes the admin API serves itself: a receiver may not take their paths.
const TAKEN_PATHS: &[&str] = &[
    routes::REVOCATIONS,
    routes::REVOCATIONS_BATCH,
    routes::OAUTH_REVOKE,
    routes::STATUS,
    routes::HEALTHZ,
    routes::READYZ,
    routes::METRICS,
    routes::OPENAPI,
];

fn check_path(setting: &str, path: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        path.starts_with('/')
            && path.len() > 1
            && !path.starts_with("/v1/")
            && !TAKEN_PATHS.contains(&path)
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c)),
        "idp.{setting} must be a path of its own such as {:?} (letters, digits, / - _ . ~; not under /v1/)",
        routes::OIDC_BACKCHANNEL_LOGOUT
    );
    Ok(())
}

fn check_name(kind: &str, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "[idp.{kind}.{name}]: a name is 1 to 64 letters, digits, '-' or '_'"
    );
    Ok(())
}

fn check_issuer(kind: &str, name: &str, issuer: &str, principal: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !issuer.is_empty() && !issuer.chars().any(char::is_control),
        "[idp.{kind}.{name}] issuer must be a non-empty issuer identifier"
    );
    anyhow::ensure!(
        principal.len() <= MAX_PRINCIPAL_BYTES,
        "[idp.{kind}.{name}] issuer is too long to be recorded as the principal {principal:?} (at most {MAX_PRINCIPAL_BYTES} bytes)"
    );
    Ok(())
}

impl IdpSection {
    /// Checks what serde cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        check_path("backchannel_logout_path", &self.backchannel_logout_path)?;
        check_path("ssf_events_path", &self.ssf_events_path)?;
        anyhow::ensure!(
            self.backchannel_logout_path != self.ssf_events_path,
            "idp.backchannel_logout_path and idp.ssf_events_path must differ"
        );
        anyhow::ensure!(
            self.replay_cache_capacity >= 1,
            "idp.replay_cache_capacity must be at least 1"
        );
        let mut issuers = BTreeSet::new();
        for (name, provider) in &self.oidc {
            check_name("oidc", name)?;
            check_issuer(
                "oidc",
                name,
                &provider.issuer,
                &backchannel_principal(&provider.issuer),
            )?;
            anyhow::ensure!(
                issuers.insert(provider.issuer.as_str()),
                "[idp.oidc.{name}]: another OpenID provider has the issuer {:?}",
                provider.issuer
            );
            anyhow::ensure!(
                !provider.client_ids.is_empty() && provider.client_ids.iter().all(|id| !id.is_empty()),
                "[idp.oidc.{name}] client_ids must list the client ids its logout tokens are addressed to"
            );
        }
        let mut issuers = BTreeSet::new();
        for (name, transmitter) in &self.ssf {
            check_name("ssf", name)?;
            check_issuer(
                "ssf",
                name,
                &transmitter.issuer,
                &ssf_principal(&transmitter.issuer),
            )?;
            anyhow::ensure!(
                issuers.insert(transmitter.issuer.as_str()),
                "[idp.ssf.{name}]: another transmitter has the issuer {:?}",
                transmitter.issuer
            );
            anyhow::ensure!(
                !transmitter.audience.is_empty(),
                "[idp.ssf.{name}] audience must be veto's audience at the transmitter"
            );
            anyhow::ensure!(
                transmitter
                    .authorization_sha256
                    .as_ref()
                    .is_none_or(|hash| hash.len() == 64 && hex::decode(hash).is_ok()),
                "[idp.ssf.{name}] authorization_sha256 must be 64 hex characters (the SHA-256 of the bearer token)"
            );
            anyhow::ensure!(
                transmitter
                    .subject_issuer
                    .as_ref()
                    .is_none_or(|issuer| !issuer.is_empty() && !issuer.chars().any(char::is_control)),
                "[idp.ssf.{name}] subject_issuer must be a non-empty issuer identifier"
            );
            anyhow::ensure!(
                transmitter
                    .email_claim
                    .as_deref()
                    .is_none_or(|claim| claim == "sub"),
                "[idp.ssf.{name}] email_claim can only be \"sub\" (rules match sub, sid or jti)"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Settings;

    /// The ```toml blocks of the README's "Identity providers" section.
    fn readme_examples() -> Vec<String> {
        let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("the README");
        let section = readme
            .split("\n## ")
            .find(|section| section.starts_with("Identity providers"))
            .expect("an Identity providers section");
        section
            .split("```toml\n")
            .skip(1)
            .map(|block| block.split("```").next().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn the_readme_examples_are_valid_settings() {
        let examples = readme_examples();
        assert_eq!(examples.len(), 2, "the Keycloak and the SSF examples");
        let settings: Settings = toml::from_str(&examples.concat()).expect("the README's TOML parses");
        settings.validate().expect("and is valid");
        let keycloak = &settings.idp.oidc["keycloak"];
        assert_eq!(keycloak.algorithms, vec!["RS256".to_owned()]);
        assert_eq!(keycloak.client_ids.len(), 2);
        let transmitter = &settings.idp.ssf["acme-ssf"];
        assert_eq!(transmitter.email_claim.as_deref(), Some("sub"));
        assert_eq!(transmitter.leeway, Duration::from_secs(30));
    }

    fn with(change: impl FnOnce(&mut IdpSection)) -> anyhow::Result<()> {
        let mut section: IdpSection = toml::from_str(&readme_examples().concat())
            .map(|settings: Settings| settings.idp)
            .expect("the README's TOML");
        change(&mut section);
        section.validate()
    }

    /// A mistake, and how to make it.
    type Mistake = (&'static str, Box<dyn FnOnce(&mut IdpSection)>);

    #[test]
    fn mistakes_are_refused_at_start() {
        assert!(with(|_| {}).is_ok());
        let refused: Vec<Mistake> = vec![
            (
                "a path under /v1",
                Box::new(|idp| idp.backchannel_logout_path = "/v1/logout".into()),
            ),
            (
                "a taken path",
                Box::new(|idp| idp.ssf_events_path = routes::METRICS.into()),
            ),
            (
                "a path with a parameter",
                Box::new(|idp| idp.ssf_events_path = "/ssf/{id}".into()),
            ),
            (
                "the same path twice",
                Box::new(|idp| idp.ssf_events_path = idp.backchannel_logout_path.clone()),
            ),
            (
                "no client id",
                Box::new(|idp| idp.oidc.values_mut().for_each(|p| p.client_ids.clear())),
            ),
            (
                "an issuer too long for the principal",
                Box::new(|idp| idp.oidc.values_mut().for_each(|p| p.issuer = "x".repeat(250))),
            ),
            (
                "a duplicated issuer",
                Box::new(|idp| {
                    let copy = idp.oidc["keycloak"].clone();
                    idp.oidc.insert("again".into(), copy);
                }),
            ),
            (
                "a name with a dot",
                Box::new(|idp| {
                    let provider = idp.oidc.remove("keycloak").expect("keycloak");
                    idp.oidc.insert("key.cloak".into(), provider);
                }),
            ),
            (
                "an authorization that is no SHA-256",
                Box::new(|idp| {
                    idp.ssf
                        .values_mut()
                        .for_each(|t| t.authorization_sha256 = Some("secret".into()))
                }),
            ),
            (
                "an email claim other than sub",
                Box::new(|idp| {
                    idp.ssf
                        .values_mut()
                        .for_each(|t| t.email_claim = Some("email".into()))
                }),
            ),
            (
                "no audience",
                Box::new(|idp| idp.ssf.values_mut().for_each(|t| t.audience.clear())),
            ),
        ];
        for (mistake, change) in refused {
            assert!(with(change).is_err(), "{mistake}");
        }
    }
}
