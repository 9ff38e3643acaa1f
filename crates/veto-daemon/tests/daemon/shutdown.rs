//! The real `vetod` binary: SIGTERM in the middle of a batch load finishes in-flight
//! requests, exits 0, and every item that got a 2xx is in the stream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use veto_api::{BatchRequest, RevokeRequest};
use veto_proto::{KeyDigest, RuleKind};
use veto_testkit::{DaemonProcess, NatsServer};

use crate::support::*;

#[tokio::test]
async fn sigterm_during_a_batch_load_loses_no_acknowledged_item() {
    let nats = within(30, "nats", NatsServer::start())
        .await
        .expect("nats-server starts");
    let mut daemon = DaemonProcess::start(&nats.url()).await;

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (api, acknowledged) = (daemon.admin(), Arc::clone(&acknowledged));
        writers.push(tokio::spawn(async move {
            for round in 0.. {
                let values: Vec<String> = (0..50)
                    .map(|item| format!("w{writer}-r{round}-i{item}"))
                    .collect();
                let batch = BatchRequest {
                    revocations: values
                        .iter()
                        .map(|value| RevokeRequest::new(RuleKind::Jti, Some(value)))
                        .collect(),
                };
                let Ok(answer) = api.revoke_batch(&batch).await else {
                    return; // the daemon is gone
                };
                let mut acknowledged = acknowledged.lock().expect("lock");
                for (value, result) in values.iter().zip(&answer.body.results) {
                    if result.status == 201 {
                        acknowledged.push(value.clone());
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let pid = daemon.pid().expect("vetod runs");
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("SIGTERM");
    let code = daemon.wait_exit(20).await;
    assert_eq!(code, Some(0), "vetod exits 0 on SIGTERM");
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

#[tokio::test]
async fn sigterm_with_nats_gone_still_stops_the_daemon() {
    let mut nats = within(30, "nats-server start", NatsServer::start())
        .await
        .expect("nats-server starts");
    let mut daemon = DaemonProcess::start(&nats.url()).await;
    nats.kill().expect("kill nats");
    let pid = Pid::from_raw(daemon.pid().expect("running") as i32);
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    let code = daemon.wait_exit(15).await;
    assert_eq!(code, Some(0), "vetod stops (exit 0) without NATS to flush to");
}
