//! The JWKS key source against a real (test) JWKS endpoint: rotation, floods of unknown
//! kids, outages.

use std::time::Duration;

use veto_client::jwt::{JwksConfig, JwksSource, Validator, ValidatorConfig};
use veto_testkit::{JwksServer, TestIssuer};

use crate::support::*;

const AUDIENCE: &str = "orders";

async fn setup(configure: impl FnOnce(&mut JwksConfig)) -> (TestIssuer, JwksServer, JwksSource, Validator) {
    let issuer = TestIssuer::new("https://idp.test");
    let server = within(5, "jwks server", JwksServer::start(&issuer))
        .await
        .expect("jwks server");
    let mut config = JwksConfig::new(&server.url());
    configure(&mut config);
    let source = JwksSource::start(config).expect("source");
    let validator =
        Validator::new(ValidatorConfig::new(issuer.issuer(), AUDIENCE), source.clone()).expect("validator");
    wait_until(10, "first fetch", || source.key_count() > 0).await;
    (issuer, server, source, validator)
}

async fn accepts(validator: &Validator, token: &str) -> bool {
    within(
        10,
        "validate",
        validator.validate::<veto_client::jwt::NoCustomClaims>(token),
    )
    .await
    .is_ok()
}

#[tokio::test]
async fn a_key_rotation_is_picked_up_with_one_refresh() {
    let (mut issuer, server, source, validator) = setup(|_| {}).await;
    assert!(
        accepts(
            &validator,
            &issuer.mint(&issuer.claims(AUDIENCE, Duration::from_secs(60)))
        )
        .await
    );
    let fetches_before = source.fetches();

    issuer.add_key();
    issuer.retire_old_keys();
    server.publish(&issuer);
    let rotated = issuer.mint(&issuer.claims(AUDIENCE, Duration::from_secs(60)));
    assert!(
        accepts(&validator, &rotated).await,
        "the new kid is fetched on first sight"
    );
    assert_eq!(source.fetches(), fetches_before + 1, "exactly one refresh");
    for _ in 0..5 {
        assert!(accepts(&validator, &rotated).await);
    }
    assert_eq!(source.fetches(), fetches_before + 1, "then served from the cache");
}

#[tokio::test]
async fn a_flood_of_unknown_kids_causes_a_bounded_number_of_fetches() {
    let (issuer, server, source, validator) = setup(|_| {}).await;
    let min_interval = JwksConfig::new("https://idp.test").unknown_kid_min_interval;
    let requests_before = server.requests();
    let claims = issuer.claims(AUDIENCE, Duration::from_secs(60));
    let started = std::time::Instant::now();
    // Bursts of 100 unknown kids, for about two seconds.
    let mut index = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let mut attempts = Vec::new();
        for _ in 0..100 {
            index += 1;
            let token = issuer.mint_with_kid(Some(&format!("random-{index}")), &claims);
            let validator = validator.clone();
            attempts.push(tokio::spawn(async move {
                validator
                    .validate::<veto_client::jwt::NoCustomClaims>(&token)
                    .await
                    .is_err()
            }));
        }
        for attempt in attempts {
            assert!(
                within(10, "validate", attempt).await.expect("task"),
                "an unknown kid is refused"
            );
        }
    }
    let elapsed = started.elapsed();
    let fetched = server.requests() - requests_before;
    let bound = 2 + elapsed.as_millis() / min_interval.as_millis();
    assert!(
        u128::from(fetched) <= bound,
        "{index} unknown kids in {elapsed:?} caused {fetched} fetches (at most one per {min_interval:?})"
    );
    assert!(source.fetches() >= 1);
}

#[tokio::test]
async fn an_unknown_kid_just_before_a_rotation_delays_it_by_under_a_second() {
    let (mut issuer, server, _source, validator) = setup(|_| {}).await;
    let claims = issuer.claims(AUDIENCE, Duration::from_secs(60));
    // Someone sends a made-up kid: the source fetches the key set.
    let probe = issuer.mint_with_kid(Some("made-up"), &claims);
    assert!(!accepts(&validator, &probe).await);

    // Right after, the issuer rotates.
    issuer.add_key();
    issuer.retire_old_keys();
    server.publish(&issuer);
    let rotated = issuer.mint(&issuer.claims(AUDIENCE, Duration::from_secs(60)));
    let started = std::time::Instant::now();
    assert!(
        accepts(&validator, &rotated).await,
        "the new kid is accepted on first sight"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the rotation waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_jwks_url_is_parsed_not_prefix_matched() {
    for url in [
        "http://localhost:@evil.example/jwks.json",
        "http://127.0.0.1:@evil.example/jwks.json",
        "http://localhost.evil.example/jwks.json",
        "http://[::1]@evil.example/jwks.json",
        "ftp://idp.example/jwks.json",
        "not a url",
    ] {
        assert!(JwksSource::start(JwksConfig::new(url)).is_err(), "{url}");
    }
    for url in [
        "https://idp.example/.well-known/jwks.json",
        "http://localhost:8080/jwks.json",
        "http://127.0.0.1:8080/jwks.json",
        "http://[::1]:8080/jwks.json",
    ] {
        assert!(JwksSource::start(JwksConfig::new(url)).is_ok(), "{url}");
    }
}

#[tokio::test]
async fn with_the_endpoint_down_cached_keys_still_validate() {
    let (issuer, server, source, validator) = setup(|config| {
        config.unknown_kid_min_interval = Duration::from_millis(50);
    })
    .await;
    let token = issuer.mint(&issuer.claims(AUDIENCE, Duration::from_secs(60)));
    assert!(accepts(&validator, &token).await);
    server.set_down(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        within(10, "refresh", source.refresh()).await.is_err(),
        "the endpoint is down"
    );
    assert!(accepts(&validator, &token).await, "the last good key set is kept");
    let unknown = issuer.mint_with_kid(
        Some("never-published"),
        &issuer.claims(AUDIENCE, Duration::from_secs(60)),
    );
    assert!(!accepts(&validator, &unknown).await);
}

#[tokio::test]
async fn cache_control_max_age_drives_background_refresh() {
    let issuer = TestIssuer::new("https://idp.test");
    let server = within(5, "jwks server", JwksServer::start(&issuer))
        .await
        .expect("jwks server");
    server.set_max_age(1);
    let mut config = JwksConfig::new(&server.url());
    config.min_ttl = Duration::from_secs(1);
    let source = JwksSource::start(config).expect("source");
    wait_until(10, "three fetches, about a second apart", || {
        server.requests() >= 3
    })
    .await;
    assert!(source.key_count() > 0);
}
