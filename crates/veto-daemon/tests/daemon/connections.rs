//! Connections a careless or hostile client leaves open cannot take the daemon down:
//! more idle connections than the process may open files leave `/healthz` answering
//! within a second; a connection that drips its request head, or sends nothing, is
//! closed; the connection cap is logged when reached.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use veto_testkit::{DaemonProcess, NatsServer};

use crate::support::*;

/// Lets this test process hold many sockets (its soft file limit up to the hard one).
fn raise_own_file_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    }
    hard
}

/// `GET /healthz` on a fresh connection, within `limit`.
async fn healthz_within(url: &str, limit: Duration) -> Result<u16, String> {
    let client = reqwest::Client::builder().timeout(limit).build().expect("client");
    client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .map(|response| response.status().as_u16())
        .map_err(|error| format!("{error:?}"))
}

/// Whether the daemon closed `stream` (end of file or reset) within `seconds`.
async fn closed_within(stream: &mut TcpStream, seconds: u64) -> bool {
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(seconds), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    });
    read.await.is_ok()
}

#[tokio::test]
async fn more_idle_connections_than_the_file_limit_leave_healthz_answering() {
    const FILE_LIMIT: u64 = 256;
    let own_limit = raise_own_file_limit();
    assert!(
        own_limit > 2 * FILE_LIMIT + 64,
        "the test needs {} files",
        2 * FILE_LIMIT + 64
    );
    let nats = within(30, "nats-server start", NatsServer::start())
        .await
        .expect("nats-server starts");
    let daemon = DaemonProcess::start_with_file_limit(&nats.url(), &[], FILE_LIMIT).await;
    let address = daemon.url().trim_start_matches("http://").to_owned();

    // Twice as many connections as the daemon may hold files, each sending nothing.
    let mut idle = Vec::new();
    for _ in 0..2 * FILE_LIMIT {
        let stream = within(5, "an idle connection", TcpStream::connect(&address))
            .await
            .expect("connect");
        idle.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    for attempt in 0..3 {
        let started = Instant::now();
        let answer = healthz_within(&daemon.url(), Duration::from_secs(1)).await;
        assert_eq!(
            answer,
            Ok(200),
            "attempt {attempt}: /healthz with {} idle connections open (after {:?})",
            idle.len(),
            started.elapsed()
        );
        // The attacker comes back with as many again.
        for _ in 0..64 {
            if let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(&address)).await
            {
                idle.push(stream);
            }
        }
    }
    let metrics = within(5, "metrics", daemon.admin().metrics())
        .await
        .expect("metrics");
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("veto_http_connections_shed_total") && !line.ends_with(" 0")),
        "idle connections were shed to make room:\n{metrics}"
    );
    // And the daemon still works.
    let revoked = within(
        10,
        "a revocation",
        daemon.admin().revoke(&veto_api::RevokeRequest::new(
            veto_proto::RuleKind::Jti,
            Some("t-1"),
        )),
    )
    .await;
    assert!(revoked.is_ok(), "{revoked:?}");
}

#[tokio::test]
async fn a_connection_that_drips_its_request_head_or_sends_nothing_is_closed() {
    let app = spawn_app_with(|settings| {
        settings.api.header_read_timeout = Duration::from_millis(300);
        settings.api.idle_timeout = Duration::from_millis(600);
    })
    .await;
    let address = app.daemon.url.trim_start_matches("http://").to_owned();

    let mut dripping = TcpStream::connect(&address).await.expect("connect");
    dripping
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("half a head");
    let mut silent = TcpStream::connect(&address).await.expect("connect");
    let mut kept_alive = TcpStream::connect(&address).await.expect("connect");
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("a request");

    assert!(closed_within(&mut dripping, 5).await, "a dripped head is cut off");
    assert!(
        closed_within(&mut silent, 5).await,
        "a silent connection is closed"
    );
    assert!(
        closed_within(&mut kept_alive, 5).await,
        "an idle keep-alive connection is closed"
    );
}

#[tokio::test]
async fn at_the_connection_cap_the_longest_idle_connection_makes_room() {
    let log = CapturedLogs::install_at(tracing::Level::INFO);
    let app = spawn_app_with(|settings| {
        settings.api.max_connections = 16;
    })
    .await;
    let address = app.daemon.url.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(TcpStream::connect(&address).await.expect("connect"));
    }
    let answer = healthz_within(&app.daemon.url, Duration::from_secs(1)).await;
    assert_eq!(answer, Ok(200), "/healthz at the cap");
    assert!(
        closed_within(&mut idle[0], 5).await,
        "the oldest idle connection was closed to make room"
    );
    let metrics = within(5, "metrics", app.api(None).metrics())
        .await
        .expect("metrics");
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("veto_http_connections_shed_total") && !line.ends_with(" 0")),
        "shed connections are counted:\n{metrics}"
    );
    if let Some(log) = log {
        let log = log.text();
        assert_eq!(
            log.matches("connection limit reached").count(),
            1,
            "one log line says so (at most one per 10 s):\n{log}"
        );
    }
}
