//! The `[fleet]` section: when an instance counts as gone or lagging, and how long a
//! write may wait for the fleet.

use std::time::Duration;

use serde::Deserialize;

/// `[fleet]`: the daemon's view of the service instances that report presence.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetSettings {
    /// An instance that sent no report for this many of its own heartbeats is gone
    /// (dropped from the view and from every wait). Default 3.
    pub missed_heartbeats: u32,
    /// An instance that has not applied a sequence the stream stored longer ago than
    /// this is lagging (logged, counted, named). Default 2 s: a connected instance
    /// applies and reports within milliseconds.
    #[serde(with = "humantime_serde")]
    pub lagging_after: Duration,
    /// The longest `timeout` a write may ask to wait for the fleet; requests may take
    /// this much longer than the publish timeout. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// The most instances held; a report from one more is refused and counted
    /// (`veto_fleet_reports_rejected_total{reason="fleet_full"}`): whoever may publish
    /// presence cannot grow the daemon's memory without bound. Default 100,000.
    pub max_instances: usize,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            missed_heartbeats: 3,
            lagging_after: Duration::from_secs(2),
            max_wait: Duration::from_secs(10),
            max_instances: 100_000,
        }
    }
}

impl FleetSettings {
    /// Checks what serde cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_instances >= 1, "fleet.max_instances must be at least 1");
        anyhow::ensure!(
            (1..=100).contains(&self.missed_heartbeats),
            "fleet.missed_heartbeats must be between 1 and 100"
        );
        anyhow::ensure!(
            self.lagging_after >= Duration::from_millis(100),
            "fleet.lagging_after must be at least 100ms"
        );
        anyhow::ensure!(
            !self.max_wait.is_zero() && self.max_wait <= Duration::from_secs(300),
            "fleet.max_wait must be more than 0 and at most 5m"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Settings;

    /// The README's `[fleet]` example ("Did it reach everyone?") is the defaults.
    #[test]
    fn the_readme_example_is_the_defaults() {
        let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("the README");
        let section = readme
            .split("\n## ")
            .find(|section| section.starts_with("Did it reach everyone?"))
            .expect("a \"Did it reach everyone?\" section");
        let example = section
            .split("```toml\n")
            .nth(1)
            .and_then(|block| block.split("```").next())
            .expect("a TOML example");
        let settings: Settings = toml::from_str(example).expect("the README's TOML parses");
        settings.validate().expect("and is valid");
        let defaults = FleetSettings::default();
        assert_eq!(settings.fleet.missed_heartbeats, defaults.missed_heartbeats);
        assert_eq!(settings.fleet.lagging_after, defaults.lagging_after);
        assert_eq!(settings.fleet.max_wait, defaults.max_wait);
        assert_eq!(settings.fleet.max_instances, defaults.max_instances);
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        for mistake in [
            "missed_heartbeats = 0",
            "lagging_after = \"10ms\"",
            "max_wait = \"0s\"",
            "max_wait = \"1h\"",
        ] {
            let settings: Settings = toml::from_str(&format!("[fleet]\n{mistake}\n")).expect("parses");
            assert!(settings.validate().is_err(), "{mistake}");
        }
        assert!(toml::from_str::<Settings>("[fleet]\nmissed = 3\n").is_err());
    }
}
