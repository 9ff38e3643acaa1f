//! Figure 2: the check next to the signature verification that precedes it.
//!
//! A service verifies a token's signature before it asks the revocation list. With
//! ES256 (the common choice for access tokens) verification dominates by orders of
//! magnitude: the target holds one Allowed check under 0.5 % of one decode + verify of a
//! typical access token, with jsonwebtoken 12 on aws-lc-rs (the backend veto-client's
//! `jwt` feature uses). The key pair is a committed benchmark-only key (`keys/`).

use std::hint::black_box;
use std::time::Duration;

use anyhow::{Context, ensure};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use veto_proto::UnixSeconds;

use crate::measure::median_ns_per_op;
use crate::plan::{Plan, TARGET_RULES};
use crate::report::{Bound, Figure, Report, size_label};
use crate::workload::{ISSUER, Namespace, uuid_like_string};

const PRIVATE_KEY_PEM: &[u8] = include_bytes!("../keys/es256-private.pem");
const PUBLIC_KEY_PEM: &[u8] = include_bytes!("../keys/es256-public.pem");

const AUDIENCE: &str = "https://api.example.com";

/// One check may cost at most this share of one ES256 verification, in percent.
const MAX_CHECK_SHARE_PERCENT: f64 = 0.5;

/// The claims of a typical OIDC access token, about 580 bytes once signed.
#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    nbf: i64,
    iat: i64,
    auth_time: i64,
    jti: String,
    sid: String,
    azp: String,
    scope: String,
}

/// Signs the token, then measures decode + verify; adds the figures.
pub fn run(plan: &Plan, allowed_check_ns: Option<f64>, report: &mut Report) -> anyhow::Result<()> {
    let now = UnixSeconds::now();
    let claims = AccessClaims {
        iss: ISSUER.to_owned(),
        sub: uuid_like_string(Namespace::Subject, 0),
        aud: AUDIENCE.to_owned(),
        exp: now.saturating_add(Duration::from_secs(900)).0,
        nbf: now.0,
        iat: now.0,
        auth_time: now.0,
        jti: uuid_like_string(Namespace::AbsentJti, 0),
        sid: uuid_like_string(Namespace::Session, 0),
        azp: "web-frontend".to_owned(),
        scope: "openid profile orders:read".to_owned(),
    };
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("bench-es256-1".to_owned());
    let signing_key = EncodingKey::from_ec_pem(PRIVATE_KEY_PEM).context("loading keys/es256-private.pem")?;
    let token = jsonwebtoken::encode(&header, &claims, &signing_key).context("signing")?;

    let verifying_key = DecodingKey::from_ec_pem(PUBLIC_KEY_PEM).context("loading keys/es256-public.pem")?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let verify = || jsonwebtoken::decode::<AccessClaims>(black_box(&token), &verifying_key, &validation);
    ensure!(
        verify()?.claims.jti == claims.jti,
        "the token does not round-trip"
    );

    let verify_ns = median_ns_per_op(plan.timed_batches, plan.verifications_per_batch, || {
        for _ in 0..plan.verifications_per_batch {
            let _ = black_box(verify());
        }
    });
    report.add(
        Figure::info(
            format!("signature.es256_verify.{}B", token.len()),
            verify_ns / 1e3,
            "us",
        )
        .baseline("jsonwebtoken 12 aws_lc_rs: 56.5 us (BASELINES.md)"),
    );

    let name = format!("signature.check_share.{}", size_label(TARGET_RULES));
    report.add(match allowed_check_ns {
        Some(check_ns) => Figure::target(
            name,
            100.0 * check_ns / verify_ns,
            "%",
            Bound::AtMost(MAX_CHECK_SHARE_PERCENT),
            format!("Allowed check / ES256 verify <= {MAX_CHECK_SHARE_PERCENT} %"),
        ),
        None => Figure::skipped(name, "%", "no Allowed check measured at 1M"),
    });
    Ok(())
}
