//! What the daemon logs at start: nothing secret at info, API-key hashes included (a
//! hash of a short key is a dictionary attack away from the key).

use crate::support::*;

#[tokio::test]
async fn the_startup_log_shows_no_key_hash_at_info() {
    let captured = CapturedLogs::install_at(tracing::Level::INFO);
    let app = spawn_app().await;
    let Some(captured) = captured else {
        return; // another test of this process installed the subscriber first
    };
    let log = captured.text();
    assert!(log.contains("vetod configured"), "{log}");
    for entry in api_keys() {
        assert!(
            !log.contains(&entry.sha256),
            "the hash of API key {:?} is in the info log:\n{log}",
            entry.name
        );
    }
    drop(app);
}
