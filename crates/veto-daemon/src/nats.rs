//! Connecting to NATS and making sure the stream is there, with the right settings.

use std::time::Duration;

use anyhow::{Context as _, bail};
use async_nats::jetstream::stream::{Config, DiscardPolicy, Republish, StorageType};
use async_nats::jetstream::{self, stream};
use secrecy::ExposeSecret;
use tracing::{info, warn};
use veto_proto::StreamSettings;

use crate::config::NatsSettings;

/// The JetStream stream config that realizes `settings`.
pub fn jetstream_config(settings: &StreamSettings) -> Config {
    Config {
        name: settings.name.clone(),
        description: Some("veto revocation list: the latest state of every rule key".to_owned()),
        subjects: settings.subjects.clone(),
        max_messages_per_subject: settings.max_msgs_per_subject,
        max_age: settings.max_age,
        duplicate_window: settings.duplicate_window,
        num_replicas: settings.replicas,
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        // Readers read without a consumer: the list at start, a gap, one key.
        allow_direct: true,
        // Every stored message, with its sequence, to core subscribers: the live feed
        // of every service, with no per-service state on the server.
        republish: Some(Republish {
            source: veto_proto::subject::FORMER_STREAM_SUBJECTS.to_owned(),
            destination: veto_proto::subject::LIVE_SUBJECTS.to_owned(),
            headers_only: false,
        }),
        ..Default::default()
    }
}

/// A region's mirror of the stream, in the region's own JetStream domain (a leaf node):
/// what the region's services load and fill gaps from. It keeps what the stream keeps
/// (one message per subject, the same `max_age`), answers direct gets, and republishes
/// nothing: live messages reach the region from the hub's republish, through the leaf
/// connection. A mirror keeps the hub's stream sequences, so a service sees one
/// sequence space whichever it reads.
pub fn region_mirror_config(settings: &StreamSettings, hub_domain: &str) -> Config {
    Config {
        name: settings.name.clone(),
        description: Some(format!(
            "veto revocation list: mirror of {} in JetStream domain {hub_domain}",
            settings.name
        )),
        mirror: Some(hub_source(&settings.name, hub_domain)),
        max_messages_per_subject: settings.max_msgs_per_subject,
        max_age: settings.max_age,
        num_replicas: 1,
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        allow_direct: true,
        ..Default::default()
    }
}

/// A region's mirror of the snapshot bucket's stream (`OBJ_<bucket>`). A mirror does
/// not see the hub's purges of a replaced snapshot's chunks, so it is bounded by bytes
/// (`max_bytes`, oldest first): keep it above twice the largest snapshot (about 23 MB
/// per million rules).
pub fn region_snapshot_mirror_config(bucket: &str, hub_domain: &str, max_bytes: i64) -> Config {
    let name = veto_client::snapshots::bucket_stream(bucket);
    Config {
        name: name.clone(),
        description: Some(format!(
            "veto snapshots: mirror of {name} in JetStream domain {hub_domain}"
        )),
        mirror: Some(hub_source(&name, hub_domain)),
        max_bytes,
        num_replicas: 1,
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        allow_direct: true,
        allow_rollup: true,
        ..Default::default()
    }
}

/// The stream `name` of JetStream domain `domain`, as a mirror's source (through the
/// domain's API prefix: servers take no `domain` field).
fn hub_source(name: &str, domain: &str) -> stream::Source {
    stream::Source {
        name: name.to_owned(),
        external: Some(stream::External {
            api_prefix: format!("$JS.{domain}.API"),
            delivery_prefix: None,
        }),
        ..Default::default()
    }
}

/// Creates (or updates) a region's mirrors of the stream and of the snapshot bucket,
/// through `js` (a connection to the region's leaf node, in its own domain).
pub async fn ensure_region_mirrors(
    js: &jetstream::Context,
    settings: &StreamSettings,
    hub_domain: &str,
    bucket: &str,
    snapshot_max_bytes: i64,
) -> anyhow::Result<()> {
    for config in [
        region_mirror_config(settings, hub_domain),
        region_snapshot_mirror_config(bucket, hub_domain, snapshot_max_bytes),
    ] {
        let name = config.name.clone();
        js.get_or_create_stream(config.clone())
            .await
            .map_err(|error| anyhow::anyhow!("creating the mirror {name}: {error}"))?;
        js.update_stream(config)
            .await
            .map_err(|error| anyhow::anyhow!("updating the mirror {name}: {error}"))?;
        info!(stream = %name, hub_domain, "region mirror in place");
    }
    Ok(())
}

/// Connects with the configured credentials and TLS; fails after `connect_timeout`.
pub async fn connect(settings: &NatsSettings) -> anyhow::Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::new()
        .name("vetod")
        // Keep trying forever once connected: a NATS restart must not stop the daemon.
        .max_reconnects(None)
        .retry_on_initial_connect();
    if let Some(path) = &settings.credentials_file {
        options = options
            .credentials_file(path)
            .await
            .with_context(|| format!("reading NATS credentials {}", path.display()))?;
    }
    if let Some(token) = &settings.token {
        options = options.token(token.expose_secret().to_owned());
    }
    if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
        options = options.user_and_password(user.clone(), password.expose_secret().to_owned());
    }
    if settings.tls_required {
        options = options.require_tls(true);
    }
    if let Some(ca) = &settings.tls_ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&settings.tls_client_cert, &settings.tls_client_key) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    let addrs = settings
        .url
        .split(',')
        .map(|url| url.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("invalid NATS URL {:?}", settings.url))?;
    let client = options.connect(addrs).await.context("connecting to NATS")?;
    // With retry_on_initial_connect, connect returns at once; wait for the real thing.
    let deadline = tokio::time::Instant::now() + settings.connect_timeout;
    while client.connection_state() != async_nats::connection::State::Connected {
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "could not connect to NATS at {} within {:?}: is nats-server running (scripts/run starts one)?",
                settings.url,
                settings.connect_timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(client)
}

/// Creates the stream, or checks and updates an existing one. Refuses to go on when
/// JetStream is off or the existing stream cannot be made what veto needs.
pub async fn ensure_stream(
    js: &jetstream::Context,
    settings: &StreamSettings,
) -> anyhow::Result<stream::Info> {
    js.query_account().await.map_err(|error| {
        anyhow::anyhow!(
            "JetStream is not available on this NATS server ({error}); start nats-server with -js \
             (or `jetstream {{}}` in its config)"
        )
    })?;
    let wanted = jetstream_config(settings);
    let existing = match js.get_stream(&settings.name).await {
        Ok(mut stream) => Some(stream.info().await.context("reading stream info")?.clone()),
        Err(error) => match error.kind() {
            jetstream::context::GetStreamErrorKind::JetStream(api_error)
                if api_error.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                None
            }
            _ => return Err(error).context("looking up the stream"),
        },
    };
    let Some(existing) = existing else {
        let mut stream = js
            .create_stream(wanted)
            .await
            .with_context(|| format!("creating stream {}", settings.name))?;
        info!(stream = %settings.name, replicas = settings.replicas, "created the stream");
        return Ok(stream.info().await.context("reading stream info")?.clone());
    };
    let config = &existing.config;
    let mut problems = Vec::new();
    // A stream of an earlier veto captured `veto.v1.>`; it is narrowed to what veto
    // stores, so that the live republish and presence subjects are not captured.
    let former = config.subjects == [veto_proto::subject::FORMER_STREAM_SUBJECTS];
    if config.subjects != wanted.subjects && !former {
        problems.push(format!(
            "subjects are {:?}, veto needs {:?}",
            config.subjects, wanted.subjects
        ));
    }
    if config.storage != stream::StorageType::File {
        problems.push(
            "storage is memory, veto needs file (acknowledged rules must survive a restart)".to_owned(),
        );
    }
    if config.max_messages_per_subject != 1 {
        problems.push(format!(
            "max_msgs_per_subject is {}, veto needs 1 (changing it would drop history: do it deliberately)",
            config.max_messages_per_subject
        ));
    }
    if !problems.is_empty() {
        bail!(
            "stream {} exists with settings veto cannot use: {}",
            settings.name,
            problems.join("; ")
        );
    }
    let needs_update = config.max_age < wanted.max_age
        || config.duplicate_window < wanted.duplicate_window
        || config.num_replicas != wanted.num_replicas
        || !config.allow_direct
        || former
        || config
            .republish
            .as_ref()
            .map(|republish| (&republish.source, &republish.destination))
            != wanted
                .republish
                .as_ref()
                .map(|republish| (&republish.source, &republish.destination));
    if needs_update {
        warn!(stream = %settings.name, "updating stream settings (subjects, max_age, duplicate window, replicas, direct get, republish)");
        let updated = stream::Config {
            max_age: config.max_age.max(wanted.max_age),
            duplicate_window: config.duplicate_window.max(wanted.duplicate_window),
            ..wanted
        };
        return js.update_stream(updated).await.context("updating the stream");
    }
    Ok(existing)
}
