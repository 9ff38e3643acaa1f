//! The overview, and its live event stream (`GET /ui/events`, Server-Sent Events).
//!
//! The page shows live rules by kind, the stream's last sequence, what this daemon has
//! applied and how fresh it is, the latest changes, and the fleet summary (the service
//! instances that report presence: how many, in which state, by service, and the ones
//! not fresh by name). The stream sends each change as the replica applies it (`change`), the
//! same figures every two seconds (`status`), and `end` once the session has ended;
//! it closes at shutdown so that an open page never holds the graceful drain. Without
//! JavaScript the page is still whole; it just does not move.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use futures_util::Stream;
use maud::html;
use tokio::sync::broadcast::error::RecvError;
use veto_api::{FleetResponse, InstanceState};
use veto_proto::RuleKind;

use super::error::UiError;
use super::extract::{SessionCheck, SignedIn, still_holds};
use super::feed::LiveChange;
use super::layout::{self, Chrome, Section};
use super::session::SessionKey;
use crate::auth::Permission;
use crate::state::AppState;

/// How often an open overview gets fresh figures.
const STATUS_INTERVAL: Duration = Duration::from_secs(2);

/// The overview's figures, as the page shows them: `data-field` name → text.
type Figures = BTreeMap<&'static str, String>;

fn live_field(kind: RuleKind) -> &'static str {
    match kind {
        RuleKind::Jti => "live-jti",
        RuleKind::Sub => "live-sub",
        RuleKind::Sid => "live-sid",
        RuleKind::All => "live-all",
    }
}

/// The fleet in one sentence (the overview's live figure `fleet-summary`).
fn fleet_summary(fleet: &FleetResponse) -> String {
    if fleet.instances == 0 {
        return "No service instance reports presence (lists started with ListConfig::reporting_as appear here)."
            .to_owned();
    }
    let plural = |count: u64, one: &str, many: &str| {
        if count == 1 {
            format!("1 {one}")
        } else {
            format!("{count} {many}")
        }
    };
    let states: Vec<String> = InstanceState::EVERY
        .into_iter()
        .map(|state| {
            format!(
                "{} {}",
                fleet.by_state.get(state),
                state.as_str().replace('_', " ")
            )
        })
        .collect();
    format!(
        "{} of {}: {}; largest lag {}.",
        plural(fleet.instances, "instance", "instances"),
        plural(fleet.services.len() as u64, "service", "services"),
        states.join(", "),
        plural(fleet.max_lag, "sequence", "sequences"),
    )
}

async fn figures(state: &AppState) -> Figures {
    figures_and_fleet(state).await.0
}

/// The figures, and the fleet view they were taken with.
async fn figures_and_fleet(state: &AppState) -> (Figures, FleetResponse) {
    let stats = state.list.stats();
    let stream_last_sequence = tokio::time::timeout(Duration::from_secs(1), state.publisher.stream_info())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|info| info.state.last_sequence);
    let fleet = state.fleet.view(stream_last_sequence);
    let freshness = match state.list.freshness() {
        Some(at) => {
            let age = SystemTime::now().duration_since(at).unwrap_or_default();
            format!("{} ms ago", age.as_millis())
        }
        None => "no tick applied yet".to_owned(),
    };
    let condition = match (state.list.is_ready(), state.list.is_stale()) {
        (false, _) => "loading",
        (true, true) => "stale",
        (true, false) => "ready and fresh",
    };
    let mut figures = Figures::new();
    for (kind, live) in RuleKind::EVERY.into_iter().zip(stats.live_by_kind) {
        figures.insert(live_field(kind), live.to_string());
    }
    figures.insert("live-total", stats.live().to_string());
    figures.insert(
        "stream-last-sequence",
        stream_last_sequence.map_or_else(
            || "unknown (NATS unreachable)".to_owned(),
            |sequence| sequence.to_string(),
        ),
    );
    figures.insert("applied-sequence", stats.last_sequence.to_string());
    figures.insert("freshness", freshness);
    figures.insert("condition", condition.to_owned());
    figures.insert("fleet-summary", fleet_summary(&fleet));
    (figures, fleet)
}

fn change_item(change: &LiveChange) -> maud::Markup {
    html! { li data-sequence=(change.sequence) { (change.text) } }
}

/// `GET /ui`: the overview.
pub async fn page(State(state): State<Arc<AppState>>, session: SignedIn) -> Result<Response, UiError> {
    session.principal.require(Permission::Read)?;
    let (figures, fleet) = figures_and_fleet(&state).await;
    let field = |name: &str| figures.get(name).cloned().unwrap_or_default();
    let not_fresh: Vec<(&str, &veto_api::InstanceView)> = fleet
        .services
        .iter()
        .flat_map(|service| {
            service
                .instances
                .iter()
                .map(move |instance| (service.service.as_str(), instance))
        })
        .filter(|(_, instance)| instance.state != InstanceState::Fresh)
        .collect();
    let recent = state.console.feed.recent();
    let content = html! {
        div.grid {
            section.card aria-labelledby="rules-heading" {
                h2 #rules-heading { "Live rules" }
                table {
                    thead { tr { th scope="col" { "Kind" } th scope="col" { "Live rules" } } }
                    tbody {
                        @for kind in RuleKind::EVERY {
                            tr {
                                th scope="row" { (kind.as_str()) }
                                td data-field=(live_field(kind)) { (field(live_field(kind))) }
                            }
                        }
                    }
                    tfoot { tr { th scope="row" { "all kinds" } td data-field="live-total" { (field("live-total")) } } }
                }
            }
            section.card aria-labelledby="stream-heading" {
                h2 #stream-heading { "Stream and freshness" }
                dl {
                    dt { "Stream" } dd { (state.settings.stream.name) }
                    dt { "Stream's last sequence" } dd data-field="stream-last-sequence" { (field("stream-last-sequence")) }
                    dt { "Applied by this daemon" } dd data-field="applied-sequence" { (field("applied-sequence")) }
                    dt { "This daemon's freshness (last tick applied)" } dd data-field="freshness" { (field("freshness")) }
                    dt { "This daemon's list" } dd data-field="condition" { (field("condition")) }
                    dt { "Daemon" } dd { (state.daemon_id) }
                }
            }
        }
        section.card aria-labelledby="events-heading" {
            h2 #events-heading { "Live events" }
            p.hint { "Changes as this daemon applies them, newest first. With JavaScript on, new ones appear here without a reload." }
            div role="log" aria-live="polite" aria-relevant="additions" aria-labelledby="events-heading" {
                ul #live-events {
                    @for change in &recent { (change_item(change)) }
                }
            }
            p #no-events hidden[!recent.is_empty()] { "No change applied since this daemon started." }
        }
        // The fleet slot: the service instances that report presence (crate::fleet).
        section.card #fleet data-slot="fleet" aria-labelledby="fleet-heading" {
            h2 #fleet-heading { "Fleet" }
            p data-field="fleet-summary" { (field("fleet-summary")) }
            @if !fleet.services.is_empty() {
                table #fleet-services {
                    caption { "Instances by service (the stream's last sequence: " (fleet.stream_last_sequence) ")" }
                    thead {
                        tr {
                            th scope="col" { "Service" }
                            th scope="col" { "Instances" }
                            @for state in InstanceState::EVERY { th scope="col" { (state.as_str().replace('_', " ")) } }
                            th scope="col" { "Lowest applied sequence" }
                        }
                    }
                    tbody {
                        @for service in &fleet.services {
                            tr data-service=(service.service) {
                                th scope="row" { (service.service) }
                                td { (service.instances.len()) }
                                @for state in InstanceState::EVERY { td { (service.by_state.get(state)) } }
                                td { (service.min_applied_sequence) }
                            }
                        }
                    }
                }
            }
            @if !not_fresh.is_empty() {
                h3 { "Not fresh" }
                ul #fleet-laggards {
                    @for (service, instance) in &not_fresh {
                        li data-instance=(format!("{service}/{}", instance.instance)) {
                            (service) "/" (instance.instance) ": " (instance.state.as_str().replace('_', " "))
                            ", applied " (instance.applied_sequence) " (" (instance.lag) " behind), last report "
                            (instance.last_seen_ms) " ms ago"
                        }
                    }
                }
            }
            p.hint { "From the instances' presence reports (advisory). The API: GET /v1/fleet; a write with ?wait=fleet answers once every live instance has applied it." }
        }
    };
    let flash = state.console.sessions.take_flash(session.key);
    let chrome = Chrome {
        session: &session,
        section: Section::Overview,
        flash,
        error: None,
    };
    Ok(Html(layout::page("Overview", Some(chrome), content).into_string()).into_response())
}

struct Live {
    state: Arc<AppState>,
    key: SessionKey,
    changes: tokio::sync::broadcast::Receiver<LiveChange>,
    ticker: tokio::time::Interval,
    closing: Pin<Box<dyn Future<Output = ()> + Send>>,
    ended: bool,
}

fn json_event(name: &str, value: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(value)
        .unwrap_or_else(|_| Event::default().comment("unserializable"))
}

async fn next_event(mut live: Live) -> Option<(Result<Event, Infallible>, Live)> {
    if live.ended {
        return None;
    }
    let event = tokio::select! {
        () = &mut live.closing => return None,
        change = live.changes.recv() => match change {
            Ok(change) => json_event("change", &change),
            // The page missed changes: it says so and offers a reload.
            Err(RecvError::Lagged(missed)) => Event::default().event("lagged").data(missed.to_string()),
            Err(RecvError::Closed) => return None,
        },
        _ = live.ticker.tick() => {
            let holds = live
                .state
                .console
                .sessions
                .peek(live.key)
                .is_some_and(|view| still_holds(&live.state, &view) == SessionCheck::Holds);
            if holds {
                json_event("status", &figures(&live.state).await)
            } else {
                live.ended = true;
                Event::default().event("end").data("your session has ended")
            }
        }
    };
    Some((Ok(event), live))
}

/// `GET /ui/events`: changes and figures as Server-Sent Events.
pub async fn events(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    session.principal.require(Permission::Read)?;
    let live = Live {
        changes: state.console.feed.subscribe(),
        ticker: tokio::time::interval(STATUS_INTERVAL),
        closing: Box::pin(state.console.closing()),
        key: session.key,
        state,
        ended: false,
    };
    Ok(Sse::new(futures_util::stream::unfold(live, next_event)).keep_alive(KeepAlive::default()))
}
