//! A small axum service protected by veto: tokens are validated (ES256, issuer,
//! audience, exp, kid via JWKS) and checked against the revocation list on every request.
//!
//! ```sh
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
use veto_client::{ListConfig, RevocationList};

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

    // 1. The revocation list: loaded from the stream, then followed live.
    let list = RevocationList::start(nats, ListConfig::default())?;
    tokio::time::timeout(Duration::from_secs(30), list.ready()).await?;

    // 2. The validator: keys from the issuer's JWKS.
    let keys = JwksSource::start(JwksConfig::new(&env(
        "VETO_JWKS_URL",
        "http://127.0.0.1:9000/jwks.json",
    )))?;
    let config = ValidatorConfig::new(
        &env("VETO_ISSUER", "https://idp.test"),
        &env("VETO_AUDIENCE", "orders"),
    );
    let validator = Validator::new(config, keys)?;

    // 3. The layer.
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(VetoAuthLayer::new(validator, list));

    let listener = tokio::net::TcpListener::bind(env("LISTEN", "127.0.0.1:3000")).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(listener, app).await?;
    Ok(())
}
