//! The stream's history as a reader must take it: a stream that went back (deleted and
//! created again, restored from a backup) is loaded again from scratch, and a list
//! refuses to start trusting no key at all.

use veto_client::{ListConfig, RevocationList, TokenFacts, Verdict, VerificationKeys};
use veto_proto::{Event, RuleKind, StreamSettings, TokenPolicy};

use crate::support::*;

fn token(jti: &str) -> TokenFacts<'_> {
    TokenFacts {
        jti: Some(jti),
        ..TokenFacts::default()
    }
}

#[tokio::test]
async fn a_stream_deleted_and_created_again_reaches_every_running_client() {
    let (server, js) = server_with_stream().await;
    let _ticker = Ticker::start(js.clone());
    let events: Vec<Event> = (0..200)
        .map(|index| Event::Rule(jti_rule(&format!("old-{index}"))))
        .collect();
    within(30, "publish", publish_all(&js, &events)).await;
    let lists = [
        ready_list(&server.url(), ListConfig::default()).await,
        ready_list(&server.url(), ListConfig::default()).await,
    ];
    wait_until(10, "every client has the old rules", || {
        lists.iter().all(|list| list.stats().live() == 200)
    })
    .await;

    // The stream is deleted and created again (a restore, an operator's mistake): its
    // sequences start over, far below what the clients applied.
    within(10, "delete", js.delete_stream("VETO"))
        .await
        .expect("deleted");
    let settings = StreamSettings::new("VETO", &TokenPolicy::default(), 1).expect("settings");
    within(
        10,
        "create again",
        veto_daemon::nats::ensure_stream(&js, &settings),
    )
    .await
    .expect("created again");
    publish_until_acked(&js, &Event::Rule(jti_rule("fresh")), 10).await;

    wait_until(
        20,
        "every running client revokes what the new stream holds",
        || {
            lists
                .iter()
                .all(|list| list.check(&token("fresh")) == Verdict::Revoked(RuleKind::Jti))
        },
    )
    .await;
    for list in &lists {
        assert_eq!(
            list.check(&token("old-7")),
            Verdict::Allowed,
            "the new stream is the list"
        );
        assert!(!list.is_stale());
    }
}

#[tokio::test]
async fn a_list_trusting_no_key_refuses_to_start() {
    let (server, _js) = server_with_stream().await;
    let client = within(10, "connect", async_nats::connect(server.url()))
        .await
        .expect("connect");
    let refused = RevocationList::start(client, ListConfig::default().signed_by(VerificationKeys::new()));
    assert!(
        refused.is_err(),
        "an empty key set would trust nothing and fail open"
    );
}
