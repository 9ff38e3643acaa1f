//! A real browser for the console tests: headless Chromium from the distribution's
//! packages, driven over WebDriver (fantoccini) through `chromedriver` on a loopback
//! port it picks itself (`--port=0`; the port is read from its first lines, so no port
//! is chosen ahead of time that a parallel test could take).
//!
//! Binaries: `CHROMIUM_BIN` and `CHROMEDRIVER_BIN`, else `chromium` (or
//! `chromium-browser`, `google-chrome`) and `chromedriver` on `PATH`. `scripts/test`
//! installs Debian's `chromium` and `chromium-driver` when they are missing; a test
//! that finds neither fails and says how to install them (a browser test that skips
//! silently would pass without testing anything).
//!
//! Each browser gets a fresh profile directory; every page can be saved as a PNG
//! under `target/console-screenshots/`. Dropping a [`Browser`] ends its WebDriver
//! session (so chromedriver closes Chromium, even when the test panicked) and kills
//! chromedriver.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::*;

const HOW_TO_INSTALL: &str = "the console's browser tests need Chromium and ChromeDriver: run \
     `scripts/install-chromium` (as root it runs `apt-get install -y chromium chromium-driver`), \
     or set CHROMIUM_BIN and CHROMEDRIVER_BIN to their paths";

/// An executable from `variable`, else the first of `names` on `PATH`.
fn find_binary(variable: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// `target/console-screenshots/` (next to the test binary's profile directory).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // target/<profile>/deps/<test binary>
            std::env::current_exe()
                .ok()?
                .ancestors()
                .nth(3)
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("console-screenshots")
}

/// Headless Chromium through chromedriver.
pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_port: u16,
    session_id: Option<String>,
    base_url: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile, for the
    /// daemon at `base_url`.
    pub async fn start(base_url: &str) -> Browser {
        let chromium = find_binary("CHROMIUM_BIN", &["chromium", "chromium-browser", "google-chrome"])
            .unwrap_or_else(|| panic!("Chromium not found: {HOW_TO_INSTALL}"));
        let chromedriver = find_binary("CHROMEDRIVER_BIN", &["chromedriver"])
            .unwrap_or_else(|| panic!("chromedriver not found: {HOW_TO_INSTALL}"));
        let mut driver = Command::new(&chromedriver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}; {HOW_TO_INSTALL}", chromedriver.display()));
        let stdout = driver.stdout.take().expect("piped stdout");
        let driver_port = within(30, "chromedriver reports its port", async {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // "ChromeDriver was started successfully on port 37623."
                if let Some(rest) = line.split("on port ").nth(1)
                    && line.contains("started successfully")
                {
                    let port = rest.trim_end_matches('.').trim().parse::<u16>().expect("a port");
                    // Keep reading, so that chromedriver never blocks on a full pipe.
                    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                    return port;
                }
            }
            panic!("chromedriver exited before it reported its port");
        })
        .await;

        let profile = tempfile::tempdir().expect("a profile directory");
        // As root Chromium needs --no-sandbox; the background-networking flags keep it
        // from calling home, which a closed network refuses noisily.
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-extensions".to_owned(),
            "--window-size=1200,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let client = within(
            60,
            "a WebDriver session with Chromium",
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{driver_port}")),
        )
        .await
        .unwrap_or_else(|error| panic!("Chromium did not start under chromedriver: {error}"));
        let session_id = client.session_id().await.ok().flatten();
        Browser {
            client,
            driver,
            driver_port,
            session_id,
            base_url: base_url.to_owned(),
            _profile: profile,
        }
    }

    /// Opens a console path (`/ui/find?…`).
    pub async fn open(&self, path: &str) {
        within(
            30,
            "page load",
            self.client.goto(&format!("{}{path}", self.base_url)),
        )
        .await
        .unwrap_or_else(|error| panic!("opening {path}: {error}"));
    }

    /// The element `css` matches, waiting (bounded) for it.
    pub async fn find(&self, css: &str) -> Element {
        within(
            15,
            &format!("element {css}"),
            self.client.wait().for_element(Locator::Css(css)),
        )
        .await
        .unwrap_or_else(|error| panic!("no element {css}: {error}"))
    }

    /// Whether an element matches `css` now.
    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .is_empty()
    }

    /// The text of the element `css` matches.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// Types into the field `css` matches.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Clicks the element `css` matches.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// The page's `<h1>`.
    pub async fn heading(&self) -> String {
        self.text("h1").await
    }

    /// Waits (bounded) until the text of `css` contains `expected`.
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
        let mut last = String::new();
        let found = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                if let Ok(element) = self.client.find(Locator::Css(css)).await
                    && let Ok(text) = element.text().await
                {
                    if text.contains(expected) {
                        return;
                    }
                    last = text;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(found.is_ok(), "{css} never said {expected:?}; last: {last:?}");
    }

    /// Runs a script in the page and returns its value.
    pub async fn script(&self, script: &str) -> Value {
        within(10, "script", self.client.execute(script, Vec::new()))
            .await
            .expect("script runs")
    }

    /// The `id` of the focused element.
    pub async fn focused_id(&self) -> String {
        self.script("return document.activeElement ? document.activeElement.id : '';")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Presses keys (a string of characters, or [`Key`]s as chars) on whatever has focus.
    pub async fn press(&self, keys: &str) {
        let mut actions = KeyActions::new("keyboard".to_owned());
        for key in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key });
        }
        within(10, "key presses", self.client.perform_actions(actions))
            .await
            .expect("keys pressed");
    }

    /// Presses Tab until the element with `id` has focus (at most `limit` times).
    pub async fn tab_to(&self, id: &str, limit: usize) {
        for _ in 0..limit {
            if self.focused_id().await == id {
                return;
            }
            self.press(&char::from(Key::Tab).to_string()).await;
        }
        assert_eq!(self.focused_id().await, id, "Tab never reached #{id}");
    }

    /// The session cookie, as a `Cookie` header value.
    pub async fn cookie_header(&self) -> String {
        let cookies = self.client.get_all_cookies().await.expect("cookies");
        cookies
            .iter()
            .map(|cookie| format!("{}={}", cookie.name(), cookie.value()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The session's CSRF token, from the sign-out form every page has.
    pub async fn csrf_token(&self) -> String {
        self.find("input[name=csrf]")
            .await
            .attr("value")
            .await
            .expect("attribute")
            .expect("a csrf value")
    }

    /// Signs in with `credential` through the form.
    pub async fn sign_in(&self, credential: &str) {
        self.open("/ui").await;
        assert_eq!(
            self.heading().await,
            "Sign in",
            "an unsigned visitor is sent to sign in"
        );
        self.fill("#credential", credential).await;
        self.click("form button[type=submit]").await;
        self.wait_for_text("h1", "Overview").await;
    }

    /// Saves the page as `target/console-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = within(20, "screenshot", self.client.screenshot())
            .await
            .expect("a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is saved");
    }

    /// Ends the session (Chromium quits) and chromedriver.
    pub async fn close(mut self) {
        self.session_id = None;
        let client = self.client.clone();
        let _ = within(20, "closing the browser", client.close()).await;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After a panic there is no async context to close the session in: end it with
        // a plain HTTP DELETE, so that chromedriver quits Chromium instead of leaving it.
        if let Some(session_id) = self.session_id.take()
            && let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.driver_port))
        {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /session/{session_id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.driver_port
            );
            let _ = stream.read(&mut [0u8; 512]);
        }
        let _ = self.driver.start_kill();
    }
}

/// `Key::Enter` as a string for [`Browser::press`].
pub fn enter() -> String {
    char::from(Key::Enter).to_string()
}
