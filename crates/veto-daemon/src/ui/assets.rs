//! The console's two static files, compiled into the binary (no files to deploy, no
//! build step), and the security headers every console response carries.
//!
//! The policy allows scripts and styles only from this origin (`'self'`), and no inline
//! script or style at all, so an injected `<script>` or `onclick=` does nothing even if
//! escaping ever failed. The script tag also carries the file's SHA-256 as subresource
//! integrity. Pages are `no-store` (they show rules, and the inspector shows a
//! token's claims); the static files are revalidated by their hash (`ETag`).

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The console's script: live updates over Server-Sent Events and confirmations.
pub const SCRIPT: &str = include_str!("../../static/console.js");
/// The console's style sheet.
pub const STYLE: &str = include_str!("../../static/console.css");

/// Where the script is served.
pub const SCRIPT_PATH: &str = "/ui/static/console.js";
/// Where the style sheet is served.
pub const STYLE_PATH: &str = "/ui/static/console.css";

/// The Content-Security-Policy of every console response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'; require-trusted-types-for 'script'";

struct Fingerprint {
    /// `sha256-<base64>`, for `integrity`.
    integrity: String,
    /// A quoted hex prefix of the same hash, for `ETag`.
    etag: String,
}

fn fingerprint(text: &str) -> Fingerprint {
    let digest = Sha256::digest(text.as_bytes());
    Fingerprint {
        integrity: format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ),
        etag: format!("\"{}\"", hex::encode(&digest[..12])),
    }
}

static SCRIPT_FINGERPRINT: LazyLock<Fingerprint> = LazyLock::new(|| fingerprint(SCRIPT));
static STYLE_FINGERPRINT: LazyLock<Fingerprint> = LazyLock::new(|| fingerprint(STYLE));

/// The script's subresource-integrity value.
pub fn script_integrity() -> &'static str {
    &SCRIPT_FINGERPRINT.integrity
}

/// The style sheet's subresource-integrity value.
pub fn style_integrity() -> &'static str {
    &STYLE_FINGERPRINT.integrity
}

fn serve(
    headers: &HeaderMap,
    body: &'static str,
    content_type: &'static str,
    fingerprint: &Fingerprint,
) -> Response {
    let etag = HeaderValue::from_str(&fingerprint.etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let cache = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, etag),
    ];
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == fingerprint.etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// `GET /ui/static/console.js`.
pub async fn script(headers: HeaderMap) -> Response {
    serve(
        &headers,
        SCRIPT,
        "text/javascript; charset=utf-8",
        &SCRIPT_FINGERPRINT,
    )
}

/// `GET /ui/static/console.css`.
pub async fn style(headers: HeaderMap) -> Response {
    serve(&headers, STYLE, "text/css; charset=utf-8", &STYLE_FINGERPRINT)
}

/// Adds the security headers to every console response.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
