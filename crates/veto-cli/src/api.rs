//! A typed client of vetod's admin API: one method per route the CLI uses, each
//! returning the API's JSON (printed as is with `--json`) and its typed reading.
//!
//! The response types mirror those of `veto_daemon::api::revocations`; they are
//! declared again here so that the CLI does not link the daemon (axum, the publisher).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use veto_proto::{RevocationRule, RuleKind, UnixSeconds};

use crate::error::{CliError, Secret, with_causes};

/// The header the daemon sets when a revocation was already covered by a stored rule.
const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// `POST /v1/revocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokeRequest {
    /// The rule kind.
    pub kind: RuleKind,
    /// The claim value; `None` for `all`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The issuer scope; `None`: every issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `jti` only: the token's `exp`. `None`: the daemon's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<UnixSeconds>,
    /// `sub`, `sid`, `all`: tokens issued before this. `None`: the daemon's default
    /// (now plus its clock-skew allowance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<UnixSeconds>,
    /// Why, for the audit trail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A stored rule, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResponse {
    /// The rule (merged with earlier revocations of the same key).
    pub rule: RevocationRule,
    /// Its stream sequence.
    pub sequence: u64,
    /// The key digest (hex).
    pub digest: String,
    /// The NATS subject it lives on.
    pub subject: String,
}

/// The answer to a lift.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LiftResponse {
    /// The rule that was lifted.
    pub lifted: RevocationRule,
    /// The stream sequence of the tombstone.
    pub sequence: u64,
}

/// A page of live rules.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListResponse {
    /// The rules, in key order.
    pub items: Vec<RuleResponse>,
    /// The cursor of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// `GET /readyz`: `ready`, or `not_ready` with reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// What is missing, when not ready.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// The error body of every API error.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// An answer: the JSON as the API sent it, and its typed reading.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    /// The body, for `--json`.
    pub json: Value,
    /// The body, typed.
    pub body: T,
}

/// The answer to a revocation.
#[derive(Debug, Clone)]
pub struct RevokeReply {
    /// The stored rule.
    pub reply: Reply<RuleResponse>,
    /// Whether a stored rule already covered the request, so nothing was published.
    pub already_covered: bool,
}

/// The key of a rule: kind, value (none for `all`) and issuer scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleKey {
    /// The kind.
    pub kind: RuleKind,
    /// The value; `None` exactly for `all`.
    pub value: Option<String>,
    /// The issuer scope; `None`: the unscoped rule.
    pub iss: Option<String>,
}

/// The admin API at one base URL, with one credential.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: Url,
    credential: Option<Secret>,
}

impl AdminClient {
    /// A client of the API at `base` (`http://host:port`, optionally with a path
    /// prefix). Every request, connecting included, is bounded by `timeout`.
    pub fn new(base: Url, credential: Option<Secret>, timeout: Duration) -> Result<AdminClient, CliError> {
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(CliError::usage(format!(
                "--url must be an http:// or https:// URL, not {}",
                redacted(&base)
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("veto-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| CliError::usage(format!("building the HTTP client: {}", with_causes(&error))))?;
        Ok(AdminClient {
            http,
            base,
            credential,
        })
    }

    /// The base URL without user or password, for messages.
    pub fn base_url(&self) -> String {
        redacted(&self.base)
    }

    /// `POST /v1/revocations`.
    pub async fn revoke(&self, request: &RevokeRequest) -> Result<RevokeReply, CliError> {
        let url = self.endpoint(&["v1", "revocations"])?;
        let (status, headers, bytes) = self
            .send(self.authorized(Method::POST, url).json(request))
            .await?;
        let already_covered = headers
            .get(IDEMPOTENT_REPLAYED)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"true"));
        let reply = self.reply(status, &bytes)?;
        Ok(RevokeReply {
            reply,
            already_covered,
        })
    }

    /// `DELETE /v1/revocations/{kind}[/{value}]?iss=&reason=`.
    pub async fn lift(&self, key: &RuleKey, reason: Option<&str>) -> Result<Reply<LiftResponse>, CliError> {
        let url = self.key_endpoint(key)?;
        let query = KeyQuery {
            iss: key.iss.as_deref(),
            reason,
        };
        let (status, _, bytes) = self
            .send(self.authorized(Method::DELETE, url).query(&query))
            .await?;
        self.reply(status, &bytes)
    }

    /// `GET /v1/revocations/{kind}[/{value}]?iss=`: the live rule for a key. A key with
    /// no live rule is an [`CliError::Api`] for which [`CliError::is_not_found`] holds.
    pub async fn get(&self, key: &RuleKey) -> Result<Reply<RuleResponse>, CliError> {
        let url = self.key_endpoint(key)?;
        let query = KeyQuery {
            iss: key.iss.as_deref(),
            reason: None,
        };
        let (status, _, bytes) = self.send(self.authorized(Method::GET, url).query(&query)).await?;
        self.reply(status, &bytes)
    }

    /// `GET /v1/revocations?kind=&limit=&cursor=`: one page of live rules.
    pub async fn list_page(
        &self,
        kind: Option<RuleKind>,
        limit: Option<u16>,
        cursor: Option<&str>,
    ) -> Result<Reply<ListResponse>, CliError> {
        #[derive(Serialize)]
        struct ListQuery<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            kind: Option<RuleKind>,
            #[serde(skip_serializing_if = "Option::is_none")]
            limit: Option<u16>,
            #[serde(skip_serializing_if = "Option::is_none")]
            cursor: Option<&'a str>,
        }
        let url = self.endpoint(&["v1", "revocations"])?;
        let query = ListQuery { kind, limit, cursor };
        let (status, _, bytes) = self.send(self.authorized(Method::GET, url).query(&query)).await?;
        self.reply(status, &bytes)
    }

    /// `GET /healthz`: whether the process answers.
    pub async fn healthz(&self) -> Result<Value, CliError> {
        let url = self.endpoint(&["healthz"])?;
        let (status, _, bytes) = self.send(self.http.get(url)).await?;
        self.reply::<Value>(status, &bytes).map(|reply| reply.body)
    }

    /// `GET /readyz`. Not-ready is an answer here, not an error: the daemon sends it
    /// with 503 and the reasons in the body.
    pub async fn readyz(&self) -> Result<Readiness, CliError> {
        let url = self.endpoint(&["readyz"])?;
        let (status, _, bytes) = self.send(self.http.get(url)).await?;
        if status == StatusCode::SERVICE_UNAVAILABLE
            && let Ok(readiness) = serde_json::from_slice::<Readiness>(&bytes)
        {
            return Ok(readiness);
        }
        self.reply::<Readiness>(status, &bytes).map(|reply| reply.body)
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, CliError> {
        let url = self.endpoint(&["metrics"])?;
        let (status, _, bytes) = self.send(self.http.get(url)).await?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        String::from_utf8(bytes).map_err(|_| self.unexpected("/metrics is not UTF-8 text"))
    }

    fn authorized(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.credential {
            Some(secret) => request.bearer_auth(secret.expose()),
            None => request,
        }
    }

    /// Sends, reading the whole body; only transport failures are errors here.
    async fn send(&self, request: RequestBuilder) -> Result<(StatusCode, HeaderMap, Vec<u8>), CliError> {
        let unreachable = |error: reqwest::Error| CliError::Unreachable {
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
    fn reply<T: DeserializeOwned>(&self, status: StatusCode, bytes: &[u8]) -> Result<Reply<T>, CliError> {
        if !status.is_success() {
            return Err(api_error(status, bytes));
        }
        let json: Value = serde_json::from_slice(bytes)
            .map_err(|error| self.unexpected(&format!("the body is not JSON ({error})")))?;
        let body = serde_json::from_value(json.clone())
            .map_err(|error| self.unexpected(&format!("the body is not what the API documents ({error})")))?;
        Ok(Reply { json, body })
    }

    fn unexpected(&self, detail: &str) -> CliError {
        CliError::UnexpectedResponse {
            what: self.base_url(),
            detail: detail.to_owned(),
        }
    }

    /// The base URL with these path segments appended, each percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Result<Url, CliError> {
        // URL parsers (this one and any proxy's) drop `.` and `..` segments and their
        // encoded forms, so such a value would silently address another route.
        if let Some(dots) = segments.iter().find(|segment| matches!(**segment, "." | "..")) {
            return Err(CliError::usage(format!(
                "the value {dots:?} cannot be sent in a URL path, where the admin API expects it"
            )));
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| CliError::usage("--url cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn key_endpoint(&self, key: &RuleKey) -> Result<Url, CliError> {
        match &key.value {
            Some(value) => self.endpoint(&["v1", "revocations", key.kind.as_str(), value]),
            None => self.endpoint(&["v1", "revocations", key.kind.as_str()]),
        }
    }
}

/// The query of a keyed route.
#[derive(Serialize)]
struct KeyQuery<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// The API's error from an error response; a body without one (a proxy's page, an
/// empty timeout answer) becomes `http_<status>`.
fn api_error(status: StatusCode, bytes: &[u8]) -> CliError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(ErrorBody { code, message }) => CliError::Api {
            status,
            code,
            message,
        },
        Err(_) => CliError::Api {
            status,
            code: format!("http_{}", status.as_u16()),
            message: status
                .canonical_reason()
                .unwrap_or("error status without an error body")
                .to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> AdminClient {
        let base = base.parse().expect("a URL");
        AdminClient::new(base, None, Duration::from_secs(1)).expect("a client")
    }

    #[test]
    fn values_are_one_percent_encoded_segment() {
        let api = client("http://127.0.0.1:8080/prefix/");
        let key = RuleKey {
            kind: RuleKind::Sub,
            value: Some("a/b c?#%ü".into()),
            iss: None,
        };
        assert_eq!(
            api.key_endpoint(&key).expect("url").as_str(),
            "http://127.0.0.1:8080/prefix/v1/revocations/sub/a%2Fb%20c%3F%23%25%C3%BC"
        );
        let all = RuleKey {
            kind: RuleKind::All,
            value: None,
            iss: None,
        };
        assert_eq!(
            api.key_endpoint(&all).expect("url").as_str(),
            "http://127.0.0.1:8080/prefix/v1/revocations/all"
        );
    }

    #[test]
    fn dot_values_are_refused_rather_than_sent_to_another_route() {
        let api = client("http://127.0.0.1:8080");
        for dots in [".", ".."] {
            let key = RuleKey {
                kind: RuleKind::Sub,
                value: Some(dots.into()),
                iss: None,
            };
            assert!(matches!(api.key_endpoint(&key), Err(CliError::Usage(_))));
        }
    }

    #[test]
    fn error_bodies_become_code_and_message() {
        let error = api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"code":"empty_field","message":"value is empty"}"#,
        );
        assert_eq!(error.to_string(), "empty_field: value is empty");
        let bare = api_error(StatusCode::REQUEST_TIMEOUT, b"");
        assert_eq!(bare.to_string(), "http_408: Request Timeout");
    }

    #[test]
    fn credentials_in_the_url_are_not_shown_and_other_schemes_are_refused() {
        assert_eq!(
            client("http://user:pw@127.0.0.1:8080").base_url(),
            "http://127.0.0.1:8080/"
        );
        let error = AdminClient::new(
            "nats://127.0.0.1:4222".parse().expect("a URL"),
            None,
            Duration::from_secs(1),
        )
        .expect_err("not http");
        assert!(matches!(error, CliError::Usage(_)));
    }
}
