//! `--wait` on revoke and lift, `veto fleet`, exit code 5 when a wait timed out (one
//! instance cut off from NATS by a proxy), and the README's "Did it reach everyone?"
//! commands run as written (the CLI lines with the built binary, the `curl` lines
//! replayed over HTTP), against a real daemon with lists reporting presence.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use veto_api::{AdminClient, InstanceState};
use veto_client::{ListConfig, RevocationList};
use veto_testkit::TcpProxy;

use crate::support::*;

/// A list following the stream through `nats_url`, reporting as `service`/`instance`.
async fn reporting(nats_url: &str, service: &str, instance: &str) -> RevocationList {
    let client = within(10, "connect", async_nats::connect(nats_url))
        .await
        .expect("connect");
    let config = ListConfig::default()
        .reporting_as(service, instance)
        .presence_heartbeat(Duration::from_millis(300));
    let list = RevocationList::start(client, config).expect("a reporting list");
    within(30, "the list is ready", list.ready()).await;
    list
}

fn admin(daemon: &TestDaemonAndNats) -> AdminClient {
    AdminClient::at(&daemon.url, Some(ADMIN_KEY)).expect("a client")
}

/// Waits until the daemon sees `count` instances, all in `state`.
async fn until_all(daemon: &TestDaemonAndNats, count: u64, state: InstanceState) {
    let api = admin(daemon);
    veto_testkit::until(20, "the fleet as expected", || {
        let api = api.clone();
        async move {
            api.fleet()
                .await
                .is_ok_and(|fleet| fleet.body.instances == count && fleet.body.by_state.get(state) == count)
        }
    })
    .await;
}

#[tokio::test]
async fn a_wait_names_who_has_applied_and_exits_5_when_some_had_not() {
    let daemon = spawn_daemon_with(|settings| {
        settings.fleet.lagging_after = Duration::from_secs(1);
        settings.fleet.missed_heartbeats = 100;
    })
    .await;
    let target: SocketAddr = ([127, 0, 0, 1], daemon.nats.port()).into();
    let proxy = within(5, "proxy", TcpProxy::start(target))
        .await
        .expect("a proxy");
    let _steady = reporting(&daemon.nats.url(), "orders", "steady").await;
    let _cut_off = reporting(&proxy.url(), "billing", "cut-off").await;
    until_all(&daemon, 2, InstanceState::Fresh).await;

    let revoked = daemon.veto(&["revoke", "jti", "t-1", "--wait"]).await;
    assert!(
        revoked
            .exits(0)
            .stdout
            .contains("applied by: all 2 live instances (fleet)"),
        "{}",
        revoked.stdout
    );
    let table = daemon.veto(&["fleet"]).await;
    let text = &table.exits(0).stdout;
    assert!(text.starts_with("2 instances of 2 services (2 fresh"), "{text}");
    assert!(text.contains("\nbilling  cut-off   fresh"), "{text}");
    assert!(text.contains("\norders   steady    fresh"), "{text}");
    let json = daemon.veto(&["fleet", "--json"]).await.exits(0).json();
    assert_eq!(json["instances"], 2);
    assert_eq!(json["services"][1]["instances"][0]["instance"], "steady");

    proxy.cut();
    let timed_out = daemon
        .veto(&["revoke", "jti", "t-2", "--wait", "--wait-timeout", "1s"])
        .await;
    let text = &timed_out.exits(5).stdout;
    assert!(
        text.starts_with("revoked: jti \"t-2\""),
        "stored all the same: {text}"
    );
    assert!(
        text.contains("NOT applied everywhere: 1 of 2 live instances (fleet)"),
        "{text}"
    );
    assert!(text.contains("\n  billing/cut-off  applied "), "{text}");

    // Waiting only for the service that is there is complete.
    let scoped = daemon
        .veto(&[
            "revoke",
            "sub",
            "alice",
            "--wait=service:orders",
            "--wait-timeout",
            "1s",
        ])
        .await;
    assert!(
        scoped
            .exits(0)
            .stdout
            .contains("applied by: all 1 live instances (service:orders)"),
        "{}",
        scoped.stdout
    );
    // --json prints the API's JSON, and the exit code says the same.
    let json = daemon
        .veto(&["revoke", "jti", "t-3", "--wait", "--wait-timeout", "1s", "--json"])
        .await;
    let body = json.exits(5).json();
    assert_eq!(body["applied_by"]["complete"], false);
    assert_eq!(body["applied_by"]["laggards"][0]["instance"], "cut-off");
    // A lift waits too.
    let lift = daemon
        .veto(&["lift", "jti", "t-1", "--wait", "--wait-timeout", "1s"])
        .await;
    assert!(
        lift.exits(5).stdout.contains("billing/cut-off"),
        "{}",
        lift.stdout
    );
    // The table shows it lagging, once the daemon says so.
    let api = admin(&daemon);
    veto_testkit::until(10, "cut-off lagging", || {
        let api = api.clone();
        async move {
            api.fleet()
                .await
                .is_ok_and(|fleet| fleet.body.by_state.lagging == 1)
        }
    })
    .await;
    let table = daemon.veto(&["fleet"]).await;
    assert!(
        table.exits(0).stdout.contains("\nbilling  cut-off   lagging"),
        "{}",
        table.stdout
    );
    proxy.restore();
}

/// One command of the README section: the `veto` arguments, or a `curl` request.
#[derive(Debug)]
enum ReadmeCommand {
    Veto(Vec<String>),
    Curl {
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<String>,
    },
}

/// Shell words of one command line: quotes grouped, a `#` at a word's start ends it.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '#') if word.is_none() => break,
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// The commands of the README's "Did it reach everyone?" ```sh block.
fn readme_commands() -> Vec<ReadmeCommand> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("the README");
    let section = readme
        .split("\n## ")
        .find(|section| section.starts_with("Did it reach everyone?"))
        .expect("the section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a sh block");
    let joined = block.replace("\\\n", " ");
    joined
        .lines()
        .map(words)
        .filter(|words| !words.is_empty())
        .map(|words| match words[0].as_str() {
            "cargo" => {
                let start = words
                    .iter()
                    .position(|word| word == "--")
                    .expect("cargo run … --");
                ReadmeCommand::Veto(words[start + 1..].to_vec())
            }
            "curl" => {
                let (mut method, mut url, mut headers, mut body) = ("GET".to_owned(), None, Vec::new(), None);
                let mut rest = words[1..].iter();
                while let Some(word) = rest.next() {
                    match word.as_str() {
                        "-s" => {}
                        "-X" => method = rest.next().expect("a method").clone(),
                        "-H" => {
                            let header = rest.next().expect("a header");
                            let (name, value) = header.split_once(": ").expect("Name: value");
                            headers.push((name.to_owned(), value.to_owned()));
                        }
                        "-d" => body = Some(rest.next().expect("a body").clone()),
                        other if other.starts_with("http") => url = Some(other.to_owned()),
                        other => panic!("curl {other} is not replayed by this test"),
                    }
                }
                ReadmeCommand::Curl {
                    method,
                    url: url.expect("a URL"),
                    headers,
                    body,
                }
            }
            other => panic!("the README runs {other}, which this test does not"),
        })
        .collect()
}

#[tokio::test]
async fn the_readme_commands_run_as_written() {
    let daemon = spawn_daemon().await;
    let _orders = reporting(&daemon.nats.url(), "orders", "orders-1").await;
    let _billing = reporting(&daemon.nats.url(), "billing", "billing-1").await;
    until_all(&daemon, 2, InstanceState::Fresh).await;
    let commands = readme_commands();
    assert_eq!(commands.len(), 7, "{commands:?}");
    let http = reqwest::Client::new();
    for command in commands {
        match command {
            ReadmeCommand::Veto(args) => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let run = daemon.veto(&args).await;
                run.exits(0);
                if args.contains(&"--wait") {
                    assert!(
                        run.stdout.contains("applied by: all 2 live instances"),
                        "{}",
                        run.stdout
                    );
                }
            }
            ReadmeCommand::Curl {
                method,
                url,
                headers,
                body,
            } => {
                let url = url.replace("http://127.0.0.1:8080", &daemon.url);
                let mut request = http.request(method.parse().expect("a method"), &url);
                for (name, value) in headers {
                    request = request.header(name, value.replace("$VETO_API_KEY", ADMIN_KEY));
                }
                if let Some(body) = body {
                    request = request.body(body);
                }
                let answer = within(20, &url, request.send()).await.expect("an answer");
                assert!(answer.status().is_success(), "{url}: {}", answer.status());
                let json: Value = answer.json().await.expect("json");
                if url.contains("wait=fleet") {
                    assert_eq!(json["applied_by"]["complete"], true, "{json}");
                    assert_eq!(json["applied_by"]["instances"], 2, "{json}");
                } else {
                    assert_eq!(json["instances"], 2, "{json}");
                }
            }
        }
    }
}
