//! Reading a port a child process logged, so tests never pick a port ahead of time
//! (a parallel test could take it first).

use std::io::{BufRead, BufReader, Read};

use tokio::sync::oneshot;

/// Reads JSON log lines (tracing's JSON format) from `output` on a thread, and sends the
/// port of the `address` field of the first line whose message is `message`. The thread
/// keeps draining `output` afterwards, so the child never blocks on a full pipe.
pub fn port_from_json_log(
    output: impl Read + Send + 'static,
    message: &'static str,
) -> oneshot::Receiver<u16> {
    let (port_tx, port_rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut port_tx = Some(port_tx);
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if entry["fields"]["message"] == message
                && let Some(port) = entry["fields"]["address"]
                    .as_str()
                    .and_then(|address| address.rsplit(':').next()?.parse().ok())
                && let Some(sender) = port_tx.take()
            {
                let _ = sender.send(port);
            }
        }
    });
    port_rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_logged_port_is_found_among_other_lines() {
        let log = concat!(
            "not json\n",
            r#"{"fields":{"message":"starting"}}"#,
            "\n",
            r#"{"fields":{"message":"vetod listening","address":"127.0.0.1:40123"}}"#,
            "\n"
        );
        let port = port_from_json_log(std::io::Cursor::new(log), "vetod listening");
        assert_eq!(port.await.unwrap(), 40123);
    }
}
