//! The JetStream stream config for veto's [`StreamSettings`], shared by the daemon
//! (which creates the stream) and by tests and tools that need one.

use async_nats::jetstream::stream::{Config, DiscardPolicy, StorageType};
use veto_proto::StreamSettings;

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
        // Lets readers fetch one key's latest message without a consumer.
        allow_direct: true,
        ..Default::default()
    }
}
