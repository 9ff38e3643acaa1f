//! The admin console in a real browser (headless Chromium over WebDriver, see
//! [`crate::browser`]) against a real vetod and NATS, and its HTTP rules without one.
//!
//! Scenarios, each its own test: (1) sign in, revoke a jti from the form, see it in
//! the list; (2) an event made through the API appears on the overview without a
//! reload; (3) inspect a token, revoke its sub from the inspector, and a service's
//! list refuses the token (and neither the key nor the token reaches a log line);
//! (4) lift after a confirmation that names the rule; (5) a read-only key sees no
//! revoke or lift control and a forged post with its session is refused; (6) a post
//! without the CSRF token is refused; (7) keyboard only: sign in and revoke a jti with
//! Tab, typing and Enter. Every page visited is saved under
//! `target/console-screenshots/`.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::json;
use veto_client::{ListConfig, RevocationList, Verdict};
use veto_proto::{RuleKind, UnixSeconds};

use crate::browser::{Browser, enter};
use crate::support::*;

/// A service's view of the list: its own replica from the stream.
async fn service_list(app: &TestApp) -> RevocationList {
    let client = within(10, "connect", app.nats.connect()).await.expect("connect");
    let list = RevocationList::start(client, ListConfig::default()).expect("a list");
    within(30, "the service's list is ready", list.ready()).await;
    list
}

async fn rule_exists(app: &TestApp, kind: RuleKind, value: &str) -> bool {
    app.get(&format!("/v1/revocations/{kind}/{value}"), Some(ADMIN_KEY))
        .await
        .status()
        == StatusCode::OK
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", veto_testkit::tokens::random_id())
}

#[tokio::test]
async fn signing_in_and_revoking_a_jti_from_the_form_shows_it_in_the_list() {
    let app = spawn_app().await;
    let browser = Browser::start(&app.daemon.url).await;
    browser.open("/ui/rules").await;
    assert_eq!(browser.heading().await, "Sign in", "every page needs a session");
    browser.screenshot("sign-in").await;
    browser.sign_in(ADMIN_KEY).await;
    assert!(browser.text("header").await.contains("key:admin"));
    browser.screenshot("overview").await;

    let jti = unique("leaked");
    browser.click("nav a[href='/ui/find']").await;
    browser.wait_for_text("h1", "Find and act").await;
    browser.fill("#revoke-value", &jti).await;
    browser.fill("#revoke-exp", "+15m").await;
    browser.fill("#revoke-reason", "leaked in a log").await;
    browser.click("#revoke-submit").await;
    browser.wait_for_text("#status", "Revoked jti").await;
    assert!(
        browser.text("#lookup-result").await.contains(&jti),
        "the page shows the stored rule"
    );
    assert!(rule_exists(&app, RuleKind::Jti, &jti).await, "the API sees it");
    browser.screenshot("find-and-act").await;

    browser.click("nav a[href='/ui/rules']").await;
    browser.wait_for_text("h1", "Rules").await;
    let table = browser.text("#rules-table").await;
    assert!(
        table.contains(&jti) && table.contains("leaked in a log"),
        "{table}"
    );
    browser.screenshot("rules").await;

    // Filtered by kind and issuer: a jti scoped to no issuer is not under another one.
    browser
        .open("/ui/rules?kind=jti&iss=https%3A%2F%2Felsewhere")
        .await;
    assert!(browser.has("#rules-empty").await);
    browser.close().await;
}

#[tokio::test]
async fn an_event_made_through_the_api_appears_on_the_overview_without_a_reload() {
    let app = spawn_app().await;
    let browser = Browser::start(&app.daemon.url).await;
    browser.sign_in(ADMIN_KEY).await;
    // The page's script opened its event stream once this is set.
    within(15, "the live stream is open", async {
        while browser
            .script("return document.getElementById('live-events').dataset.connected || ''")
            .await
            != "true"
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    browser.script("window.vetoNoReload = true; return true;").await;

    let user = unique("api-user");
    let response = app
        .revoke(&json!({"kind": "sub", "value": user, "iss": ISSUER, "reason": "account closed"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    browser.wait_for_text("#live-events", &user).await;
    let first = browser.text("#live-events li:first-child").await;
    assert!(
        first.contains("revoked sub") && first.contains("by key:admin"),
        "{first}"
    );
    assert_eq!(
        browser.script("return window.vetoNoReload === true;").await,
        true,
        "the page was not reloaded"
    );
    browser.wait_for_text("[data-field=live-sub]", "1").await;
    browser.screenshot("overview-live").await;
    browser.close().await;
}

#[tokio::test]
async fn the_inspector_revokes_a_tokens_sub_and_a_service_refuses_the_token() {
    let logs = CapturedLogs::install();
    let app = spawn_app().await;
    let service = service_list(&app).await;
    let mut claims = app.issuer.claims(SERVICE_AUDIENCE, Duration::from_secs(600));
    let user = unique("user");
    claims["sub"] = json!(user);
    claims["iat"] = json!(UnixSeconds::now().0 - 60);
    let token = app.issuer.mint(&claims);
    let facts = veto_proto::rule::TokenFacts {
        jti: claims["jti"].as_str(),
        sub: Some(&user),
        sid: None,
        iss: Some(ISSUER),
        iat: Some(UnixSeconds(claims["iat"].as_i64().expect("iat"))),
    };
    assert_eq!(service.check(&facts), Verdict::Allowed);

    let browser = Browser::start(&app.daemon.url).await;
    browser.sign_in(ADMIN_KEY).await;
    browser.click("nav a[href='/ui/inspect']").await;
    browser.fill("#token", &token).await;
    browser.click("#inspect-form button[type=submit]").await;
    browser.wait_for_text("#verification", "Verified").await;
    assert!(browser.text("#verdict").await.starts_with("Allowed"));
    assert!(browser.text("#token-claims").await.contains(&user));
    let page = browser.client.source().await.expect("page source");
    let signature = token.rsplit('.').next().expect("a signature");
    assert!(
        !page.contains(signature),
        "the result page does not echo the token"
    );
    assert!(
        !browser
            .client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .contains(signature)
    );
    browser.screenshot("token-inspector").await;

    browser.click("#revoke-token-sub").await;
    browser.wait_for_text("#status", "Revoked sub").await;
    within(15, "the service refuses the token", async {
        while service.check(&facts) != Verdict::Revoked(RuleKind::Sub) {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await;

    // Inspected again, the token is revoked and the page names the rule.
    browser.click("nav a[href='/ui/inspect']").await;
    browser.fill("#token", &token).await;
    browser.click("#inspect-form button[type=submit]").await;
    browser.wait_for_text("#verdict", "Revoked by a sub rule").await;
    assert!(browser.text("#matching-rules").await.contains(&user));
    browser.close().await;

    if let Some(logs) = logs {
        let text = logs.text();
        assert!(text.contains("console_sign_in"), "the capture works: {text}");
        assert!(!text.contains(signature), "a log line holds the token");
        assert!(!text.contains(ADMIN_KEY), "a log line holds the API key");
    }
}

#[tokio::test]
async fn lifting_asks_for_a_confirmation_that_names_the_rule() {
    let app = spawn_app().await;
    let jti = unique("lift-me");
    assert_eq!(
        app.revoke(&json!({"kind": "jti", "value": jti})).await.status(),
        StatusCode::CREATED
    );
    let browser = Browser::start(&app.daemon.url).await;
    browser.sign_in(ADMIN_KEY).await;
    browser.open(&format!("/ui/find?kind=jti&value={jti}")).await;
    browser.wait_for_text("#lookup-result", "Revoked: jti").await;
    browser.fill("#lift-reason", "false alarm").await;
    browser.click("#lift-confirm").await;
    assert!(
        browser.text("label[for=lift-confirm]").await.contains(&jti),
        "the box names the rule"
    );

    // Dismissed: nothing is lifted.
    browser.click("#lift-form button[type=submit]").await;
    let question = within(10, "the confirmation", browser.client.get_alert_text())
        .await
        .expect("a confirmation dialog");
    assert!(question.contains(&format!("jti “{jti}”")), "{question}");
    browser.client.dismiss_alert().await.expect("dismiss");
    assert!(rule_exists(&app, RuleKind::Jti, &jti).await);

    browser.click("#lift-form button[type=submit]").await;
    within(10, "the confirmation", browser.client.accept_alert())
        .await
        .expect("accept");
    browser.wait_for_text("#status", "Lifted the rule for jti").await;
    assert!(browser.text("#lookup-result").await.contains("No live rule"));
    assert!(
        !rule_exists(&app, RuleKind::Jti, &jti).await,
        "lifted for the API too"
    );
    browser.close().await;
}

/// A raw form POST with the browser's cookies.
async fn post_form(app: &TestApp, path: &str, cookies: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.send(app.http.post(app.url(path)).header(COOKIE, cookies).form(form))
        .await
}

#[tokio::test]
async fn a_read_only_key_sees_no_revoke_control_and_a_forged_post_is_refused() {
    let app = spawn_app().await;
    let jti = unique("kept");
    app.revoke(&json!({"kind": "jti", "value": jti})).await;
    let browser = Browser::start(&app.daemon.url).await;
    browser.sign_in(READER_KEY).await;
    assert!(browser.text("header").await.contains("(read)"));
    browser.open(&format!("/ui/find?kind=jti&value={jti}")).await;
    browser.wait_for_text("#lookup-result", "Revoked: jti").await;
    assert!(!browser.has("#revoke-form").await, "no revoke form");
    assert!(!browser.has("#lift-form").await, "no lift form");
    assert!(browser.has("#read-only").await);
    assert!(
        !browser.has("button.danger").await,
        "no revoke or lift button at all"
    );
    browser.screenshot("read-only").await;

    // The session is real and its CSRF token right: the permission still decides.
    let (cookies, csrf) = (browser.cookie_header().await, browser.csrf_token().await);
    let forged = unique("forged");
    let revoke = post_form(
        &app,
        "/ui/revoke",
        &cookies,
        &[("csrf", &csrf), ("kind", "jti"), ("value", &forged)],
    )
    .await;
    assert_eq!(revoke.status(), StatusCode::FORBIDDEN);
    assert!(
        revoke
            .text()
            .await
            .unwrap_or_default()
            .contains("revoke permission")
    );
    let lift = post_form(
        &app,
        "/ui/lift",
        &cookies,
        &[
            ("csrf", &csrf),
            ("kind", "jti"),
            ("value", &jti),
            ("reason", "x"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(lift.status(), StatusCode::FORBIDDEN);
    assert!(
        !rule_exists(&app, RuleKind::Jti, &forged).await,
        "nothing revoked"
    );
    assert!(rule_exists(&app, RuleKind::Jti, &jti).await, "nothing lifted");
    browser.close().await;
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused() {
    let app = spawn_app().await;
    let browser = Browser::start(&app.daemon.url).await;
    browser.sign_in(ADMIN_KEY).await;

    // In the browser: the revoke form with its token taken out.
    browser.open("/ui/find").await;
    let stripped = unique("no-token");
    browser.fill("#revoke-value", &stripped).await;
    browser
        .script("document.querySelector('#revoke-form input[name=csrf]').remove(); return true;")
        .await;
    browser.click("#revoke-submit").await;
    browser.wait_for_text("h1", "Forbidden").await;
    assert!(browser.text("main").await.contains("security token"));
    assert!(!rule_exists(&app, RuleKind::Jti, &stripped).await);

    // Outside it, with the session cookie: no token, a wrong one, a cross-site post.
    let (cookies, csrf) = {
        browser.open("/ui").await;
        (browser.cookie_header().await, browser.csrf_token().await)
    };
    let value = unique("csrf");
    for form in [
        vec![("kind", "jti"), ("value", value.as_str())],
        vec![("csrf", "0000"), ("kind", "jti"), ("value", value.as_str())],
    ] {
        let response = post_form(&app, "/ui/revoke", &cookies, &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{form:?}");
    }
    let cross_site = app
        .send(
            app.http
                .post(app.url("/ui/revoke"))
                .header(COOKIE, &cookies)
                .header("sec-fetch-site", "cross-site")
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("kind", "jti"),
                    ("value", value.as_str()),
                ]),
        )
        .await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert!(!rule_exists(&app, RuleKind::Jti, &value).await, "nothing revoked");

    // The same post with the token goes through (the cookie was not the problem).
    let genuine = post_form(
        &app,
        "/ui/revoke",
        &cookies,
        &[("csrf", &csrf), ("kind", "jti"), ("value", &value)],
    )
    .await;
    assert!(genuine.status().is_success(), "{}", genuine.status());
    assert!(rule_exists(&app, RuleKind::Jti, &value).await);
    browser.close().await;
}

#[tokio::test]
async fn keyboard_only_signs_in_and_revokes_a_jti() {
    let app = spawn_app().await;
    let browser = Browser::start(&app.daemon.url).await;
    browser.open("/ui/login").await;
    browser.tab_to("credential", 10).await;
    browser.press(ADMIN_KEY).await;
    browser.press(&enter()).await;
    browser.wait_for_text("h1", "Overview").await;

    browser.open("/ui/find").await;
    let jti = unique("keyboard");
    browser.tab_to("revoke-value", 30).await;
    let outline = browser
        .script("return getComputedStyle(document.activeElement).outlineStyle;")
        .await;
    assert_eq!(outline, "solid", "the focused field shows its focus");
    browser.press(&jti).await;
    browser.tab_to("revoke-submit", 10).await;
    browser.press(&enter()).await;
    browser.wait_for_text("#status", "Revoked jti").await;
    assert!(rule_exists(&app, RuleKind::Jti, &jti).await);
    browser.close().await;
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// The value of `name="csrf"` in a page.
fn csrf_in(page: &str) -> String {
    let start = page.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    page[start..].split('"').next().expect("a value").to_owned()
}

#[tokio::test]
async fn every_console_response_carries_a_strict_policy_and_cookies_are_strict() {
    let app = spawn_app().await;
    let http = no_redirects();
    let page = within(10, "sign-in page", http.get(app.url("/ui/login")).send())
        .await
        .expect("response");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let signin_cookie = page.headers()[SET_COOKIE].to_str().expect("ascii").to_owned();
    assert!(signin_cookie.contains("HttpOnly") && signin_cookie.contains("SameSite=Strict"));
    let cookie = signin_cookie.split(';').next().expect("name=value").to_owned();
    let html = page.text().await.expect("body");
    assert!(!html.contains("<script>") && !html.contains(" style=") && !html.contains(" onclick="));
    assert!(html.contains(r#"<script src="/ui/static/console.js" integrity="sha256-"#));

    // A wrong key: 401, nothing set, the key not echoed.
    let wrong = within(
        10,
        "sign in",
        http.post(app.url("/ui/login"))
            .header(COOKIE, &cookie)
            .form(&[
                ("csrf", csrf_in(&html).as_str()),
                ("credential", "veto_wrong_key"),
            ])
            .send(),
    )
    .await
    .expect("response");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(!wrong.text().await.expect("body").contains("veto_wrong_key"));

    // Behind a TLS proxy the session cookie is Secure and __Host- prefixed.
    let page = within(
        10,
        "sign-in page",
        http.get(app.url("/ui/login"))
            .header("x-forwarded-proto", "https")
            .send(),
    )
    .await
    .expect("response");
    let cookie = page.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    assert!(cookie.starts_with("__Host-veto_signin="), "{cookie}");
    let html = page.text().await.expect("body");
    let signed_in = within(
        10,
        "sign in",
        http.post(app.url("/ui/login"))
            .header(COOKIE, &cookie)
            .header("x-forwarded-proto", "https")
            .form(&[("csrf", csrf_in(&html).as_str()), ("credential", ADMIN_KEY)])
            .send(),
    )
    .await
    .expect("response");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()["location"], "/ui");
    let session = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("__Host-veto_session="))
        .expect("a session cookie")
        .to_owned();
    for attribute in ["Path=/", "HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains(ADMIN_KEY));

    // The static script is served with a type and no inline anything to allow.
    let script = within(10, "script", http.get(app.url("/ui/static/console.js")).send())
        .await
        .expect("response");
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    // Unknown console pages are HTML 404s, and API routes are untouched.
    let missing = within(10, "404", http.get(app.url("/ui/nope")).send())
        .await
        .expect("response");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers()["content-security-policy"].to_str().is_ok());
}

/// Signs in over plain HTTP (no browser) with `credential`: the session cookie
/// (`name=value`) and the session's CSRF token.
async fn sign_in_over_http(app: &TestApp, http: &reqwest::Client, credential: &str) -> (String, String) {
    let form = within(10, "sign-in page", http.get(app.url("/ui/login")).send())
        .await
        .expect("response");
    let signin_cookie = form.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let csrf = csrf_in(&form.text().await.expect("body"));
    let signed_in = within(
        10,
        "sign in",
        http.post(app.url("/ui/login"))
            .header(COOKIE, &signin_cookie)
            .form(&[("csrf", csrf.as_str()), ("credential", credential)])
            .send(),
    )
    .await
    .expect("response");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "signed in");
    let session = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("veto_session="))
        .expect("a session cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let overview = within(
        10,
        "overview",
        http.get(app.url("/ui")).header(COOKIE, &session).send(),
    )
    .await
    .expect("response");
    assert_eq!(overview.status(), StatusCode::OK);
    let csrf = csrf_in(&overview.text().await.expect("body"));
    (session, csrf)
}

#[tokio::test]
async fn the_overview_fills_the_fleet_slot_with_the_reporting_instances() {
    let app = spawn_app().await;
    let http = no_redirects();
    let (session, _) = sign_in_over_http(&app, &http, ADMIN_KEY).await;
    let overview = || async {
        within(
            10,
            "overview",
            http.get(app.url("/ui")).header(COOKIE, &session).send(),
        )
        .await
        .expect("response")
        .text()
        .await
        .expect("body")
    };
    let empty = overview().await;
    assert!(
        empty.contains(r#"id="fleet""#) && empty.contains(r#"data-slot="fleet""#),
        "the marked slot is there"
    );
    assert!(empty.contains("No service instance reports presence"), "{empty}");

    let client = within(10, "connect", app.nats.connect()).await.expect("connect");
    let list = RevocationList::start(
        client,
        ListConfig::default()
            .reporting_as("orders", "orders-1")
            .presence_heartbeat(Duration::from_millis(300)),
    )
    .expect("a reporting list");
    within(30, "ready", list.ready()).await;
    eventually(20, "the overview shows orders-1", || async {
        let page = overview().await;
        page.contains("1 instance of 1 service: 1 fresh, 0 lagging, 0 stale, 0 not ready")
            && page.contains(r#"data-service="orders""#)
    })
    .await;
}

#[tokio::test]
async fn an_admin_jwt_session_ends_when_the_admins_token_is_revoked() {
    let app = spawn_app().await;
    let http = no_redirects();
    let mut claims = app.issuer.claims(ADMIN_AUDIENCE, Duration::from_secs(300));
    claims["roles"] = json!(["veto:read"]);
    claims["iat"] = json!(UnixSeconds::now().0 - 10);
    let token = app.issuer.mint(&claims);
    let (session, _) = sign_in_over_http(&app, &http, &token).await;
    let jti = claims["jti"].as_str().expect("jti").to_owned();
    assert_eq!(
        app.revoke(&json!({"kind": "jti", "value": jti, "iss": ISSUER}))
            .await
            .status(),
        StatusCode::CREATED
    );
    within(15, "the session ends", async {
        loop {
            let page = http
                .get(app.url("/ui"))
                .header(COOKIE, &session)
                .send()
                .await
                .expect("response");
            if page.status() == StatusCode::SEE_OTHER {
                assert_eq!(page.headers()["location"], "/ui/login");
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn an_api_key_session_ends_when_the_key_is_removed_from_the_settings() {
    let app = spawn_app().await;
    let http = no_redirects();
    let (session, _) = sign_in_over_http(&app, &http, READER_KEY).await;
    // What SIGHUP does with settings that no longer list the key.
    let kept: Vec<_> = api_keys()
        .into_iter()
        .filter(|entry| entry.name != "reader")
        .collect();
    app.daemon.state().authenticator.replace_api_keys(&kept);
    let page = within(
        10,
        "overview",
        http.get(app.url("/ui")).header(COOKIE, &session).send(),
    )
    .await
    .expect("response");
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "signed out");
    assert_eq!(page.headers()["location"], "/ui/login");
}

#[tokio::test]
async fn an_open_event_stream_does_not_hold_shutdown() {
    let app = spawn_app_with(|settings| settings.api.shutdown_grace = Duration::from_secs(30)).await;
    let http = no_redirects();
    let (session, _) = sign_in_over_http(&app, &http, ADMIN_KEY).await;
    let mut stream = within(
        10,
        "event stream",
        http.get(app.url("/ui/events")).header(COOKIE, &session).send(),
    )
    .await
    .expect("response");
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let first = within(10, "first event", stream.chunk())
        .await
        .expect("a chunk")
        .expect("not the end");
    assert!(
        String::from_utf8_lossy(&first).contains("event: status"),
        "{first:?}"
    );
    let started = std::time::Instant::now();
    let TestApp { daemon, .. } = app;
    daemon.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown waited {:?} for an open page",
        started.elapsed()
    );
    // The stream ended (rather than hanging) once the daemon closed it.
    let rest = within(10, "the stream ends", async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    let () = rest;
}

#[tokio::test]
async fn the_rules_page_pages_and_filters_by_kind_and_issuer() {
    // Two issuers the deployment knows (a rule scoped to an unknown one is refused).
    let app = spawn_app_with(|settings| settings.tokens.issuers = vec!["https://other.test".into()]).await;
    let revocations: Vec<serde_json::Value> = (0..70)
        .map(|n| {
            let iss = if n % 7 == 0 { "https://other.test" } else { ISSUER };
            json!({"kind": if n < 60 { "jti" } else { "sid" }, "value": format!("page-{n}"), "iss": iss})
        })
        .collect();
    let batch = app
        .send(
            app.request(reqwest::Method::POST, "/v1/revocations/batch", Some(ADMIN_KEY))
                .json(&json!({ "revocations": revocations })),
        )
        .await;
    assert_eq!(batch.status(), StatusCode::OK);
    let http = no_redirects();
    let (session, _) = sign_in_over_http(&app, &http, ADMIN_KEY).await;
    let page = |path: String| {
        let (http, session) = (&http, &session);
        let url = app.url(&path);
        async move {
            let response = within(10, "rules page", http.get(url).header(COOKIE, session).send())
                .await
                .expect("response");
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.text().await.expect("body")
        }
    };
    let next_link = |html: &str| {
        html.split(r#"id="rules-next" href=""#)
            .nth(1)
            .map(|rest| rest.split('"').next().expect("href").replace("&amp;", "&"))
    };
    within(15, "every rule is listed", async {
        while !page("/ui/rules?kind=sid".to_owned())
            .await
            .contains("10 live rules")
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    let first = page("/ui/rules?kind=jti".to_owned()).await;
    assert!(first.contains("50 live rules"), "a page holds 50");
    let second = page(next_link(&first).expect("a next page")).await;
    assert!(second.contains("10 live rules (a later page)"));
    assert!(next_link(&second).is_none(), "no third page");
    assert!(
        second.contains("<td>jti</td>") && !second.contains("<td>sid</td>"),
        "only jti rules"
    );

    // Scoped to the other issuer: every seventh of the seventy.
    let other = page("/ui/rules?iss=https%3A%2F%2Fother.test".to_owned()).await;
    assert!(other.contains("10 live rules"), "page-0, page-7, … page-63");
    assert!(!other.contains("page-1<"));
    let bad = within(
        10,
        "bad cursor",
        http.get(app.url("/ui/rules?cursor=nope"))
            .header(COOKIE, &session)
            .send(),
    )
    .await
    .expect("response");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let app = spawn_app_with(|settings| settings.ui.enabled = false).await;
    for path in ["/ui", "/ui/login", "/ui/static/console.js"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = response.json().await.expect("the API's JSON 404");
        assert_eq!(body["code"], "no_such_route");
    }
}
