//! A JetStream cluster of real servers on loopback.

use std::net::TcpListener;

use async_nats::ServerAddr;

use crate::server::{ClusterMembership, Readiness};
use crate::{NatsServer, START_TIMEOUT, TestkitError, eventually};

/// A JetStream cluster of `nats-server` processes on loopback, each with its own
/// store. Nodes can be killed and started again; they rejoin on the same ports.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` nodes (3 for an R3 stream) and waits until the cluster's JetStream
    /// API answers (a meta leader is elected).
    pub async fn start(size: usize) -> Result<NatsCluster, TestkitError> {
        let cluster = NatsCluster::start_with(size, |builder| builder).await?;
        cluster.wait_for_jetstream().await?;
        Ok(cluster)
    }

    /// Like [`NatsCluster::start`], with each node's builder adjusted by `configure`
    /// (a config file, environment variables). The test kit still sets the node name,
    /// loopback ports, routes and store directory on the command line. Returns once every
    /// node accepts connections: configs with accounts need credentials, so wait for the
    /// JetStream API with [`NatsCluster::wait_for_jetstream_as`].
    pub async fn start_with(
        size: usize,
        configure: impl Fn(crate::NatsServerBuilder) -> crate::NatsServerBuilder,
    ) -> Result<NatsCluster, TestkitError> {
        // Routes must be known before the nodes start, so the cluster ports are picked
        // up front: bind port 0, note the port, release it. Another process (tests run in
        // parallel) can take one in between; then the node fails to bind, and the whole
        // cluster starts again on fresh ports.
        const ATTEMPTS: usize = 5;
        let mut attempt = 1;
        loop {
            match NatsCluster::start_once(size, &configure).await {
                Err(TestkitError::NotReady { log_tail, .. })
                    if attempt < ATTEMPTS && log_tail.contains("address already in use") =>
                {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn start_once(
        size: usize,
        configure: &impl Fn(crate::NatsServerBuilder) -> crate::NatsServerBuilder,
    ) -> Result<NatsCluster, TestkitError> {
        let cluster_ports = (0..size)
            .map(|_| Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()))
            .collect::<Result<Vec<u16>, std::io::Error>>()?;
        let cluster_name = format!("veto-test-{}", std::process::id());
        let mut nodes = Vec::with_capacity(size);
        for (index, &cluster_port) in cluster_ports.iter().enumerate() {
            let routes = cluster_ports
                .iter()
                .filter(|&&port| port != cluster_port)
                .map(|port| format!("nats://127.0.0.1:{port}"))
                .collect();
            let mut builder = configure(NatsServer::builder()).name(&format!("n{}", index + 1));
            builder.cluster = Some(ClusterMembership {
                cluster_name: cluster_name.clone(),
                cluster_port,
                routes,
            });
            builder.readiness = Readiness::Listening;
            // On an error, the nodes already started are dropped, which kills them.
            nodes.push(builder.start().await?);
        }
        Ok(NatsCluster { nodes })
    }

    /// Node `index` (0-based).
    pub fn node(&self, index: usize) -> &NatsServer {
        &self.nodes[index]
    }

    /// Node `index` (0-based), to stop, kill or start again.
    pub fn node_mut(&mut self, index: usize) -> &mut NatsServer {
        &mut self.nodes[index]
    }

    /// Every node's client address, for a client that fails over between them.
    pub fn server_addrs(&self) -> Vec<ServerAddr> {
        self.nodes
            .iter()
            .filter_map(|node| node.url().parse().ok())
            .collect()
    }

    /// Every node's client URL, comma-separated (the form `vetod --nats-url` takes).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client that knows every node and fails over between them.
    pub async fn connect(&self) -> Result<async_nats::Client, TestkitError> {
        async_nats::connect(self.server_addrs())
            .await
            .map_err(|source| TestkitError::Connect {
                url: self.urls(),
                source,
            })
    }

    /// Waits until the JetStream API answers through some running node.
    pub async fn wait_for_jetstream(&self) -> Result<(), TestkitError> {
        self.wait_for_jetstream_as(async_nats::ConnectOptions::new).await
    }

    /// Like [`NatsCluster::wait_for_jetstream`], connecting with `options` (credentials).
    pub async fn wait_for_jetstream_as(
        &self,
        options: impl Fn() -> async_nats::ConnectOptions,
    ) -> Result<(), TestkitError> {
        let addrs = self.server_addrs();
        eventually(START_TIMEOUT, "the cluster's JetStream API (meta leader)", || {
            let (addrs, options) = (addrs.clone(), options());
            async move {
                let client = options.connect(addrs).await.ok()?;
                async_nats::jetstream::new(client)
                    .query_account()
                    .await
                    .ok()
                    .map(|_| ())
            }
        })
        .await
    }
}
