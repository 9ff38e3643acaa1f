//! A typed client of the admin API (feature `client`): one method per route, each
//! returning the API's JSON as sent (for callers that print it) and its typed reading.
//! The CLI, the end-to-end tests and the benchmarks all use it.
//!
//! Longer than most files on purpose: one short method per API operation, with the error
//! type they share; [`crate::routes::ROUTES`] is its index.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ErrorBody, ErrorCode};
use crate::fleet::{FleetResponse, Wait};
use crate::revocations::{
    BatchRequest, BatchResponse, KeyQuery, LiftQuery, LiftResponse, ListQuery, ListResponse, RevokeRequest,
    RevokeTokenForm, RuleKey, RuleResponse,
};
use crate::routes;
use crate::status::{DaemonStatus, Health};
use crate::stream::{ChangesQuery, ChangesResponse, SnapshotWritten};

/// Why a call did not get the answer it asked for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The call cannot be made as asked (a base URL that is not http(s), for one).
    #[error("{0}")]
    Usage(String),
    /// Nothing (useful) answered: connection refused, timeout, DNS.
    #[error("cannot reach {what}: {detail}")]
    Unreachable {
        /// The daemon's URL, without credentials.
        what: String,
        /// Why, with the cause chain.
        detail: String,
    },
    /// The API answered with an error body (or an error status without one, whose
    /// code is then `http_<status>`).
    #[error("{code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable code (see [`ErrorCode`]).
        code: String,
        /// The message.
        message: String,
        /// `Retry-After`, in seconds, when the daemon sent one.
        retry_after_secs: Option<u64>,
    },
    /// A success status, but not the body the API documents.
    #[error("unexpected response from {what}: {detail}")]
    Unexpected {
        /// The daemon's URL.
        what: String,
        /// What was wrong.
        detail: String,
    },
}

impl AdminError {
    /// The API's error code, when the API answered with one this build knows.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            AdminError::Api { code, .. } => code.parse().ok(),
            _ => None,
        }
    }

    /// The HTTP status, when the API answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            AdminError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the API said there is no live rule for the key asked about.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(ErrorCode::NotFound)
    }

    /// Whether the same request may succeed later: not reachable, or the daemon said
    /// so (503, 408, 429, 409 contention, or a proxy's 502/504).
    pub fn is_retryable(&self) -> bool {
        match self {
            AdminError::Unreachable { .. } => true,
            AdminError::Api { status, code, .. } => {
                matches!(status, 408 | 429 | 502 | 503 | 504)
                    || code == ErrorCode::Contention.as_str()
                    || code == ErrorCode::IdempotencyKeyInUse.as_str()
            }
            _ => false,
        }
    }
}

/// An answer: the JSON as the API sent it, and its typed reading.
#[derive(Clone, Debug)]
pub struct Reply<T> {
    /// The body, as sent.
    pub json: Value,
    /// The body, typed.
    pub body: T,
}

/// The answer to a revocation.
#[derive(Clone, Debug)]
pub struct Revoked {
    /// The stored rule.
    pub reply: Reply<RuleResponse>,
    /// Whether this is an answer given again: the first answer to the request's
    /// `Idempotency-Key`, or a stored rule that already covered it; either way nothing
    /// was published (header `Idempotent-Replayed: true`).
    pub replayed: bool,
}

/// The admin API at one base URL, with one credential.
#[derive(Clone, Debug)]
pub struct AdminClient {
    http: reqwest::Client,
    base: Url,
    credential: Option<SecretString>,
    /// The bound on each request (a write that waits gets its wait on top).
    timeout: Duration,
    /// What writes wait for ([`AdminClient::waiting_for`]).
    wait: Option<Wait>,
}

impl AdminClient {
    /// A client of the API at `base` (`http://host:port`, optionally with a path
    /// prefix), sending `credential` (an API key or an admin JWT) as a bearer token.
    /// Every request, connecting included, is bounded by `timeout`.
    pub fn new(
        base: Url,
        credential: Option<SecretString>,
        timeout: Duration,
    ) -> Result<AdminClient, AdminError> {
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(AdminError::Usage(format!(
                "the daemon's URL must be http:// or https://, not {}",
                redacted(&base)
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("veto-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| {
                AdminError::Usage(format!("building the HTTP client: {}", with_causes(&error)))
            })?;
        Ok(AdminClient {
            http,
            base,
            credential,
            timeout,
            wait: None,
        })
    }

    /// The same client, whose writes (revoke, batch, lift) wait for `wait`: each answers
    /// once every live instance in scope has applied it, or `wait.timeout` passed, with
    /// the receipt in `applied_by`. Each such request may take `wait.timeout` longer.
    pub fn waiting_for(&self, wait: Wait) -> AdminClient {
        AdminClient {
            wait: Some(wait),
            ..self.clone()
        }
    }

    /// A write's request, with the wait (and its time) when there is one.
    fn write(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.authorized(method, url);
        match &self.wait {
            Some(wait) => request.query(&wait.query()).timeout(self.timeout + wait.timeout),
            None => request,
        }
    }

    /// A client of `base` (a string), for tests and tools: panics on nothing, errors on
    /// a bad URL.
    pub fn at(base: &str, credential: Option<&str>) -> Result<AdminClient, AdminError> {
        let url = base
            .parse()
            .map_err(|error| AdminError::Usage(format!("{base:?} is not a URL: {error}")))?;
        AdminClient::new(
            url,
            credential.map(|secret| SecretString::from(secret.to_owned())),
            Duration::from_secs(30),
        )
    }

    /// The base URL without user or password, for messages.
    pub fn base_url(&self) -> String {
        redacted(&self.base)
    }

    /// `POST /v1/revocations`.
    pub async fn revoke(&self, request: &RevokeRequest) -> Result<Revoked, AdminError> {
        self.revoke_with_key(request, None).await
    }

    /// `POST /v1/revocations` with an `Idempotency-Key`: sending the same request with
    /// the same key again (a retry) gets the first answer again, `replayed`.
    pub async fn revoke_idempotent(&self, request: &RevokeRequest, key: &str) -> Result<Revoked, AdminError> {
        self.revoke_with_key(request, Some(key)).await
    }

    async fn revoke_with_key(
        &self,
        request: &RevokeRequest,
        key: Option<&str>,
    ) -> Result<Revoked, AdminError> {
        let url = self.endpoint(&["v1", "revocations"])?;
        let mut builder = self.write(Method::POST, url).json(request);
        if let Some(key) = key {
            builder = builder.header(routes::IDEMPOTENCY_KEY, key);
        }
        let (status, headers, bytes) = self.send(builder).await?;
        let replayed = headers
            .get(routes::IDEMPOTENT_REPLAYED)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"true"));
        let reply = self.reply(status, &headers, &bytes)?;
        Ok(Revoked { reply, replayed })
    }

    /// `POST /v1/revocations/batch`: a result per item, in order.
    pub async fn revoke_batch(&self, batch: &BatchRequest) -> Result<Reply<BatchResponse>, AdminError> {
        self.revoke_batch_with_key(batch, None).await
    }

    /// `POST /v1/revocations/batch` with an `Idempotency-Key` (see
    /// [`AdminClient::revoke_idempotent`]).
    pub async fn revoke_batch_idempotent(
        &self,
        batch: &BatchRequest,
        key: &str,
    ) -> Result<Reply<BatchResponse>, AdminError> {
        self.revoke_batch_with_key(batch, Some(key)).await
    }

    async fn revoke_batch_with_key(
        &self,
        batch: &BatchRequest,
        key: Option<&str>,
    ) -> Result<Reply<BatchResponse>, AdminError> {
        let url = self.endpoint(&["v1", "revocations", "batch"])?;
        let mut builder = self.write(Method::POST, url).json(batch);
        if let Some(key) = key {
            builder = builder.header(routes::IDEMPOTENCY_KEY, key);
        }
        let (status, headers, bytes) = self.send(builder).await?;
        self.reply(status, &headers, &bytes)
    }

    /// `DELETE /v1/revocations/{kind}[/{value}]?iss=&reason=`: lifts the key's rule.
    pub async fn lift(&self, key: &RuleKey, reason: Option<&str>) -> Result<Reply<LiftResponse>, AdminError> {
        let (url, value) = self.key_endpoint(key)?;
        // The wait's part of the query is the write's (see `write`).
        let query = LiftQuery {
            iss: key.iss.clone(),
            value,
            reason: reason.map(str::to_owned),
            ..LiftQuery::default()
        };
        let (status, headers, bytes) = self.send(self.write(Method::DELETE, url).query(&query)).await?;
        self.reply(status, &headers, &bytes)
    }

    /// `GET /v1/revocations/{kind}[/{value}]?iss=`: the live rule for a key; no live
    /// rule is an error for which [`AdminError::is_not_found`] holds.
    pub async fn get(&self, key: &RuleKey) -> Result<Reply<RuleResponse>, AdminError> {
        self.get_query(key, None).await
    }

    /// Like [`AdminClient::get`], answered once the daemon has applied stream sequence
    /// `min_sequence` (the `sequence` of a revocation's answer): reads its own writes.
    /// The daemon waits up to 2 s, then answers 503 `not_ready`.
    pub async fn get_after(
        &self,
        key: &RuleKey,
        min_sequence: u64,
    ) -> Result<Reply<RuleResponse>, AdminError> {
        self.get_query(key, Some(min_sequence)).await
    }

    async fn get_query(
        &self,
        key: &RuleKey,
        min_sequence: Option<u64>,
    ) -> Result<Reply<RuleResponse>, AdminError> {
        let (url, value) = self.key_endpoint(key)?;
        let query = KeyQuery {
            iss: key.iss.clone(),
            value,
            reason: None,
            min_sequence,
        };
        let (status, headers, bytes) = self.send(self.authorized(Method::GET, url).query(&query)).await?;
        self.reply(status, &headers, &bytes)
    }

    /// `GET /v1/revocations?kind=&limit=&cursor=`: one page of live rules.
    pub async fn list(&self, query: &ListQuery) -> Result<Reply<ListResponse>, AdminError> {
        let url = self.endpoint(&["v1", "revocations"])?;
        let (status, headers, bytes) = self.send(self.authorized(Method::GET, url).query(query)).await?;
        self.reply(status, &headers, &bytes)
    }

    /// `POST /oauth2/revoke` (RFC 7009): hands in a token.
    pub async fn revoke_token(&self, form: &RevokeTokenForm) -> Result<(), AdminError> {
        let url = self.endpoint(&["oauth2", "revoke"])?;
        let (status, headers, bytes) = self.send(self.authorized(Method::POST, url).form(form)).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(api_error(status, &headers, &bytes))
        }
    }

    /// `GET /v1/snapshot`: the newest snapshot's stream sequence and signed bytes, or
    /// `None` when `held` (a sequence) is still the newest (304).
    pub async fn snapshot(&self, held: Option<u64>) -> Result<Option<(u64, Vec<u8>)>, AdminError> {
        let url = self.endpoint(&["v1", "snapshot"])?;
        let mut request = self.authorized(Method::GET, url);
        if let Some(sequence) = held {
            request = request.header(reqwest::header::IF_NONE_MATCH, routes::etag(sequence));
        }
        let (status, headers, bytes) = self.send(request).await?;
        if status == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(api_error(status, &headers, &bytes));
        }
        let sequence = headers
            .get(reqwest::header::ETAG)
            .and_then(|value| value.to_str().ok())
            .and_then(routes::parse_etag)
            .ok_or_else(|| self.unexpected("a snapshot without its ETag"))?;
        Ok(Some((sequence, bytes)))
    }

    /// `POST /v1/snapshot`: write a snapshot now (unless the list has not moved since
    /// the newest).
    pub async fn write_snapshot(&self) -> Result<Reply<SnapshotWritten>, AdminError> {
        let url = self.endpoint(&["v1", "snapshot"])?;
        let (status, headers, bytes) = self.send(self.authorized(Method::POST, url)).await?;
        self.reply(status, &headers, &bytes)
    }

    /// `GET /v1/changes?after=&limit=`: the stream's messages after a sequence.
    pub async fn changes(&self, query: &ChangesQuery) -> Result<Reply<ChangesResponse>, AdminError> {
        let url = self.endpoint(&["v1", "changes"])?;
        let (status, headers, bytes) = self.send(self.authorized(Method::GET, url).query(query)).await?;
        self.reply(status, &headers, &bytes)
    }

    /// `GET /v1/fleet`: every live service instance and what it applied.
    pub async fn fleet(&self) -> Result<Reply<FleetResponse>, AdminError> {
        let url = self.endpoint(&["v1", "fleet"])?;
        let (status, headers, bytes) = self.send(self.authorized(Method::GET, url)).await?;
        self.reply(status, &headers, &bytes)
    }

    /// `GET /v1/status`: the daemon's state, machine-readable.
    pub async fn status(&self) -> Result<Reply<DaemonStatus>, AdminError> {
        let url = self.endpoint(&["v1", "status"])?;
        let (status, headers, bytes) = self.send(self.http.get(url)).await?;
        self.reply(status, &headers, &bytes)
    }

    /// `GET /healthz`: whether the process answers.
    pub async fn healthz(&self) -> Result<Reply<Health>, AdminError> {
        let url = self.endpoint(&["healthz"])?;
        let (status, headers, bytes) = self.send(self.http.get(url)).await?;
        self.reply(status, &headers, &bytes)
    }

    /// `GET /readyz`. Not ready is an answer here, not an error: the daemon sends it
    /// with 503 and the reasons in the body.
    pub async fn readyz(&self) -> Result<Reply<Health>, AdminError> {
        let url = self.endpoint(&["readyz"])?;
        let (status, headers, bytes) = self.send(self.http.get(url)).await?;
        if status == StatusCode::SERVICE_UNAVAILABLE
            && let Ok(reply) = self.reply(StatusCode::OK, &headers, &bytes)
        {
            return Ok(reply);
        }
        self.reply(status, &headers, &bytes)
    }

    /// Waits, up to `limit`, until `GET /readyz` answers ready.
    pub async fn wait_ready(&self, limit: Duration) -> Result<(), AdminError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let last = match self.readyz().await {
                Ok(reply) if reply.body.status == "ready" => return Ok(()),
                Ok(reply) => format!("not ready: {}", reply.body.reasons.join(", ")),
                Err(error) => error.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(AdminError::Unreachable {
                    what: self.base_url(),
                    detail: format!("not ready within {limit:?} ({last})"),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, AdminError> {
        let url = self.endpoint(&["metrics"])?;
        let (status, headers, bytes) = self.send(self.http.get(url)).await?;
        if !status.is_success() {
            return Err(api_error(status, &headers, &bytes));
        }
        String::from_utf8(bytes).map_err(|_| self.unexpected("/metrics is not UTF-8 text"))
    }

    /// `GET /openapi.json`.
    pub async fn openapi(&self) -> Result<Value, AdminError> {
        let url = self.endpoint(&["openapi.json"])?;
        let (status, headers, bytes) = self.send(self.http.get(url)).await?;
        self.reply::<Value>(status, &headers, &bytes)
            .map(|reply| reply.body)
    }

    fn authorized(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.credential {
            Some(secret) => request.bearer_auth(secret.expose_secret()),
            None => request,
        }
    }

    /// Sends, reading the whole body; only transport failures are errors here.
    async fn send(&self, request: RequestBuilder) -> Result<(StatusCode, HeaderMap, Vec<u8>), AdminError> {
        let unreachable = |error: reqwest::Error| AdminError::Unreachable {
            what: self.base_url(),
            // reqwest's message names the URL (values included); the causes say why.
            detail: with_causes(&error.without_url()),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(unreachable)?;
        Ok((status, headers, bytes.to_vec()))
    }

    /// A success body read as `T`, or the API's error.
    fn reply<T: DeserializeOwned>(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        bytes: &[u8],
    ) -> Result<Reply<T>, AdminError> {
        if !status.is_success() {
            return Err(api_error(status, headers, bytes));
        }
        let json: Value = serde_json::from_slice(bytes)
            .map_err(|error| self.unexpected(&format!("the body is not JSON ({error})")))?;
        let body = serde_json::from_value(json.clone())
            .map_err(|error| self.unexpected(&format!("the body is not what the API documents ({error})")))?;
        Ok(Reply { json, body })
    }

    fn unexpected(&self, detail: &str) -> AdminError {
        AdminError::Unexpected {
            what: self.base_url(),
            detail: detail.to_owned(),
        }
    }

    /// The base URL with these path segments appended, each percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Result<Url, AdminError> {
        // URL parsers (this one and any proxy's) drop `.` and `..` segments and their
        // encoded forms, so such a value would silently address another route.
        if let Some(dots) = segments.iter().find(|segment| matches!(**segment, "." | "..")) {
            return Err(AdminError::Usage(format!(
                "the value {dots:?} cannot be sent in a URL path, where the admin API expects it"
            )));
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| AdminError::Usage("the daemon's URL cannot take a path".to_owned()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// The URL of a key's rule, and the value to send in the query instead of the
    /// path: `.` and `..`, which URL parsers drop from paths (encoded or not), go in
    /// `?value=` on `/v1/revocations/{kind}`; every other value is one encoded segment.
    fn key_endpoint(&self, key: &RuleKey) -> Result<(Url, Option<String>), AdminError> {
        match key.value.as_deref() {
            Some(value @ ("." | "..")) => Ok((
                self.endpoint(&["v1", "revocations", key.kind.as_str()])?,
                Some(value.to_owned()),
            )),
            Some(value) => Ok((
                self.endpoint(&["v1", "revocations", key.kind.as_str(), value])?,
                None,
            )),
            None => Ok((self.endpoint(&["v1", "revocations", key.kind.as_str()])?, None)),
        }
    }
}

/// The API's error from an error response; a body without one (a proxy's page, an
/// empty timeout answer) becomes `http_<status>`.
fn api_error(status: StatusCode, headers: &HeaderMap, bytes: &[u8]) -> AdminError {
    let retry_after_secs = headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok());
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(ErrorBody { code, message }) => AdminError::Api {
            status: status.as_u16(),
            code,
            message,
            retry_after_secs,
        },
        Err(_) => AdminError::Api {
            status: status.as_u16(),
            code: format!("http_{}", status.as_u16()),
            message: status
                .canonical_reason()
                .unwrap_or("error status without an error body")
                .to_owned(),
            retry_after_secs,
        },
    }
}

/// A URL without its user and password.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    // Both fail only for URLs that cannot have credentials, which then have none.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// An error and its causes, `outer: inner: innermost`: reqwest puts the useful part
/// ("Connection refused") in the source chain, not in the top message.
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their source in their own message; say it once.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use veto_proto::RuleKind;

    use super::*;

    fn client(base: &str) -> AdminClient {
        AdminClient::at(base, None).expect("a client")
    }

    #[test]
    fn values_are_one_percent_encoded_segment() {
        let api = client("http://127.0.0.1:8080/prefix/");
        let key = RuleKey::new(RuleKind::Sub, Some("a/b c?#%ü"));
        let (url, in_query) = api.key_endpoint(&key).expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/prefix/v1/revocations/sub/a%2Fb%20c%3F%23%25%C3%BC"
        );
        assert_eq!(in_query, None);
        let all = RuleKey::new(RuleKind::All, None);
        assert_eq!(
            api.key_endpoint(&all).expect("url").0.as_str(),
            "http://127.0.0.1:8080/prefix/v1/revocations/all"
        );
        // Encoded dots are sent as they are: their `%` is encoded in turn.
        let encoded = RuleKey::new(RuleKind::Jti, Some("%2e%2e"));
        assert_eq!(
            api.key_endpoint(&encoded).expect("url").0.as_str(),
            "http://127.0.0.1:8080/prefix/v1/revocations/jti/%252e%252e"
        );
    }

    #[test]
    fn dot_segments_travel_in_the_query() {
        let api = client("http://127.0.0.1:8080/");
        for value in [".", ".."] {
            let key = RuleKey::new(RuleKind::Jti, Some(value));
            let (url, in_query) = api.key_endpoint(&key).expect("a URL, not a refusal");
            assert_eq!(url.as_str(), "http://127.0.0.1:8080/v1/revocations/jti");
            assert_eq!(in_query.as_deref(), Some(value));
        }
    }

    #[test]
    fn a_waiting_client_asks_its_writes_to_wait_and_gives_them_the_time() {
        let api = client("http://127.0.0.1:8080");
        let plain = api
            .write(Method::POST, api.endpoint(&["v1", "revocations"]).expect("url"))
            .build()
            .expect("a request");
        assert_eq!(plain.url().query(), None);
        assert_eq!(plain.timeout(), None, "the client's own bound");
        let wait = Wait::new(
            crate::fleet::WaitScope::Service("orders".into()),
            Duration::from_millis(1500),
        );
        let waiting = api.waiting_for(wait);
        let request = waiting
            .write(
                Method::DELETE,
                waiting.endpoint(&["v1", "revocations", "jti", "t"]).expect("url"),
            )
            .query(&LiftQuery {
                iss: Some("https://idp".into()),
                ..LiftQuery::default()
            })
            .build()
            .expect("a request");
        assert_eq!(
            request.url().query(),
            Some("wait=service%3Aorders&timeout=1500ms&iss=https%3A%2F%2Fidp")
        );
        assert_eq!(request.timeout(), Some(&Duration::from_millis(31_500)));
    }

    #[test]
    fn error_bodies_become_code_and_message() {
        let error = api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &HeaderMap::new(),
            br#"{"code":"empty_field","message":"value is empty"}"#,
        );
        assert_eq!(error.to_string(), "empty_field: value is empty");
        assert_eq!(error.code(), Some(ErrorCode::EmptyField));
        let bare = api_error(StatusCode::REQUEST_TIMEOUT, &HeaderMap::new(), b"");
        assert_eq!(bare.to_string(), "http_408: Request Timeout");
        assert!(bare.is_retryable());
    }

    #[test]
    fn credentials_in_the_url_are_not_shown_and_other_schemes_are_refused() {
        assert_eq!(
            client("http://user:pw@127.0.0.1:8080").base_url(),
            "http://127.0.0.1:8080/"
        );
        assert!(matches!(
            AdminClient::at("nats://127.0.0.1:4222", None),
            Err(AdminError::Usage(_))
        ));
    }
}
