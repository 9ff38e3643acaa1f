//! `Validator::validate_with`: the per-call options that logout tokens and security
//! event tokens need (an optional `exp`, an expected `typ`), on top of everything
//! `validate` checks.

use std::time::Duration;

use serde_json::{Map, Value};
use veto_client::jwt::{
    Algorithm, StaticKeys, ValidationError, ValidationOptions, Validator, ValidatorConfig,
};
use veto_testkit::TestIssuer;

use crate::support::*;

const AUDIENCE: &str = "orders";

fn validator(issuer: &TestIssuer) -> Validator {
    let keys = StaticKeys::new()
        .with_ec_pem(
            issuer.current_kid(),
            Algorithm::ES256,
            issuer.public_pem().as_bytes(),
        )
        .expect("the issuer's key");
    Validator::new(ValidatorConfig::new(issuer.issuer(), AUDIENCE), keys).expect("validator")
}

async fn with(
    validator: &Validator,
    token: &str,
    options: ValidationOptions<'_>,
) -> Result<Map<String, Value>, ValidationError> {
    within(5, "validate", validator.validate_with(token, &options)).await
}

#[tokio::test]
async fn an_expected_typ_is_checked_only_when_the_header_has_one() {
    let issuer = TestIssuer::new("https://idp.test");
    let validator = validator(&issuer);
    let claims = issuer.claims(AUDIENCE, Duration::from_secs(60));
    let logout = ValidationOptions {
        typ: Some("logout+jwt"),
        ..ValidationOptions::default()
    };
    for typ in [Some("logout+jwt"), Some("application/LOGOUT+JWT"), None] {
        assert!(
            with(&validator, &issuer.mint_typed(typ, &claims), logout)
                .await
                .is_ok(),
            "{typ:?}"
        );
    }
    for typ in ["JWT", "secevent+jwt", "at+jwt"] {
        assert!(
            matches!(
                with(&validator, &issuer.mint_typed(Some(typ), &claims), logout).await,
                Err(ValidationError::WrongType)
            ),
            "{typ}"
        );
    }
    // Without an expected typ, any is accepted, as `validate` does.
    assert!(
        with(
            &validator,
            &issuer.mint_typed(Some("JWT"), &claims),
            ValidationOptions::default()
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn exp_may_be_optional_but_is_checked_when_present() {
    let issuer = TestIssuer::new("https://idp.test");
    let validator = validator(&issuer);
    let mut claims = issuer.claims(AUDIENCE, Duration::from_secs(60));
    claims.as_object_mut().expect("an object").remove("exp");
    let token = issuer.mint(&claims);
    let optional = ValidationOptions {
        require_exp: false,
        ..ValidationOptions::default()
    };
    assert!(with(&validator, &token, optional).await.is_ok());
    assert!(matches!(
        with(&validator, &token, ValidationOptions::default()).await,
        Err(ValidationError::MissingClaim(claim)) if claim == "exp"
    ));
    claims["exp"] = Value::from(veto_testkit::tokens::now_unix() - 3600);
    assert!(matches!(
        with(&validator, &issuer.mint(&claims), optional).await,
        Err(ValidationError::Expired)
    ));
    // Issuer and audience stay required.
    claims.as_object_mut().expect("an object").remove("exp");
    claims["aud"] = Value::from("billing");
    assert!(matches!(
        with(&validator, &issuer.mint(&claims), optional).await,
        Err(ValidationError::WrongAudience)
    ));
}
