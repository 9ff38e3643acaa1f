//! `spawn_app()`: a real nats-server, the daemon on port 0, a JWT issuer with its JWKS,
//! and typed request helpers.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use async_nats::jetstream::{self, Context};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use veto_daemon::Application;
use veto_daemon::auth::{ApiKeyEntry, Permission, hash_api_key};
use veto_daemon::config::{AdminJwtSection, JwtSection, Settings};
use veto_proto::Event;
use veto_testkit::{JwksServer, NatsServer, TestIssuer};

pub const ADMIN_KEY: &str = "veto_test_admin_key";
pub const READER_KEY: &str = "veto_test_reader_key";
pub const REVOKER_KEY: &str = "veto_test_revoker_key";
pub const ADMIN_AUDIENCE: &str = "veto-admin";
pub const SERVICE_AUDIENCE: &str = "orders-service";
pub const ISSUER: &str = "https://idp.test";

/// Every await in these tests is bounded.
pub async fn within<T>(seconds: u64, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {seconds}s: {what}"))
}

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
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub js: Context,
    pub issuer: TestIssuer,
    /// Serves the issuer's keys to the daemon for as long as the app lives.
    pub _jwks: JwksServer,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
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
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        ..Settings::default()
    };
    settings.nats.url = nats.url();
    settings.api.publish_timeout = Duration::from_secs(1);
    settings.rate_limit.per_second = 0;
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
    let app = within(30, "daemon build", Application::build(settings))
        .await
        .expect("daemon builds");
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = within(10, "connect", nats.connect()).await.expect("connect");
    let test_app = TestApp {
        js: jetstream::new(client),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client"),
        nats,
        addr,
        issuer,
        _jwks: jwks,
        stop: Some(stop),
        task: Some(task),
    };
    test_app.wait_ready().await;
    test_app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
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
        within(30, "daemon ready", async {
            loop {
                if let Ok(response) = self.http.get(self.url("/readyz")).send().await
                    && response.status() == 200
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
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

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub fn now() -> i64 {
    veto_proto::UnixSeconds::now().0
}

/// Polls until `condition` holds, for at most `seconds`.
pub async fn eventually<F, Fut>(seconds: u64, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    within(seconds, what, async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await;
}
