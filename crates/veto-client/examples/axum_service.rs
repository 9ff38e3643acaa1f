//! A small axum service protected by veto: tokens are validated (ES256, issuer,
//! audience, exp, kid via JWKS) and checked against the revocation list on every request.
//!
//! ```sh
//! export VETO_VERIFY_KEYS=dev:$(cat .tools/data/dev-signing-public-key)   # scripts/run's key
//! VETO_JWKS_URL=https://idp.example/.well-known/jwks.json VETO_ISSUER=https://idp.example \
//! VETO_AUDIENCE=orders cargo run -p veto-client --features axum --example axum_service
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/whoami
//! ```

use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use veto_client::jwt::{Claims, JwksConfig, JwksSource, Validator, ValidatorConfig};
use veto_client::layer::VetoAuthLayer;
use veto_client::{ListConfig, RevocationList, VerificationKeys};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

async fn whoami(Extension(claims): Extension<Claims>) -> Json<Value> {
    Json(json!({ "sub": claims.sub, "iss": claims.iss, "jti": claims.jti, "exp": claims.exp }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("info,veto_client=debug")
        .init();
    let nats = async_nats::connect(env("VETO_NATS_URL", "nats://127.0.0.1:4222")).await?;

    // 1. The revocation list: loaded from the newest signed snapshot and the stream,
    //    then followed live, applying only events the daemons signed
    //    (VETO_VERIFY_KEYS="key-id:public-key,...", as `vetod --generate-signing-key`
    //    and scripts/run print).
    let keys = VerificationKeys::parse(&std::env::var("VETO_VERIFY_KEYS").map_err(
        |_| "set VETO_VERIFY_KEYS to the daemons' public keys (scripts/run prints its development key)",
    )?)?;
    let list = RevocationList::start(nats, ListConfig::default().signed_by(keys))?;
    tokio::time::timeout(Duration::from_secs(30), list.ready()).await?;

    // 2. The validator: keys from the issuer's JWKS.
    let jwks = JwksSource::start(JwksConfig::new(&env(
        "VETO_JWKS_URL",
        "http://127.0.0.1:9000/jwks.json",
    )))?;
    let config = ValidatorConfig::new(
        &env("VETO_ISSUER", "https://idp.test"),
        &env("VETO_AUDIENCE", "orders"),
    );
    let validator = Validator::new(config, jwks)?;

    // 3. The layer.
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(VetoAuthLayer::new(validator, list));

    let listener = tokio::net::TcpListener::bind(env("LISTEN", "127.0.0.1:3000")).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(listener, app).await?;
    Ok(())
}
