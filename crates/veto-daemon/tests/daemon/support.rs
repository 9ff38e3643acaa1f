//! `spawn_app()`: a real nats-server, the test kit's daemon on port 0, a JWT issuer with
//! its JWKS, and request helpers (raw HTTP, for what a typed client would not send;
//! `api()` for the rest).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, Context};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use veto_api::AdminClient;
use veto_daemon::auth::{ApiKeyEntry, Permission, hash_api_key};
use veto_daemon::config::{AdminJwtSection, JwtSection, Settings};
use veto_proto::Event;
pub use veto_testkit::daemon::ADMIN_KEY;
use veto_testkit::daemon::test_settings;
pub use veto_testkit::wait::{until as eventually, within};
use veto_testkit::{JwksServer, NatsServer, TestDaemon, TestIssuer};
pub const READER_KEY: &str = "veto_test_reader_key";
pub const REVOKER_KEY: &str = "veto_test_revoker_key";
pub const ADMIN_AUDIENCE: &str = "veto-admin";
pub const SERVICE_AUDIENCE: &str = "orders-service";
pub const ISSUER: &str = "https://idp.test";

pub fn api_keys() -> Vec<ApiKeyEntry> {
    let entry = |name: &str, key: &str, permissions: Vec<Permission>| ApiKeyEntry {
        name: name.into(),
        sha256: hash_api_key(key),
        permissions,
    };
    vec![
        entry(
            "admin",
            ADMIN_KEY,
            vec![Permission::Revoke, Permission::Lift, Permission::Read],
        ),
        entry("reader", READER_KEY, vec![Permission::Read]),
        entry("revoker", REVOKER_KEY, vec![Permission::Revoke]),
    ]
}

pub struct TestApp {
    pub nats: NatsServer,
    pub daemon: TestDaemon,
    pub http: reqwest::Client,
    pub js: Context,
    pub issuer: TestIssuer,
    /// Serves the issuer's keys to the daemon for as long as the app lives.
    pub _jwks: JwksServer,
}

/// A daemon with the test keys, admin JWTs and RFC 7009 from the test issuer, no rate
/// limit, and a 1 s publish timeout.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let nats = within(30, "nats-server start", NatsServer::start())
        .await
        .expect("nats-server starts");
    let issuer = TestIssuer::new(ISSUER);
    let jwks = within(5, "jwks server", JwksServer::start(&issuer))
        .await
        .expect("jwks server");
    let jwt = |audience: &str| JwtSection {
        issuers: vec![ISSUER.into()],
        audiences: vec![audience.into()],
        jwks_url: jwks.url(),
        algorithms: vec!["ES256".into()],
        leeway: Duration::from_secs(30),
    };
    let mut settings = test_settings(&nats.url());
    settings.api.publish_timeout = Duration::from_secs(1);
    settings.auth.api_keys = api_keys();
    settings.auth.jwt = Some(AdminJwtSection {
        validation: jwt(ADMIN_AUDIENCE),
        roles_claim: "roles".into(),
        revoke_role: "veto:revoke".into(),
        lift_role: "veto:lift".into(),
        read_role: "veto:read".into(),
    });
    settings.oauth = Some(jwt(SERVICE_AUDIENCE));
    adjust(&mut settings);
    let daemon = TestDaemon::start_with(settings).await;
    let client = within(10, "connect", nats.connect()).await.expect("connect");
    TestApp {
        js: jetstream::new(client),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client"),
        nats,
        daemon,
        issuer,
        _jwks: jwks,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.url)
    }

    /// A typed client of the API with `credential`.
    pub fn api(&self, credential: Option<&str>) -> AdminClient {
        self.daemon.client(credential)
    }

    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let builder = self.http.request(method, self.url(path));
        match key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    pub async fn send(&self, builder: RequestBuilder) -> Response {
        within(15, "http request", builder.send())
            .await
            .expect("http response")
    }

    /// POST /v1/revocations as the admin.
    pub async fn revoke(&self, body: &Value) -> Response {
        self.send(
            self.request(Method::POST, "/v1/revocations", Some(ADMIN_KEY))
                .json(body),
        )
        .await
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Response {
        self.send(self.request(Method::GET, path, key)).await
    }

    pub async fn wait_ready(&self) {
        self.daemon
            .admin()
            .wait_ready(Duration::from_secs(30))
            .await
            .expect("the daemon is ready again");
    }

    /// Messages per rule subject in the stream (ticks excluded).
    pub async fn rule_subjects(&self) -> HashMap<String, usize> {
        let stream = within(10, "stream", self.js.get_stream("VETO"))
            .await
            .expect("stream");
        let mut subjects = within(10, "subjects", stream.info_with_subjects("veto.v1.rule.>"))
            .await
            .expect("stream info");
        let mut found = HashMap::new();
        use futures_util::TryStreamExt;
        while let Some((subject, count)) = within(10, "subjects page", subjects.try_next())
            .await
            .expect("subjects")
        {
            found.insert(subject, count);
        }
        found
    }

    /// The last event on a subject, with its sequence.
    pub async fn last_event(&self, subject: &str) -> Option<(Event, u64)> {
        let stream = within(10, "stream", self.js.get_stream("VETO"))
            .await
            .expect("stream");
        let message = within(
            10,
            "last message",
            stream.get_last_raw_message_by_subject(subject),
        )
        .await
        .ok()?;
        Some((
            Event::decode_on(subject, &message.payload).expect("a valid event"),
            message.sequence,
        ))
    }
}

pub fn now() -> i64 {
    veto_proto::UnixSeconds::now().0
}

/// Lines the daemon logs during a test, to check what they hold: installed as the
/// process's global subscriber (nextest runs each test in its own process, so it is
/// this test's).
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Captures this process's log lines at debug and above.
    pub fn install() -> Option<CapturedLogs> {
        CapturedLogs::install_at(tracing::Level::DEBUG)
    }

    /// Captures this process's log lines at `level` and above; `None` if a subscriber
    /// was already installed (tests sharing a process under `cargo test`), when nothing
    /// can be checked.
    pub fn install_at(level: tracing::Level) -> Option<CapturedLogs> {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .ok()
            .map(|()| logs)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}
