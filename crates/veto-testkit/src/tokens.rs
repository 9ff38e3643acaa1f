//! Token minting for tests: an issuer with real ES256 keys, its JWKS served by a small
//! axum server that a test can rotate, count and take down, and the classic forgeries.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The DER prefix of a P-256 SubjectPublicKeyInfo, before the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
    0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

struct TestKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
    public_pem: String,
}

/// An identity provider for tests: ES256 keys, a JWKS, and minted tokens.
pub struct TestIssuer {
    issuer: String,
    keys: Vec<TestKey>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|key| key.kid.as_str()).collect();
        f.debug_struct("TestIssuer")
            .field("issuer", &self.issuer)
            .field("kids", &kids)
            .finish()
    }
}

/// Seconds since the epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs() as i64)
        .unwrap_or_default()
}

/// A random token id.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestIssuer {
    /// An issuer named `issuer` with one key, `key-1`.
    pub fn new(issuer: &str) -> TestIssuer {
        let mut test_issuer = TestIssuer {
            issuer: issuer.to_owned(),
            keys: Vec::new(),
        };
        test_issuer.add_key();
        test_issuer
    }

    /// The issuer name (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Adds a key (`key-2`, `key-3`, …), which signs from now on; returns its kid.
    pub fn add_key(&mut self) -> String {
        let kid = format!("key-{}", self.keys.len() + 1);
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("generate a P-256 key");
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("parse it");
        let point = pair.public_key().as_ref().to_vec();
        let (x, y) = (&point[1..33], &point[33..65]);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        });
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&point);
        let public_pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(&spki)
        );
        self.keys.push(TestKey {
            kid: kid.clone(),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk,
            public_pem,
        });
        kid
    }

    /// Drops every key but the newest (the end of a rotation).
    pub fn retire_old_keys(&mut self) {
        let newest = self.keys.len().saturating_sub(1);
        self.keys.drain(..newest);
    }

    /// The kid that signs now.
    pub fn current_kid(&self) -> &str {
        self.keys.last().map_or("", |key| key.kid.as_str())
    }

    /// The JWKS document: every key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() })
    }

    /// The current key's public key, PEM (SPKI).
    pub fn public_pem(&self) -> &str {
        self.keys.last().map_or("", |key| key.public_pem.as_str())
    }

    /// Claims for `audience`, valid for `ttl` from now, with a fresh `jti`, `sub` and `iat`.
    pub fn claims(&self, audience: &str, ttl: Duration) -> Value {
        let now = now_unix();
        json!({
            "iss": self.issuer, "aud": audience, "sub": "user-1", "jti": random_id(),
            "iat": now, "nbf": now - 1, "exp": now + ttl.as_secs() as i64,
        })
    }

    /// An ES256 token over `claims`, signed by the current key, with its kid.
    pub fn mint(&self, claims: &Value) -> String {
        self.mint_with_kid(Some(self.current_kid()), claims)
    }

    /// An ES256 token signed by the current key with this `kid` in the header (or none).
    pub fn mint_with_kid(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        let key = self.keys.last().expect("an issuer has a key");
        jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
    }

    /// An ES256 token over `claims`, signed by the current key with its kid, with this
    /// `typ` header (`logout+jwt`, `secevent+jwt`; `None`: no `typ` at all).
    pub fn mint_typed(&self, typ: Option<&str>, claims: &Value) -> String {
        self.mint_with_header(Some(self.current_kid()), typ, claims)
    }

    /// An ES256 token signed by the current key with this `kid` and `typ` in the header
    /// (either may be left out).
    pub fn mint_with_header(&self, kid: Option<&str>, typ: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        header.typ = typ.map(str::to_owned);
        let key = self.keys.last().expect("an issuer has a key");
        jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
    }

    /// The forgery: HS256 "signed" with the issuer's public key (PEM) as the secret.
    pub fn forge_hs256_with_public_key(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current_kid().to_owned());
        let key =
            EncodingKey::from_secret(self.public_pem().as_bytes()).expect("any bytes are an HMAC secret");
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    }

    /// The forgery: `alg: none`, no signature.
    pub fn forge_alg_none(&self, claims: &Value) -> String {
        let header = json!({"alg": "none", "typ": "JWT", "kid": self.current_kid()});
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }
}

#[derive(Debug)]
struct JwksState {
    document: RwLock<String>,
    max_age_secs: AtomicU64,
    down: AtomicBool,
    requests: AtomicU64,
}

/// A JWKS endpoint on loopback: `GET /jwks.json`.
#[derive(Debug)]
pub struct JwksServer {
    addr: SocketAddr,
    state: Arc<JwksState>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    /// Serves `issuer`'s JWKS with `Cache-Control: max-age=300`.
    pub async fn start(issuer: &TestIssuer) -> std::io::Result<JwksServer> {
        let state = Arc::new(JwksState {
            document: RwLock::new(issuer.jwks().to_string()),
            max_age_secs: AtomicU64::new(300),
            down: AtomicBool::new(false),
            requests: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/jwks.json", get(serve))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(JwksServer { addr, state, task })
    }

    /// The JWKS URL.
    pub fn url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    /// Publishes `issuer`'s current key set.
    pub fn publish(&self, issuer: &TestIssuer) {
        *self
            .state
            .document
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = issuer.jwks().to_string();
    }

    /// The `max-age` sent from now on.
    pub fn set_max_age(&self, seconds: u64) {
        self.state.max_age_secs.store(seconds, Ordering::Release);
    }

    /// Answer 503 (down) or the document (up).
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::Release);
    }

    /// How many requests arrived.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Acquire)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(state): State<Arc<JwksState>>) -> impl IntoResponse {
    state.requests.fetch_add(1, Ordering::AcqRel);
    if state.down.load(Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CACHE_CONTROL, "no-store".to_owned())],
            String::new(),
        );
    }
    let document = state
        .document
        .read()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone();
    let cache = format!("public, max-age={}", state.max_age_secs.load(Ordering::Acquire));
    (StatusCode::OK, [(header::CACHE_CONTROL, cache)], document)
}
