//! `vetod`: wiring only. Parse settings, set up logging, build, serve until SIGINT or
//! SIGTERM, drain.

use anyhow::Context as _;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use veto_daemon::Application;
use veto_daemon::config::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.generate_signing_key {
        let seed = veto_daemon::signer::EventSigner::generate_seed();
        let signer = veto_daemon::signer::EventSigner::from_seed("new", &seed)?;
        println!(
            "{}",
            serde_json::json!({ "seed": seed, "public_key": signer.public_key() })
        );
        return Ok(());
    }
    let filter = EnvFilter::try_from_env("VETO_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if cli.log_json {
        tracing_subscriber::fmt().with_env_filter(filter).json().init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    // Before anything opens files: systemd's default soft limit (1,024) would cap the
    // connections the daemon can hold well below its hard limit.
    if let Some((before, after)) = veto_daemon::server::raise_open_file_limit() {
        tracing::info!(before, after, "raised the open-file limit to the hard limit");
    }
    let settings = cli.settings().context("reading settings")?;
    if cli.create_region_mirrors {
        return veto_daemon::create_region_mirrors(&settings, &cli.hub_domain, cli.snapshot_mirror_max_bytes)
            .await;
    }
    let app = Application::build(settings).await?;
    tracing::info!(address = %app.local_addr(), "vetod listening");
    reload_api_keys_on_sighup(cli, app.state());
    app.run_until(shutdown_signal()).await
}

/// On SIGHUP, reads the settings again and replaces the API keys: a key removed from
/// the file (or the environment) is refused from then on, without a restart.
fn reload_api_keys_on_sighup(cli: Cli, state: std::sync::Arc<veto_daemon::state::AppState>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            return;
        };
        while hangups.recv().await.is_some() {
            match cli.settings() {
                Ok(settings) => state.authenticator.replace_api_keys(&settings.auth.api_keys),
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "SIGHUP: settings not reloaded; the old API keys stay")
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (cli, state);
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
