//! The real `vetod` binary: SIGTERM in the middle of a batch load finishes in-flight
//! requests, exits 0, and every item that got a 2xx is in the stream.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::Method;
use serde_json::{Value, json};
use veto_proto::{KeyDigest, RuleKind};
use veto_testkit::NatsServer;

use crate::support::*;

#[tokio::test]
async fn sigterm_during_a_batch_load_loses_no_acknowledged_item() {
    let nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server starts");
    let hash = veto_daemon::auth::hash_api_key(ADMIN_KEY);
    // Port 0: the daemon binds a free port and logs it (JSON), so no port is picked here
    // that a parallel test could take first.
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_vetod"))
        .args(["--listen", "127.0.0.1:0", "--nats-url", &nats.url()])
        .env("VETO_API_KEYS", format!("admin:{hash}:revoke+lift+read"))
        .env("VETO_LOG", "info")
        .env("VETO_LOG_JSON", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("vetod starts");
    let stdout = daemon.stdout.take().expect("stdout");
    let port_rx = veto_testkit::logs::port_from_json_log(stdout, "vetod listening");
    let port = within(30, "vetod logs its address", port_rx)
        .await
        .expect("vetod listening");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    eventually(30, "vetod ready", || async {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|response| response.status() == 200)
    })
    .await;

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (http, base, acknowledged) = (http.clone(), base.clone(), Arc::clone(&acknowledged));
        writers.push(tokio::spawn(async move {
            for round in 0.. {
                let values: Vec<String> = (0..50).map(|item| format!("w{writer}-r{round}-i{item}")).collect();
                let batch = json!({"revocations": values.iter().map(|value| json!({"kind": "jti", "value": value})).collect::<Vec<_>>()});
                let Ok(response) = http
                    .request(Method::POST, format!("{base}/v1/revocations/batch"))
                    .bearer_auth(ADMIN_KEY)
                    .json(&batch)
                    .send()
                    .await
                else {
                    return; // the daemon is gone
                };
                if response.status() != 200 {
                    return;
                }
                let Ok(body) = response.json::<Value>().await else { return };
                let mut acknowledged = acknowledged.lock().expect("lock");
                for (value, result) in values.iter().zip(body["results"].as_array().into_iter().flatten()) {
                    if result["status"] == 201 {
                        acknowledged.push(value.clone());
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    kill(Pid::from_raw(daemon.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let status = within(20, "vetod exits", async {
        loop {
            if let Some(status) = daemon.try_wait().expect("wait") {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(status.success(), "vetod exits 0 on SIGTERM, got {status}");
    for writer in writers {
        within(20, "writer stops", writer).await.expect("writer task");
    }

    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() >= 100,
        "the load ran: {} acknowledged",
        acknowledged.len()
    );
    let client = within(10, "connect", nats.connect()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let stream = within(10, "stream", js.get_stream("VETO")).await.expect("stream");
    for value in &acknowledged {
        let subject = format!(
            "veto.v1.rule.jti.{}",
            KeyDigest::of(RuleKind::Jti, None, Some(value))
        );
        within(
            10,
            "read rule",
            stream.get_last_raw_message_by_subject(subject.as_str()),
        )
        .await
        .unwrap_or_else(|error| panic!("acknowledged {value} is not in the stream: {error}"));
    }
}
