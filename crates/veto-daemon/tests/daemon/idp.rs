//! Identity providers feed veto: OIDC back-channel logout tokens and Shared Signals
//! SETs, signed by keys the test holds and shaped as the specs' own examples, against
//! the real daemon and NATS. A service's own replica of the list decides what is
//! refused.

use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use veto_client::{ListConfig, RevocationList, Verdict};
use veto_daemon::auth::hash_api_key;
use veto_daemon::idp::settings::{OidcProviderSection, SsfTransmitterSection};
use veto_proto::{Event, KeyDigest, RevocationRule, RuleKind, TokenFacts, UnixSeconds};
use veto_testkit::idp::{self, IdentityProvider};
use veto_testkit::{DaemonProcess, NatsServer};

use crate::support::*;

/// The OpenID provider (say, a Keycloak realm).
const OP: &str = "https://op.test/realms/acme";
/// The client whose back-channel logout URL is veto's.
const CLIENT_ID: &str = "orders-service";
/// The Shared Signals transmitter.
const TRANSMITTER: &str = "https://idp.example.com/123456789/";
/// veto's audience at the transmitter.
const SSF_AUDIENCE: &str = "https://veto.test/ssf";
/// The bearer token the transmitter pushes with.
const PUSH_TOKEN: &str = "ssf-push-secret";

struct Idps {
    op: IdentityProvider,
    transmitter: IdentityProvider,
    app: TestApp,
    /// A service's view of the list.
    service: RevocationList,
}

async fn spawn_with_idps() -> Idps {
    let op = within(5, "op", IdentityProvider::start(OP))
        .await
        .expect("the OpenID provider");
    let transmitter = within(5, "transmitter", IdentityProvider::start(TRANSMITTER))
        .await
        .expect("the transmitter");
    let app = spawn_app_with(|settings| {
        settings.idp.oidc.insert(
            "acme".into(),
            OidcProviderSection {
                issuer: OP.into(),
                jwks_url: op.jwks.url(),
                client_ids: vec!["another-client".into(), CLIENT_ID.into()],
                algorithms: vec!["ES256".into()],
                leeway: Duration::from_secs(30),
            },
        );
        settings.idp.ssf.insert(
            "caep".into(),
            SsfTransmitterSection {
                issuer: TRANSMITTER.into(),
                jwks_url: transmitter.jwks.url(),
                audience: SSF_AUDIENCE.into(),
                authorization_sha256: Some(hash_api_key(PUSH_TOKEN)),
                subject_issuer: None,
                email_claim: Some("sub".into()),
                algorithms: vec!["ES256".into()],
                leeway: Duration::from_secs(30),
            },
        );
    })
    .await;
    let connection = within(10, "connect", app.nats.connect()).await.expect("connect");
    let service = RevocationList::start(connection, ListConfig::default()).expect("list");
    within(30, "the service's list is ready", service.ready()).await;
    Idps {
        op,
        transmitter,
        app,
        service,
    }
}

impl Idps {
    async fn logout(&self, token: &str) -> Response {
        self.app
            .send(
                self.app
                    .request(Method::POST, "/oidc/backchannel-logout", None)
                    .form(&[("logout_token", token)]),
            )
            .await
    }

    async fn push(&self, set: &str, bearer: Option<&str>) -> Response {
        let mut request = self
            .app
            .request(Method::POST, "/ssf/events", bearer)
            .header(CONTENT_TYPE, "application/secevent+jwt")
            .body(set.to_owned());
        request = request.header("accept", "application/json");
        self.app.send(request).await
    }

    /// The service's verdict on a token of `iss` with these claims.
    fn verdict(&self, iss: &str, sub: &str, sid: Option<&str>, iat: i64) -> Verdict {
        self.service.check(&TokenFacts {
            jti: Some("any"),
            sub: Some(sub),
            sid,
            iss: Some(iss),
            iat: Some(UnixSeconds(iat)),
        })
    }

    /// Waits until the service refuses the token.
    async fn until_refused(&self, iss: &str, sub: &str, sid: Option<&str>, iat: i64) -> Verdict {
        eventually(10, "the service refuses the token", || async {
            matches!(self.verdict(iss, sub, sid, iat), Verdict::Revoked(_))
        })
        .await;
        self.verdict(iss, sub, sid, iat)
    }

    /// The stored rule for a key.
    async fn rule(&self, kind: RuleKind, iss: &str, value: &str) -> RevocationRule {
        let subject = format!(
            "veto.v1.rule.{kind}.{}",
            KeyDigest::of(kind, Some(iss), Some(value))
        );
        match self.app.last_event(&subject).await {
            Some((Event::Rule(rule), _)) => rule,
            other => panic!("a {kind} rule for {value:?} of {iss}, found {other:?}"),
        }
    }
}

async fn logout_error(response: Response) -> String {
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers().get(CACHE_CONTROL).map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"], "invalid_request", "{body}");
    body["error_description"]
        .as_str()
        .expect("a description")
        .to_owned()
}

async fn set_error(response: Response) -> (String, String) {
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("a JSON error body");
    (
        body["err"].as_str().expect("err").to_owned(),
        body["description"].as_str().expect("description").to_owned(),
    )
}

#[tokio::test]
async fn a_logout_token_with_a_sid_ends_that_session_and_no_other() {
    let idps = spawn_with_idps().await;
    let iat = now() - 10;
    assert_eq!(
        idps.verdict(OP, "248289761001", Some("session-a"), iat),
        Verdict::Allowed
    );
    let token = idps
        .op
        .logout_token(CLIENT_ID, Some("248289761001"), Some("session-a"));
    let before = now();
    let response = idps.logout(&token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get(CACHE_CONTROL).map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );

    assert_eq!(
        idps.until_refused(OP, "248289761001", Some("session-a"), iat)
            .await,
        Verdict::Revoked(RuleKind::Sid)
    );
    assert_eq!(
        idps.verdict(OP, "248289761001", Some("session-b"), iat),
        Verdict::Allowed,
        "the user's other sessions go on"
    );
    assert_eq!(
        idps.verdict("https://other.test", "248289761001", Some("session-a"), iat),
        Verdict::Allowed,
        "the rule is scoped to the provider's issuer"
    );
    let rule = idps.rule(RuleKind::Sid, OP, "session-a").await;
    assert_eq!(
        rule.revoked_by.as_deref(),
        Some(&*format!("backchannel-logout:{OP}"))
    );
    assert!(rule.reason.is_some());
    let issued_before = rule.issued_before.expect("issued_before").0;
    assert!(
        (before + 5..=now() + 5).contains(&issued_before),
        "now + clock skew: {issued_before}"
    );
    assert_eq!(idps.app.rule_subjects().await.len(), 1, "one rule, no sub rule");
}

#[tokio::test]
async fn a_logout_token_with_only_a_sub_ends_every_session_of_the_user() {
    let idps = spawn_with_idps().await;
    let iat = now() - 10;
    let response = idps
        .logout(&idps.op.logout_token(CLIENT_ID, Some("248289761001"), None))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        idps.until_refused(OP, "248289761001", Some("session-a"), iat)
            .await,
        Verdict::Revoked(RuleKind::Sub)
    );
    assert_eq!(
        idps.verdict(OP, "248289761001", None, iat),
        Verdict::Revoked(RuleKind::Sub)
    );
    assert_eq!(idps.verdict(OP, "someone-else", None, iat), Verdict::Allowed);
    let rule = idps.rule(RuleKind::Sub, OP, "248289761001").await;
    let issued_before = rule.issued_before.expect("issued_before").0;
    assert_eq!(
        idps.verdict(OP, "248289761001", None, issued_before),
        Verdict::Allowed,
        "a token issued after the logout is served"
    );
}

/// What the 400's description says for each case.
fn says(case: &str) -> &'static str {
    match case {
        "unconfigured iss" => "issuer is not configured",
        "another iss, our keys" => "issuer is not configured",
        "wrong aud" => "audience",
        "no events" => "no events",
        "events without the logout member" => "backchannel-logout member",
        "events as an array" => "events must be a JSON object",
        "nonce" => "nonce",
        "neither sid nor sub" => "sub or a sid",
        "expired" => "expired",
        "no exp" => "exp",
        "no iat" => "no iat",
        "iat in the future" => "future",
        "no jti" => "no jti",
        "alg none" => "malformed",
        "unknown kid" => "unknown kid",
        "no kid" => "no kid",
        "HS256 with the public key" => "algorithm not allowed",
        "signed by other keys" => "bad signature",
        "typ JWT" => "wrong token type",
        "typ secevent+jwt" => "wrong token type",
        "not a JWT" => "not a signed JWT",
        "a sid too long to store" => "sid cannot be revoked",
        other => panic!("no expectation for {other}"),
    }
}

#[tokio::test]
async fn every_invalid_logout_token_is_400_and_publishes_nothing() {
    let idps = spawn_with_idps().await;
    let op = &idps.op;
    let claims = || idp::logout_token_claims(OP, CLIENT_ID, Some("248289761001"), Some("sid-1"));
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims();
        change(&mut claims);
        op.sign_logout_token(&claims)
    };
    let stranger = IdentityProvider::start(OP).await.expect("same name, other keys");
    let unconfigured = IdentityProvider::start("https://unknown.test")
        .await
        .expect("another provider");
    let cases: Vec<(&str, String)> = vec![
        (
            "unconfigured iss",
            unconfigured.logout_token(CLIENT_ID, Some("u"), Some("s")),
        ),
        (
            "another iss, our keys",
            with(&|c| c["iss"] = json!("https://op.test/realms/other")),
        ),
        ("wrong aud", with(&|c| c["aud"] = json!("billing"))),
        (
            "no events",
            with(&|c| drop(c.as_object_mut().map(|c| c.remove("events")))),
        ),
        (
            "events without the logout member",
            with(&|c| c["events"] = json!({"http://schemas.openid.net/event/other": {}})),
        ),
        (
            "events as an array",
            with(&|c| c["events"] = json!([idp::BACKCHANNEL_LOGOUT])),
        ),
        ("nonce", with(&|c| c["nonce"] = json!("n-0S6_WzA2Mj"))),
        (
            "neither sid nor sub",
            with(&|c| {
                let claims = c.as_object_mut().expect("object");
                claims.remove("sub");
                claims.remove("sid");
            }),
        ),
        (
            "expired",
            with(&|c| {
                c["iat"] = json!(now() - 600);
                c["exp"] = json!(now() - 300);
            }),
        ),
        (
            "no exp",
            with(&|c| drop(c.as_object_mut().map(|c| c.remove("exp")))),
        ),
        (
            "no iat",
            with(&|c| drop(c.as_object_mut().map(|c| c.remove("iat")))),
        ),
        ("iat in the future", with(&|c| c["iat"] = json!(now() + 600))),
        (
            "no jti",
            with(&|c| drop(c.as_object_mut().map(|c| c.remove("jti")))),
        ),
        ("alg none", op.issuer.forge_alg_none(&claims())),
        (
            "unknown kid",
            op.issuer
                .mint_with_header(Some("key-that-is-not-there"), Some("logout+jwt"), &claims()),
        ),
        (
            "no kid",
            op.issuer.mint_with_header(None, Some("logout+jwt"), &claims()),
        ),
        (
            "HS256 with the public key",
            op.issuer.forge_hs256_with_public_key(&claims()),
        ),
        ("signed by other keys", stranger.sign_logout_token(&claims())),
        ("typ JWT", op.issuer.mint_typed(Some("JWT"), &claims())),
        (
            "typ secevent+jwt",
            op.issuer.mint_typed(Some("secevent+jwt"), &claims()),
        ),
        ("not a JWT", "not-a-jwt".to_owned()),
        (
            "a sid too long to store",
            with(&|c| c["sid"] = json!("s".repeat(300))),
        ),
    ];
    for (case, token) in &cases {
        let description = logout_error(idps.logout(token).await).await;
        assert!(description.contains(says(case)), "{case}: {description}");
        assert!(
            !description.contains(token.as_str()),
            "{case}: the token is not echoed"
        );
    }
    // A form without the token, and not a form.
    let response = idps
        .app
        .send(
            idps.app
                .request(Method::POST, "/oidc/backchannel-logout", None)
                .form(&[("id_token_hint", "x")]),
        )
        .await;
    logout_error(response).await;
    let response = idps
        .app
        .send(
            idps.app
                .request(Method::POST, "/oidc/backchannel-logout", None)
                .json(&json!({"logout_token": cases[0].1})),
        )
        .await;
    logout_error(response).await;
    assert!(idps.app.rule_subjects().await.is_empty(), "nothing published");

    // A replayed jti: the first delivery is stored, the same token again is refused.
    let token = op.logout_token(CLIENT_ID, Some("248289761001"), Some("sid-replayed"));
    assert_eq!(idps.logout(&token).await.status(), 200);
    let description = logout_error(idps.logout(&token).await).await;
    assert!(description.contains("already received"), "{description}");
    assert_eq!(idps.app.rule_subjects().await.len(), 1);
}

#[tokio::test]
async fn nats_down_answers_503_and_the_providers_retry_succeeds() {
    let mut idps = spawn_with_idps().await;
    let logout = idps
        .op
        .logout_token(CLIENT_ID, Some("248289761001"), Some("session-outage"));
    let set = idps.transmitter.set(
        SSF_AUDIENCE,
        json!({"format": "iss_sub", "iss": TRANSMITTER, "sub": "99beb27c-c1c2-4955-882a-e0dc4996fcbc"}),
        idp::CAEP_SESSION_REVOKED,
        json!({"event_timestamp": now()}),
    );
    within(15, "stop nats", idps.app.nats.stop())
        .await
        .expect("nats stops");
    let response = idps.logout(&logout).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(idps.push(&set, Some(PUSH_TOKEN)).await.status(), 503);

    within(30, "start nats again", idps.app.nats.start_again())
        .await
        .expect("nats back");
    // The provider retries the very same token until it is stored.
    eventually(30, "the retried logout token is stored", || async {
        idps.logout(&logout).await.status() == 200
    })
    .await;
    eventually(30, "the retried SET is stored", || async {
        idps.push(&set, Some(PUSH_TOKEN)).await.status() == 202
    })
    .await;
    idps.rule(RuleKind::Sid, OP, "session-outage").await;
    idps.rule(RuleKind::Sub, TRANSMITTER, "99beb27c-c1c2-4955-882a-e0dc4996fcbc")
        .await;
    // And once stored, it is a replay.
    logout_error(idps.logout(&logout).await).await;
}

#[tokio::test]
async fn caep_session_revoked_becomes_a_sid_or_a_sub_rule() {
    let idps = spawn_with_idps().await;
    let tx = &idps.transmitter;
    let iat = now() - 10;
    // CAEP's example with a complex subject: the session, of the user.
    let complex = json!({
        "format": "complex",
        "session": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
        "user": {"format": "iss_sub", "iss": TRANSMITTER, "sub": "99beb27c-c1c2-4955-882a-e0dc4996fcbc"},
        "tenant": {"format": "opaque", "id": "123456789"},
    });
    let payload = json!({
        "initiating_entity": "policy",
        "reason_admin": {"en": "Landspeed Policy Violation: C076E82F"},
        "reason_user": {"en": "Access attempt from multiple regions."},
        "event_timestamp": now(),
    });
    let response = idps
        .push(
            &tx.set(SSF_AUDIENCE, complex, idp::CAEP_SESSION_REVOKED, payload),
            Some(PUSH_TOKEN),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        idps.until_refused(
            TRANSMITTER,
            "99beb27c-c1c2-4955-882a-e0dc4996fcbc",
            Some("dMTlD|1600802906337.16|16008.16"),
            iat
        )
        .await,
        Verdict::Revoked(RuleKind::Sid)
    );
    assert_eq!(
        idps.verdict(
            TRANSMITTER,
            "99beb27c-c1c2-4955-882a-e0dc4996fcbc",
            Some("another-session"),
            iat
        ),
        Verdict::Allowed,
        "only that session"
    );
    let rule = idps
        .rule(RuleKind::Sid, TRANSMITTER, "dMTlD|1600802906337.16|16008.16")
        .await;
    assert_eq!(rule.revoked_by.as_deref(), Some(&*format!("ssf:{TRANSMITTER}")));
    assert_eq!(rule.reason.as_deref(), Some("CAEP session-revoked"));

    // An iss_sub subject names a user: every session, scoped to the subject's issuer,
    // and never earlier than the event (here 40 s ahead of the clock, within leeway).
    let event_at = now() + 40;
    let response = idps
        .push(
            &tx.set(
                SSF_AUDIENCE,
                json!({"format": "iss_sub", "iss": "https://accounts.test/", "sub": "jane.smith"}),
                idp::CAEP_SESSION_REVOKED,
                json!({"event_timestamp": event_at}),
            ),
            Some(PUSH_TOKEN),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        idps.until_refused("https://accounts.test/", "jane.smith", Some("any-session"), iat)
            .await,
        Verdict::Revoked(RuleKind::Sub)
    );
    let rule = idps
        .rule(RuleKind::Sub, "https://accounts.test/", "jane.smith")
        .await;
    assert_eq!(rule.issued_before, Some(UnixSeconds(event_at)));
}

#[tokio::test]
async fn credential_and_account_events_revoke_the_user_and_others_are_acknowledged() {
    let idps = spawn_with_idps().await;
    let tx = &idps.transmitter;
    let cases = [
        (
            idp::CAEP_CREDENTIAL_CHANGE,
            json!({"credential_type": "password", "change_type": "update", "event_timestamp": now()}),
            json!({"format": "email", "email": "jane.smith@example.com"}),
            Some("jane.smith@example.com"),
        ),
        (
            idp::RISC_ACCOUNT_DISABLED,
            json!({"reason": "hijacking"}),
            json!({"format": "opaque", "id": "user-17"}),
            Some("user-17"),
        ),
        (
            idp::RISC_ACCOUNT_PURGED,
            json!({}),
            json!({"format": "complex", "user": {"format": "iss_sub", "iss": TRANSMITTER, "sub": "user-18"}}),
            Some("user-18"),
        ),
        (
            idp::RISC_ACCOUNT_DISABLED,
            json!({}),
            json!({"format": "phone_number", "phone_number": "+12065550100"}),
            None,
        ),
        (
            idp::SSF_VERIFICATION,
            json!({"state": "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo="}),
            json!({"format": "opaque", "id": "f67e39a0a4d34d56b3aa1bc4cff0069f"}),
            None,
        ),
        (
            "https://schemas.openid.net/secevent/caep/event-type/token-claims-change",
            json!({"claims": {"role": "ro-admin"}}),
            json!({"format": "opaque", "id": "user-19"}),
            None,
        ),
    ];
    let mut expected = 0;
    for (event, payload, subject, revoked_sub) in cases {
        let response = idps
            .push(&tx.set(SSF_AUDIENCE, subject, event, payload), Some(PUSH_TOKEN))
            .await;
        assert_eq!(response.status(), 202, "{event}");
        if let Some(sub) = revoked_sub {
            expected += 1;
            let rule = idps.rule(RuleKind::Sub, TRANSMITTER, sub).await;
            assert_eq!(rule.iss.as_deref(), Some(TRANSMITTER), "{event}");
        }
    }
    assert_eq!(
        idps.app.rule_subjects().await.len(),
        expected,
        "unsupported subjects and other events publish nothing"
    );
    let metrics = idps
        .app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("veto_idp_events_total")
                && line.contains("event=\"verification\"")
                && line.contains("effect=\"ignored\"")),
        "events are counted by type and effect"
    );
}

#[tokio::test]
async fn every_invalid_set_push_is_400_with_its_rfc_8935_code_and_publishes_nothing() {
    let idps = spawn_with_idps().await;
    let tx = &idps.transmitter;
    let subject = json!({"format": "iss_sub", "iss": TRANSMITTER, "sub": "user-1"});
    let claims = || {
        idp::set_claims(
            TRANSMITTER,
            SSF_AUDIENCE,
            subject.clone(),
            idp::CAEP_SESSION_REVOKED,
            json!({}),
        )
    };
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims();
        change(&mut claims);
        tx.sign_set(&claims)
    };
    let unconfigured = IdentityProvider::start("https://unknown.test")
        .await
        .expect("another transmitter");
    let stranger = IdentityProvider::start(TRANSMITTER)
        .await
        .expect("same name, other keys");
    let valid = tx.sign_set(&claims());
    let cases: Vec<(&str, String, Option<&str>, &str)> = vec![
        (
            "unconfigured issuer",
            unconfigured.set(
                SSF_AUDIENCE,
                subject.clone(),
                idp::CAEP_SESSION_REVOKED,
                json!({}),
            ),
            Some(PUSH_TOKEN),
            "invalid_issuer",
        ),
        (
            "no push authorization",
            valid.clone(),
            None,
            "authentication_failed",
        ),
        (
            "wrong push authorization",
            valid.clone(),
            Some("guessed"),
            "authentication_failed",
        ),
        (
            "signed by other keys",
            stranger.sign_set(&claims()),
            Some(PUSH_TOKEN),
            "authentication_failed",
        ),
        (
            "unknown kid",
            tx.issuer
                .mint_with_header(Some("rotated-away"), Some("secevent+jwt"), &claims()),
            Some(PUSH_TOKEN),
            "invalid_key",
        ),
        (
            "alg none",
            tx.issuer.forge_alg_none(&claims()),
            Some(PUSH_TOKEN),
            "invalid_request",
        ),
        (
            "wrong audience",
            with(&|c| c["aud"] = json!("https://someone-else.test")),
            Some(PUSH_TOKEN),
            "invalid_audience",
        ),
        (
            "typ logout+jwt",
            tx.issuer.mint_typed(Some("logout+jwt"), &claims()),
            Some(PUSH_TOKEN),
            "invalid_request",
        ),
        (
            "no events",
            with(&|c| drop(c.as_object_mut().map(|c| c.remove("events")))),
            Some(PUSH_TOKEN),
            "invalid_request",
        ),
        (
            "no subject",
            with(&|c| drop(c.as_object_mut().map(|c| c.remove("sub_id")))),
            Some(PUSH_TOKEN),
            "invalid_request",
        ),
        (
            "a malformed subject",
            with(&|c| c["sub_id"] = json!({"format": "iss_sub", "sub": "user-1"})),
            Some(PUSH_TOKEN),
            "invalid_request",
        ),
        (
            "no jti",
            with(&|c| drop(c.as_object_mut().map(|c| c.remove("jti")))),
            Some(PUSH_TOKEN),
            "invalid_request",
        ),
        (
            "expired",
            with(&|c| c["exp"] = json!(now() - 300)),
            Some(PUSH_TOKEN),
            "invalid_request",
        ),
    ];
    for (case, set, bearer, code) in &cases {
        let (err, description) = set_error(idps.push(set, *bearer).await).await;
        assert_eq!(err, *code, "{case}: {description}");
        assert!(!description.contains(set.as_str()), "{case}: not echoed");
    }
    // Not pushed as application/secevent+jwt.
    let response = idps
        .app
        .send(
            idps.app
                .request(Method::POST, "/ssf/events", Some(PUSH_TOKEN))
                .header(CONTENT_TYPE, "application/jwt")
                .body(valid.clone()),
        )
        .await;
    assert_eq!(set_error(response).await.0, "invalid_request");
    assert!(idps.app.rule_subjects().await.is_empty(), "nothing published");

    // Delivered once, then replayed.
    assert_eq!(idps.push(&valid, Some(PUSH_TOKEN)).await.status(), 202);
    let (err, description) = set_error(idps.push(&valid, Some(PUSH_TOKEN)).await).await;
    assert_eq!(err, "invalid_request");
    assert!(description.contains("already received"), "{description}");
    assert_eq!(idps.app.rule_subjects().await.len(), 1);
}

#[tokio::test]
async fn the_real_vetod_takes_a_provider_from_the_environment() {
    let nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server starts");
    let op = within(5, "op", IdentityProvider::start(OP))
        .await
        .expect("the OpenID provider");
    let jwks_url = op.jwks.url();
    // As the README writes them: a section per provider, lists as [a, b].
    let daemon = DaemonProcess::start_with_env(
        &nats.url(),
        &[
            ("VETO_IDP__OIDC__KEYCLOAK__ISSUER", OP),
            ("VETO_IDP__OIDC__KEYCLOAK__JWKS_URL", &jwks_url),
            (
                "VETO_IDP__OIDC__KEYCLOAK__CLIENT_IDS",
                "[orders-api, billing-api]",
            ),
            ("VETO_IDP__OIDC__KEYCLOAK__ALGORITHMS", "[ES256]"),
            ("VETO_IDP__BACKCHANNEL_LOGOUT_PATH", "/logout/backchannel"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let post = |path: &str, token: String| {
        let request = http
            .post(format!("{}{path}", daemon.url()))
            .form(&[("logout_token", token)]);
        async move { within(10, "POST", request.send()).await.expect("an answer") }
    };
    let response = post(
        "/logout/backchannel",
        op.logout_token("billing-api", Some("248289761001"), Some("session-env")),
    )
    .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let response = post(
        "/oidc/backchannel-logout",
        op.logout_token("billing-api", Some("248289761001"), Some("session-env")),
    )
    .await;
    assert_eq!(
        response.status(),
        404,
        "the receiver moved to the configured path"
    );
}

#[tokio::test]
async fn a_provider_whose_keys_cannot_be_fetched_gets_503_to_retry() {
    let op = within(5, "op", IdentityProvider::start(OP))
        .await
        .expect("the OpenID provider");
    op.jwks.set_down(true);
    let app = spawn_app_with(|settings| {
        settings.idp.oidc.insert(
            "acme".into(),
            OidcProviderSection {
                issuer: OP.into(),
                jwks_url: op.jwks.url(),
                client_ids: vec![CLIENT_ID.into()],
                algorithms: vec!["ES256".into()],
                leeway: Duration::from_secs(30),
            },
        );
    })
    .await;
    let token = op.logout_token(CLIENT_ID, Some("248289761001"), Some("session-a"));
    let response = app
        .send(
            app.request(Method::POST, "/oidc/backchannel-logout", None)
                .form(&[("logout_token", token.as_str())]),
        )
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "keys_unavailable");
    assert!(app.rule_subjects().await.is_empty());
}
