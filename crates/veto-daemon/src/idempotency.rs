//! `Idempotency-Key` on the revocation routes (IETF httpapi draft "The Idempotency-Key
//! HTTP Header Field"): a retry with the same key and the same body gets the first
//! answer again, whatever the clock says now.
//!
//! Without a key, a retry is a new request: one with defaulted times (`issued_before`
//! = now + skew, a `jti` kept until now + max TTL) asks for a later rule than the first
//! and is published again with a new answer (harmless, since rules never weaken, but not
//! the same answer). With a key:
//!
//! - same key, same body: the stored response, with `Idempotent-Replayed: true`, and
//!   nothing published;
//! - same key, another body: 422 `idempotency_key_reused`;
//! - same key while the first request is still being answered: 409
//!   `idempotency_key_in_use`, to retry;
//! - a key that is not 1 to 255 visible ASCII characters (optionally a quoted
//!   Structured Fields string, as the draft writes it): 400 `invalid_idempotency_key`.
//!
//! The caller is authenticated first (a request that is not gets its 401 and leaves
//! nothing in the store; a revoked admin or a removed key is replayed nothing), and
//! keys are scoped to who it is (its principal: two callers never share a key, and the
//! same admin's retry with a refreshed token is still the same request), and to the
//! route. Only final answers are stored: 2xx and the 4xx a retry would get again; a
//! 401, 403, 408, 409, 429 or 5xx is not, so the retry runs again. The store is bounded:
//! entries expire after [`crate::config::ApiSection::idempotency_ttl`], and the oldest go
//! first once [`crate::config::ApiSection::idempotency_max_bytes`] are held. It is per
//! daemon: a retry that another daemon answers runs again there (and, rules never
//! weakening, changes nothing a caller relies on).
//!
//! A hand-written store rather than a cache crate: it needs an in-flight state that
//! concurrent requests see (the 409), which caches do not model, and it is small.
//!
//! Longer than most files on purpose: the header's parsing, the store and the middleware
//! are one feature, as the draft describes it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, DATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use veto_api::ErrorCode;
use veto_api::routes::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};

use crate::error::ApiError;

/// The longest key accepted, in bytes (the draft leaves it open; Stripe's is 255).
pub const MAX_KEY_BYTES: usize = 255;

/// What an entry costs in the byte budget besides its response body.
const ENTRY_OVERHEAD_BYTES: usize = 256;

/// A response as stored, to answer again.
#[derive(Clone, Debug)]
struct StoredResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Debug)]
enum Stage {
    /// The first request with the key is being answered.
    InFlight,
    /// Its answer.
    Done(StoredResponse),
}

#[derive(Debug)]
struct Entry {
    /// Tells this entry from a later one under the same key.
    id: u64,
    fingerprint: [u8; 32],
    created: Instant,
    stage: Stage,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<[u8; 32], Entry>,
    /// Keys in the order their entries were made, with the entry's id (an entry since
    /// replaced or removed is skipped when its turn comes).
    order: VecDeque<([u8; 32], u64)>,
    bytes: usize,
    next_id: u64,
}

impl Entries {
    /// Drops entries older than `ttl`, then the oldest until `incoming` more bytes fit.
    fn make_room(&mut self, now: Instant, ttl: Duration, max_bytes: usize, incoming: usize) {
        while let Some(&(key, id)) = self.order.front() {
            let Some(entry) = self.by_key.get(&key).filter(|entry| entry.id == id) else {
                self.order.pop_front();
                continue;
            };
            let expired = now.duration_since(entry.created) >= ttl;
            if !expired && self.bytes + incoming <= max_bytes {
                break;
            }
            self.order.pop_front();
            self.remove(&key, id);
        }
        // Entries replaced or removed leave their place in `order` behind: keep it
        // within twice the live entries, whatever stays at its front.
        if self.order.len() > 2 * self.by_key.len() + 64 {
            let by_key = &self.by_key;
            self.order
                .retain(|(key, id)| by_key.get(key).is_some_and(|entry| entry.id == *id));
        }
    }

    fn remove(&mut self, key: &[u8; 32], id: u64) {
        if self.by_key.get(key).is_some_and(|entry| entry.id == id)
            && let Some(entry) = self.by_key.remove(key)
        {
            self.bytes -= entry.bytes;
        }
    }

    fn insert(&mut self, key: [u8; 32], fingerprint: [u8; 32], stage: Stage, created: Instant) -> u64 {
        let bytes = ENTRY_OVERHEAD_BYTES
            + match &stage {
                Stage::InFlight => 0,
                Stage::Done(response) => response.body.len(),
            };
        self.next_id += 1;
        let id = self.next_id;
        if let Some(old) = self.by_key.insert(
            key,
            Entry {
                id,
                fingerprint,
                created,
                stage,
                bytes,
            },
        ) {
            self.bytes -= old.bytes;
        }
        self.bytes += bytes;
        self.order.push_back((key, id));
        id
    }
}

/// The answers given to requests with an `Idempotency-Key`, bounded in age and bytes.
#[derive(Debug)]
pub struct IdempotencyStore {
    entries: Mutex<Entries>,
    ttl: Duration,
    max_bytes: usize,
}

/// What [`IdempotencyStore::begin`] found.
#[derive(Debug)]
enum Begin {
    /// Nothing: answer the request, then [`IdempotencyStore::complete`].
    Proceed(u64),
    /// The stored answer.
    Replay(StoredResponse),
    /// The key is in flight, or was used with another body.
    Refuse(ApiError),
}

impl IdempotencyStore {
    /// A store keeping answers for `ttl`, at most `max_bytes` of them.
    pub fn new(ttl: Duration, max_bytes: usize) -> IdempotencyStore {
        IdempotencyStore {
            entries: Mutex::new(Entries::default()),
            ttl,
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    fn begin(&self, key: [u8; 32], fingerprint: [u8; 32]) -> Begin {
        let now = Instant::now();
        let mut entries = self.lock();
        entries.make_room(now, self.ttl, self.max_bytes, ENTRY_OVERHEAD_BYTES);
        if let Some(entry) = entries.by_key.get(&key) {
            if entry.fingerprint != fingerprint {
                return Begin::Refuse(ApiError::new(
                    ErrorCode::IdempotencyKeyReused,
                    "this Idempotency-Key was used with another request body; use a new key",
                ));
            }
            return match &entry.stage {
                Stage::Done(response) => Begin::Replay(response.clone()),
                Stage::InFlight => Begin::Refuse(
                    ApiError::new(
                        ErrorCode::IdempotencyKeyInUse,
                        "a request with this Idempotency-Key is still being answered; retry",
                    )
                    .retry_after(1),
                ),
            };
        }
        Begin::Proceed(entries.insert(key, fingerprint, Stage::InFlight, now))
    }

    /// Stores the answer to the request that began as `id` (if its entry is still
    /// there), or forgets the key when the answer is not final.
    fn complete(&self, key: [u8; 32], id: u64, response: Option<StoredResponse>) {
        let mut entries = self.lock();
        let Some(entry) = entries.by_key.get(&key).filter(|entry| entry.id == id) else {
            return;
        };
        let (fingerprint, created) = (entry.fingerprint, entry.created);
        entries.remove(&key, id);
        if let Some(response) = response {
            let incoming = ENTRY_OVERHEAD_BYTES + response.body.len();
            entries.make_room(Instant::now(), self.ttl, self.max_bytes, incoming);
            if incoming <= self.max_bytes {
                entries.insert(key, fingerprint, Stage::Done(response), created);
            }
        }
    }

    /// How many keys are held (for tests).
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Forgets an in-flight key if its request is dropped before it is answered (the
/// client went away), so a retry is not refused as in flight.
struct InFlight<'a> {
    store: &'a IdempotencyStore,
    key: [u8; 32],
    id: u64,
    done: bool,
}

impl InFlight<'_> {
    fn complete(mut self, response: Option<StoredResponse>) {
        self.done = true;
        self.store.complete(self.key, self.id, response);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.store.complete(self.key, self.id, None);
        }
    }
}

/// The middleware's state: the store, and the route's body limit.
#[derive(Clone, Debug)]
pub struct Idempotency {
    /// The answers.
    pub store: Arc<IdempotencyStore>,
    /// Who may use the store at all.
    pub authenticator: crate::auth::Authenticator,
    /// The route's largest body.
    pub body_limit: usize,
}

/// The key of a request: exactly one header of 1 to 255 visible ASCII characters
/// (quotes of a Structured Fields string taken off). `Ok(None)`: no key.
fn key_of(headers: &HeaderMap) -> Result<Option<&[u8]>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidIdempotencyKey,
            "an Idempotency-Key is one header of 1 to 255 visible ASCII characters",
        )
    };
    if values.next().is_some() {
        return Err(invalid());
    }
    let bytes = value.as_bytes();
    let key = match bytes {
        [b'"', inner @ .., b'"'] => inner,
        _ => bytes,
    };
    if key.is_empty() || key.len() > MAX_KEY_BYTES || !key.iter().all(u8::is_ascii_graphic) {
        return Err(invalid());
    }
    Ok(Some(key))
}

/// Whether a response is the final answer to its request, to be given again.
fn is_final(status: StatusCode) -> bool {
    status.is_success()
        || (status.is_client_error()
            && !matches!(
                status,
                StatusCode::UNAUTHORIZED
                    | StatusCode::FORBIDDEN
                    | StatusCode::REQUEST_TIMEOUT
                    | StatusCode::CONFLICT
                    | StatusCode::TOO_MANY_REQUESTS
            ))
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn replay(response: StoredResponse) -> Response {
    let mut replayed = (response.status, response.body).into_response();
    replayed.headers_mut().extend(response.headers);
    replayed
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    replayed
}

/// The middleware on the revocation routes.
pub async fn layer(State(idempotency): State<Idempotency>, request: Request, next: Next) -> Response {
    let key = match key_of(request.headers()) {
        Ok(Some(key)) => key.to_vec(),
        Ok(None) => return next.run(request).await,
        Err(error) => return error.into_response(),
    };
    let (mut parts, body) = request.into_parts();
    let principal = match idempotency.authenticator.authenticate(&parts.headers).await {
        Ok(principal) => principal,
        Err(error) => return error.into_response(),
    };
    let Ok(body) = axum::body::to_bytes(body, idempotency.body_limit).await else {
        return ApiError::payload_too_large("the request body is too large").into_response();
    };
    let scope = sha256(&[
        principal.name.as_bytes(),
        parts.method.as_str().as_bytes(),
        parts.uri.path().as_bytes(),
        &key,
    ]);
    let fingerprint = sha256(&[&body]);
    let store = &idempotency.store;
    let in_flight = match store.begin(scope, fingerprint) {
        Begin::Proceed(id) => InFlight {
            store,
            key: scope,
            id,
            done: false,
        },
        Begin::Replay(response) => return replay(response),
        Begin::Refuse(error) => return error.into_response(),
    };
    // The handler takes the caller from here rather than authenticating it again.
    parts
        .extensions
        .insert(crate::api::extract::Authenticated(principal));
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if !is_final(response.status()) {
        in_flight.complete(None);
        return response;
    }
    let (parts, body) = response.into_parts();
    // Our own answers: bounded (a batch's is the largest), so read whole.
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        in_flight.complete(None);
        return ApiError::internal().into_response();
    };
    let mut headers = parts.headers.clone();
    headers.remove(CONTENT_LENGTH);
    headers.remove(DATE);
    headers.remove(IDEMPOTENT_REPLAYED);
    in_flight.complete(Some(StoredResponse {
        status: parts.status,
        headers,
        body: body.clone(),
    }));
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &str) -> StoredResponse {
        StoredResponse {
            status: StatusCode::CREATED,
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn a_key_is_in_flight_then_replayed_and_bound_to_its_body() {
        let store = IdempotencyStore::new(Duration::from_secs(60), 1 << 20);
        let Begin::Proceed(id) = store.begin([1; 32], [7; 32]) else {
            panic!("a new key proceeds")
        };
        assert!(
            matches!(store.begin([1; 32], [7; 32]), Begin::Refuse(error) if error.code() == ErrorCode::IdempotencyKeyInUse)
        );
        store.complete([1; 32], id, Some(response("first")));
        assert!(matches!(store.begin([1; 32], [7; 32]), Begin::Replay(stored) if stored.body == "first"));
        assert!(
            matches!(store.begin([1; 32], [8; 32]), Begin::Refuse(error) if error.code() == ErrorCode::IdempotencyKeyReused)
        );
    }

    #[test]
    fn an_answer_that_is_not_final_frees_the_key() {
        let store = IdempotencyStore::new(Duration::from_secs(60), 1 << 20);
        let Begin::Proceed(id) = store.begin([1; 32], [7; 32]) else {
            panic!("proceeds")
        };
        store.complete([1; 32], id, None);
        assert!(store.is_empty());
        assert!(matches!(store.begin([1; 32], [7; 32]), Begin::Proceed(_)));
        assert!(!is_final(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!is_final(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_final(StatusCode::UNPROCESSABLE_ENTITY));
    }

    #[test]
    fn the_store_is_bounded_in_bytes_and_age() {
        let store = IdempotencyStore::new(Duration::from_secs(60), 4 * (ENTRY_OVERHEAD_BYTES + 100));
        for n in 0..10u8 {
            let Begin::Proceed(id) = store.begin([n; 32], [n; 32]) else {
                panic!("proceeds")
            };
            store.complete([n; 32], id, Some(response(&"x".repeat(100))));
        }
        assert!(store.len() <= 4, "{} keys held", store.len());
        assert!(
            matches!(store.begin([9; 32], [9; 32]), Begin::Replay(_)),
            "the newest stay"
        );
        assert!(
            matches!(store.begin([0; 32], [0; 32]), Begin::Proceed(_)),
            "the oldest went"
        );

        let expiring = IdempotencyStore::new(Duration::ZERO, 1 << 20);
        let Begin::Proceed(id) = expiring.begin([1; 32], [1; 32]) else {
            panic!("proceeds")
        };
        expiring.complete([1; 32], id, Some(response("old")));
        assert!(
            matches!(expiring.begin([1; 32], [1; 32]), Begin::Proceed(_)),
            "expired"
        );
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        let key = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                IDEMPOTENCY_KEY,
                HeaderValue::from_str(value).expect("a header value"),
            );
            key_of(&headers).map(|key| key.map(<[u8]>::to_vec))
        };
        assert_eq!(key("abc-123"), Ok(Some(b"abc-123".to_vec())));
        assert_eq!(
            key("\"abc-123\""),
            Ok(Some(b"abc-123".to_vec())),
            "a Structured Fields string"
        );
        for bad in ["", "\"\"", "a b", &"k".repeat(256)] {
            assert!(key(bad).is_err(), "{bad:?}");
        }
        assert_eq!(key_of(&HeaderMap::new()), Ok(None));
    }
}
