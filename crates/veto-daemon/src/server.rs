//! The HTTP server: hyper's HTTP/1.1 under limits that keep idle, slow or numerous
//! connections from taking the daemon down.
//!
//! `axum::serve` sets none: a connection that sends nothing holds a file descriptor
//! forever, and about 1,100 of them (systemd's default soft limit is 1,024 files) made
//! `accept` fail with `EMFILE`, retried once a second, so `/healthz` timed out. Here:
//!
//! - [`ServerLimits::header_read_timeout`]: from when a connection is ready for a
//!   request (just accepted, or its previous response sent) until that request's head
//!   is complete. It bounds a dripped head and keep-alive idleness alike (hyper's
//!   HTTP/1 timer runs whenever it waits for a head).
//! - [`ServerLimits::idle_timeout`]: a connection with no request being handled for this
//!   long is closed, whatever it is doing: a backstop for what hyper does not time,
//!   such as a client that never reads its response.
//! - [`ServerLimits::max_connections`], lowered to fit the process's file limit (less
//!   a reserve for NATS, JWKS fetches and the like). At the cap, the connection idle the
//!   longest (no request of it being handled) is closed to make room, so a new client
//!   (a health check, an operator) is always served and holding connections open gains
//!   an attacker nothing; a log line says so, at most once per 10 s, and
//!   `veto_http_connections_shed_total` counts it. If every connection is handling a
//!   request, accepting waits for one to finish (requests are bounded by the request
//!   timeout).
//! - An `accept` that fails because the process is out of files sheds the longest-idle
//!   connection and retries after 10 ms.
//!
//! Shutdown: stop accepting, close idle connections, let each busy one finish its
//! request, and return once every connection is closed (the caller bounds the wait).
//!
//! Longer than most files on purpose: the accept loop and its connection bookkeeping
//! (limits, shedding, timeouts) are one mechanism.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;
use tracing::{debug, info, warn};

use crate::metrics::names;

/// What the server allows each connection, and how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long a client has to send a request's head, from when the connection is
    /// ready for one.
    pub header_read_timeout: Duration,
    /// How long a connection may go without a request being handled.
    pub idle_timeout: Duration,
    /// The most connections open at once (lowered to fit the file limit).
    pub max_connections: usize,
}

/// Files kept free for everything but client connections (NATS, JWKS fetches, logs,
/// the listener), or a quarter of a smaller limit.
const RESERVED_FILES: u64 = 64;

/// How long after a failed `accept` the server tries again.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// How often, at most, reaching the cap is logged.
const CAP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The process's soft limit on open files, where the platform has one.
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit};
        getrlimit(Resource::RLIMIT_NOFILE).ok().map(|(soft, _)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Raises the soft limit on open files to the hard limit (as Go's runtime does), so a
/// daemon started with a low default (systemd's 1,024) can hold its connection cap;
/// returns the limits before and after, when it raised them.
pub fn raise_open_file_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        // Linux refuses more than fs.nr_open (1,048,576 by default), and "unlimited".
        const MOST: u64 = 1 << 20;
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
        let wanted = hard.min(MOST);
        if wanted <= soft {
            return None;
        }
        setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).ok()?;
        Some((soft, wanted))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connection cap for `configured` under a file limit of `files`.
pub fn connection_capacity(configured: usize, files: Option<u64>) -> usize {
    let Some(files) = files else {
        return configured.max(1);
    };
    let reserved = RESERVED_FILES.min(files / 4);
    let fits = usize::try_from(files.saturating_sub(reserved)).unwrap_or(usize::MAX);
    configured.min(fits).max(1)
}

/// One open connection, as the accept loop sees it.
#[derive(Debug)]
struct Connection {
    /// Requests being handled.
    busy: AtomicUsize,
    /// When the last request finished (or the connection was accepted).
    idle_since: Mutex<Instant>,
    /// Told to close (shed to make room).
    close: Notify,
}

impl Connection {
    fn new() -> Connection {
        Connection {
            busy: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            close: Notify::new(),
        }
    }

    fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    fn idle_since(&self) -> Instant {
        *self
            .idle_since
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Marks its connection busy while a request is handled.
struct Busy(Arc<Connection>);

impl Busy {
    fn new(connection: &Arc<Connection>) -> Busy {
        connection.busy.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(connection))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self
            .0
            .idle_since
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every open connection, and how many (a watch, so the accept loop and shutdown can
/// wait for the count to fall).
#[derive(Debug)]
struct Connections {
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    count: watch::Sender<usize>,
}

impl Connections {
    fn add(&self, id: u64, connection: Arc<Connection>) {
        self.open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(id, connection);
        self.count.send_modify(|count| *count += 1);
        metrics::gauge!(names::HTTP_CONNECTIONS_OPEN).increment(1.0);
    }

    fn remove(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .remove(&id);
        self.count.send_modify(|count| *count -= 1);
        metrics::gauge!(names::HTTP_CONNECTIONS_OPEN).decrement(1.0);
    }

    /// Tells the connection idle the longest to close; false if every one is busy.
    fn shed_longest_idle(&self, reason: &'static str) -> bool {
        let open = self.open.lock().unwrap_or_else(|poison| poison.into_inner());
        let longest_idle = open
            .values()
            .filter(|connection| connection.is_idle())
            .min_by_key(|connection| connection.idle_since());
        match longest_idle {
            Some(connection) => {
                connection.close.notify_one();
                metrics::counter!(names::HTTP_CONNECTIONS_SHED_TOTAL, "reason" => reason).increment(1);
                true
            }
            None => false,
        }
    }
}

/// Removes its connection from the set when the connection's task ends.
struct Registered {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.remove(self.id);
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown` resolves, then drains
/// (see the module documentation).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let files = open_file_limit();
    let capacity = connection_capacity(limits.max_connections, files);
    if capacity < limits.max_connections {
        warn!(
            max_connections = limits.max_connections,
            open_files = files,
            capacity,
            "the open-file limit lowers the connection cap; raise it (systemd LimitNOFILE, ulimit -n)"
        );
    }
    info!(capacity, open_files = files, "accepting connections");
    let (count, mut open) = watch::channel(0usize);
    let connections = Arc::new(Connections {
        open: Mutex::new(HashMap::new()),
        count,
    });
    let (stopping, stop) = watch::channel(false);
    let mut next_id = 0u64;
    let mut last_cap_log: Option<Instant> = None;
    tokio::pin!(shutdown);
    'accepting: loop {
        // Room for one more before accepting it: shed the longest-idle connection and
        // wait for it to close, or wait for a busy one to finish.
        while *open.borrow() >= capacity {
            let shed = connections.shed_longest_idle("limit");
            if last_cap_log.is_none_or(|at| at.elapsed() >= CAP_LOG_INTERVAL) {
                last_cap_log = Some(Instant::now());
                warn!(
                    capacity,
                    "connection limit reached: closing the connection idle the longest to accept a new one \
                     (api.max_connections and the open-file limit set the cap)"
                );
            }
            let wait = if shed {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(50)
            };
            tokio::select! {
                () = &mut shutdown => break 'accepting,
                _ = tokio::time::timeout(wait, open.wait_for(|count| *count < capacity)) => {}
            }
        }
        let accepted = tokio::select! {
            () = &mut shutdown => break 'accepting,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                if out_of_files(&error) {
                    connections.shed_longest_idle("files");
                }
                debug!(%error, "accept failed; retrying");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        next_id += 1;
        let connection = Arc::new(Connection::new());
        connections.add(next_id, Arc::clone(&connection));
        let registered = Registered {
            connections: Arc::clone(&connections),
            id: next_id,
        };
        tokio::spawn(serve_connection(
            stream,
            router.clone(),
            limits,
            connection,
            stop.clone(),
            registered,
        ));
    }
    // No new connections; idle ones close at once, busy ones after their request.
    drop(listener);
    let _ = stopping.send(true);
    let _ = open.wait_for(|count| *count == 0).await;
    Ok(())
}

fn out_of_files(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        use nix::errno::Errno;
        matches!(error.raw_os_error(), Some(code) if code == Errno::EMFILE as i32 || code == Errno::ENFILE as i32)
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        false
    }
}

/// One connection: hyper's HTTP/1.1 with the header timeout, closed when idle too long,
/// when shed, or at shutdown.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: ServerLimits,
    connection: Arc<Connection>,
    mut stop: watch::Receiver<bool>,
    _registered: Registered,
) {
    let tracked = Arc::clone(&connection);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::new(&tracked);
        let response = router.clone().oneshot(request.map(Body::new));
        async move {
            let response = response.await;
            drop(busy);
            response
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let served = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    let mut stopping = false;
    loop {
        let idle_deadline = if connection.is_idle() {
            connection.idle_since() + limits.idle_timeout
        } else {
            Instant::now() + limits.idle_timeout
        };
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = connection.close.notified() => {
                if connection.is_idle() {
                    return;
                }
                served.as_mut().graceful_shutdown();
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_err() || connection.is_idle() {
                    return;
                }
                served.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(idle_deadline) => {
                if connection.is_idle() && connection.idle_since().elapsed() >= limits.idle_timeout {
                    debug!("closing an idle connection");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_file_limit() {
        assert_eq!(connection_capacity(1024, None), 1024);
        assert_eq!(connection_capacity(1024, Some(65_536)), 1024);
        assert_eq!(connection_capacity(1024, Some(1024)), 960);
        assert_eq!(connection_capacity(1024, Some(256)), 192);
        assert_eq!(connection_capacity(1024, Some(40)), 30);
        assert_eq!(connection_capacity(0, Some(256)), 1);
    }
}
