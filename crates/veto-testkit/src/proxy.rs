//! A TCP proxy on loopback that a test can cut, to cut one client off from NATS while
//! the server and every other client carry on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

#[derive(Debug, Default)]
struct ProxyState {
    cut: AtomicBool,
    connections: Mutex<Vec<AbortHandle>>,
}

/// Forwards every connection on its own loopback port to `target`, until cut.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// A proxy to `target` (such as a [`crate::NatsServer`]'s client port).
    pub async fn start(target: SocketAddr) -> std::io::Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState::default());
        let accept_state = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if accept_state.cut.load(Ordering::Acquire) {
                    continue; // dropped: the connection is refused in effect
                }
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut connections = accept_state
                    .connections
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                connections.retain(|connection| !connection.is_finished());
                connections.push(pipe.abort_handle());
            }
        });
        Ok(TcpProxy { addr, state, accept })
    }

    /// The proxy's client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Closes every proxied connection and drops new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::Release);
        let connections = self
            .state
            .connections
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        for connection in connections.iter() {
            connection.abort();
        }
    }

    /// Accepts and forwards connections again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::Release);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
