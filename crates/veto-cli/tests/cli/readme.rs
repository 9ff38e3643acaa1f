//! The README's examples, run, so none can rot: `scripts/run` itself (with the
//! workspace's built `vetod`, on free ports, two at once as two developers on one host
//! would), and against it the README's block of CLI examples exactly as written, with
//! only the addresses, the data directory and `cargo run -q -p veto-cli --` replaced.
//! The example service the README names runs too, against `scripts/run`, with the
//! environment the README lists. Every other shell line of the README must be a script
//! that exists, or a command this test knows how to check; the Rust example is a
//! doc-test of `veto-client`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use veto_api::AdminClient;

use crate::support::*;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The README's fenced blocks of language `sh`, each with the paragraph before it.
fn shell_blocks(readme: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    let mut paragraph = String::new();
    let mut ended = false;
    while let Some(line) = lines.next() {
        if line.trim() == "```sh" {
            let mut block = Vec::new();
            for line in lines.by_ref() {
                if line.trim() == "```" {
                    break;
                }
                block.push(line.to_owned());
            }
            blocks.push((std::mem::take(&mut paragraph), block));
        } else if line.trim().is_empty() {
            ended = true;
        } else {
            if ended {
                paragraph.clear();
                ended = false;
            }
            paragraph.push_str(line);
            paragraph.push('\n');
        }
    }
    blocks
}

/// The block introduced by "With `scripts/run` going".
fn cli_block(readme: &str) -> Vec<String> {
    shell_blocks(readme)
        .into_iter()
        .find(|(intro, _)| intro.contains("With `scripts/run` going"))
        .map(|(_, block)| block)
        .expect("the README's block of CLI examples")
}

/// `scripts/run`, in its own process group, ended (TERM, then KILL) when dropped.
struct ScriptRun {
    child: Child,
    data: tempfile::TempDir,
    url: String,
    nats_url: String,
}

impl ScriptRun {
    async fn start() -> ScriptRun {
        // Under the target directory: what happens there is this workspace's alone.
        let data = tempfile::Builder::new()
            .prefix("scripts-run-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a data directory");
        let nats_server = veto_testkit::server_binary().expect("nats-server");
        let mut command = Command::new("bash");
        command
            .arg(root().join("scripts/run"))
            .arg("--log-json")
            .current_dir(root())
            .env("NATS_SERVER_BIN", nats_server)
            .env("VETOD_BIN", veto_testkit::daemon::vetod_binary())
            .env("VETO_NATS_PORT", "0")
            .env("VETO_LISTEN", "127.0.0.1:0")
            .env("VETO_DATA_DIR", data.path())
            .env_remove("VETO_NATS_MONITOR_PORT")
            .env_remove("VETO_CONFIG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(data.path().join("run.err")).expect("a stderr file"));
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().expect("scripts/run starts");
        let stdout = child.stdout.take().expect("stdout");
        let port = veto_testkit::logs::port_from_json_log(stdout, "vetod listening");
        let mut run = ScriptRun {
            child,
            data,
            url: String::new(),
            nats_url: String::new(),
        };
        let port = within(60, "scripts/run starts vetod", port)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "scripts/run did not start vetod (data in {}, which exists: {})\n--- its stderr ---\n{}\n--- NATS's log ---\n{}",
                    run.data.path().display(),
                    run.data.path().is_dir(),
                    run.file("run.err"),
                    run.nats_log()
                )
            });
        run.url = format!("http://127.0.0.1:{port}");
        run.nats_url = format!("nats://127.0.0.1:{}", run.nats_port());
        AdminClient::at(&run.url, None)
            .expect("client")
            .wait_ready(Duration::from_secs(60))
            .await
            .expect("the daemon scripts/run started is ready");
        run
    }

    fn nats_log(&self) -> String {
        self.file("nats.log")
    }

    fn file(&self, name: &str) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.data.path().join(name)) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// The client port NATS logged.
    fn nats_port(&self) -> u16 {
        self.nats_log()
            .lines()
            .find_map(|line| {
                let (_, address) = line.split_once("Listening for client connections on ")?;
                address.trim().rsplit(':').next()?.parse().ok()
            })
            .expect("NATS logged its client port")
    }

    /// Runs `lines` in one bash, after the README's substitutions; each line's exit
    /// code, in order.
    fn run_lines(&self, lines: &[String]) -> (Vec<i32>, String) {
        let veto = assert_cmd::cargo::cargo_bin("veto");
        let mut script = String::from("set -u\n");
        for (index, line) in lines.iter().enumerate() {
            let line = line
                .replace("cargo run -q -p veto-cli --", &veto.display().to_string())
                .replace("http://127.0.0.1:8080", &self.url)
                .replace("nats://127.0.0.1:4222", &self.nats_url)
                .replace(".tools/data", &self.data.path().display().to_string());
            script.push_str(&format!("{line}\nprintf '\\n__exit {index} %d\\n' $?\n"));
        }
        let output = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(root())
            .env_remove("VETO_URL")
            .env_remove("VETO_API_KEY")
            .env_remove("VETO_TOKEN")
            .env_remove("VETO_NATS_URL")
            .env_remove("VETO_VERIFY_KEYS")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let codes = stdout
            .lines()
            .filter_map(|line| line.strip_prefix("__exit "))
            .map(|rest| {
                rest.split(' ')
                    .nth(1)
                    .and_then(|code| code.parse().ok())
                    .unwrap_or(-1)
            })
            .collect();
        let transcript = format!(
            "{script}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        (codes, transcript)
    }
}

impl Drop for ScriptRun {
    fn drop(&mut self) {
        // The group of the child this test started: bash, nats-server and vetod.
        let group = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(group, Signal::SIGTERM);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_readme_cli_examples_run_against_scripts_run() {
    // Two at once, as two developers on one host: neither may take a fixed port.
    let first = ScriptRun::start().await;
    let second = ScriptRun::start().await;
    assert_ne!(first.url, second.url);

    let lines = cli_block(&readme());
    assert!(
        lines.iter().any(|line| line.contains("VETO_URL")),
        "the examples say where the daemon is: {lines:#?}"
    );
    let (codes, transcript) = second.run_lines(&lines);
    assert_eq!(codes.len(), lines.len(), "every line ran:\n{transcript}");
    for (line, code) in lines.iter().zip(&codes) {
        // `check` exits 1 for a revoked token, as the README says; the example checks
        // the token it has just revoked.
        let expected = if line.contains(" check ") { 1 } else { 0 };
        assert_eq!(*code, expected, "{line}\n{transcript}");
    }
    let key = std::fs::read_to_string(second.data.path().join("dev-api-key")).expect("the dev key");
    let api = AdminClient::at(&second.url, Some(key.trim())).expect("client");
    let listed = within(10, "list", api.list(&veto_api::ListQuery::default()))
        .await
        .expect("list");
    assert_eq!(listed.body.items.len(), 2, "the examples' two rules");
    drop(first);
}

#[tokio::test]
async fn every_other_readme_shell_line_names_something_real() {
    let readme = readme();
    let cli = cli_block(&readme);
    for (intro, block) in shell_blocks(&readme) {
        // The CLI examples run above; the receipts examples ("services reporting") run
        // in `fleet::the_readme_commands_run_as_written`, against reporting lists.
        if block == cli || intro.contains("services reporting") {
            continue;
        }
        for line in &block {
            let command = line.split('#').next().unwrap_or_default().trim();
            if command.is_empty() {
                continue;
            }
            let words: Vec<&str> = command.split_whitespace().collect();
            match words.as_slice() {
                ["cargo", "run", "-p", "veto-cli", "--", args @ ..] => {
                    let run = veto_with(&[], args, None).await;
                    run.exits(0);
                }
                [
                    "cargo",
                    "run",
                    "-p",
                    "veto-client",
                    "--features",
                    "axum",
                    "--example",
                    name,
                ] => {
                    // Run in `the_readme_example_service_refuses_a_token_once_revoked`.
                    let example = root().join(format!("crates/veto-client/examples/{name}.rs"));
                    assert!(example.is_file(), "{line}: no {}", example.display());
                }
                [script, ..] => {
                    let path = root().join(script);
                    let executable = std::fs::metadata(&path)
                        .map(|meta| std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0)
                        .unwrap_or(false);
                    assert!(executable, "README: {line}: {script} is not an executable script");
                    // `scripts/run` runs in this file's tests; every other script in CI.
                    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
                    assert!(
                        *script == "scripts/run" || ci.contains(script),
                        "README: {line}: CI (.ci/run) does not run {script}"
                    );
                }
                [] => {}
            }
        }
    }
}

/// The example binary the workspace's test build made (`cargo test` builds examples;
/// veto-client's dev-dependency on itself turns on `axum`), next to this test's binary.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let binary = profile.join("examples").join(name);
    assert!(
        binary.is_file(),
        "{} was not built: run the tests through `scripts/test` (it builds examples)",
        binary.display()
    );
    binary
}

/// `line` without its ANSI colour codes (the example logs for a terminal).
fn plain(line: &str) -> String {
    let mut text = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ended by a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            text.push(c);
        }
    }
    text
}

#[tokio::test]
async fn the_readme_example_service_refuses_a_token_once_revoked() {
    // As the README says: `scripts/run` going, the example started with the environment
    // its comment lists, and an identity provider whose JWKS it trusts.
    let run = ScriptRun::start().await;
    let issuer = veto_testkit::TestIssuer::new("https://idp.test");
    let jwks = veto_testkit::JwksServer::start(&issuer)
        .await
        .expect("a JWKS server");
    let public_key = run.file("dev-signing-public-key");
    assert!(!public_key.trim().is_empty(), "scripts/run wrote its public key");

    let mut command = Command::new(example_binary("axum_service"));
    command
        .env("VETO_NATS_URL", &run.nats_url)
        .env("VETO_VERIFY_KEYS", format!("dev:{}", public_key.trim()))
        .env("VETO_JWKS_URL", jwks.url())
        .env("VETO_ISSUER", issuer.issuer())
        .env("VETO_AUDIENCE", "orders")
        .env("LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(run.data.path().join("example.err")).expect("a stderr file"));
    let mut child = KillOnDrop(command.spawn().expect("the example starts"));
    let stdout = child.0.stdout.take().expect("stdout");
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let logged = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let log = logged.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut sender = Some(sender);
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let line = plain(&line);
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
                log.push('\n');
            }
            let address = line
                .split_once("address=")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .filter(|_| line.contains("listening"));
            if let Some(address) = address
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(address.to_owned());
            }
        }
    });
    let address = within(60, "the example service listens", receiver)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the example ended early:\n{}{}",
                logged.lock().map(|log| log.clone()).unwrap_or_default(),
                run.file("example.err")
            )
        });
    let url = format!("http://{address}/whoami");

    let claims = issuer.claims("orders", Duration::from_secs(600));
    let jti = claims["jti"].as_str().expect("a jti").to_owned();
    let token = issuer.mint(&claims);
    let http = reqwest::Client::new();
    let whoami = || async {
        let response = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("the example answers");
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, challenge, response.text().await.unwrap_or_default())
    };
    let (status, _, body) = whoami().await;
    assert_eq!(status, 200, "a valid token passes: {body}");
    assert!(body.contains("user-1"), "the handler sees the claims: {body}");
    let anonymous = http.get(&url).send().await.expect("the example answers");
    assert_eq!(anonymous.status().as_u16(), 401, "no token, no entry");

    let key = run.file("dev-api-key");
    let admin = AdminClient::at(&run.url, Some(key.trim())).expect("client");
    let request = veto_api::RevokeRequest::new(veto_proto::RuleKind::Jti, Some(&jti));
    within(10, "revoke", admin.revoke(&request))
        .await
        .expect("revoke");
    let refused = async {
        loop {
            let (status, challenge, _) = whoami().await;
            if status != 200 {
                return (status, challenge);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (status, challenge) = within(10, "the example refuses the revoked token", refused).await;
    // RFC 6750: an invalid token, and no more (the caller learns nothing of the list).
    assert_eq!(
        (status, challenge.as_str()),
        (401, r#"Bearer error="invalid_token""#)
    );
}

/// A child killed (and reaped) when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
