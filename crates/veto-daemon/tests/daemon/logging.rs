//! What the daemon logs at start: nothing secret at info, API-key hashes included (a
//! hash of a short key is a dictionary attack away from the key).

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

use crate::support::*;

/// Every log line, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn the_startup_log_shows_no_key_hash_at_info() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    // This test binary runs each test in its own process (nextest): the global
    // subscriber is this test's.
    let _ = tracing::subscriber::set_global_default(subscriber);
    let app = spawn_app().await;
    let log = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
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
