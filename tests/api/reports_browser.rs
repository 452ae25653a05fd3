//! The reports page in headless Chromium (issue #19): an admin reads the seeded period's
//! overview (the hand-computed figures of tests/api/reports.rs), the chart, the busiest
//! hours and each breakdown, narrows it to one agent and finds the CSV links; an agent sees
//! only their own figures; desktop and phone width, checked with axe-core.

use serde_json::json;

use crate::a11y_browser::no_violations;
use crate::chrome::Chrome;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, spawn_app};
use crate::inbox_browser::{click, fill, shown, sign_in, visit};
use crate::reports::seed;

const SIGNED_IN: &str =
    "return location.pathname !== '/login' && !!document.querySelector('nav.topnav');";
/// The seeded Monday and Tuesday (the browser's zone is the machine's: UTC in CI).
const PERIOD: &str = "/reports?preset=custom&from=2026-03-02&to=2026-03-03";

fn value_is(metric: &str, text: &str) -> String {
    format!(
        "const e = document.querySelector('[data-testid=value-{metric}]'); return !!e && e.textContent === {text:?};"
    )
}

#[actix_web::test]
async fn a_lead_reads_the_period_breaks_it_down_and_an_agent_reads_their_own() {
    let app = spawn_app().await;
    let s = seed(&app).await;
    for (width, height, device) in [(1400, 900, "desktop"), (390, 844, "phone")] {
        let chrome = Chrome::start(width, height).await;
        sign_in(&chrome, &app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        chrome.wait_until("signed in", SIGNED_IN).await;
        visit(&chrome, &app, PERIOD, "report-cards").await;
        let zone = chrome
            .js("return Intl.DateTimeFormat().resolvedOptions().timeZone;")
            .await;
        if zone != json!("UTC") && zone != json!("Etc/UTC") {
            // The figures below are UTC days; elsewhere only the page's working is checked.
            eprintln!("browser time zone {zone}: skipping the UTC figures");
        } else {
            chrome
                .wait_until("the overview", &value_is("conversations_opened", "3"))
                .await;
            for (metric, text) in [
                ("conversations_resolved", "3"),
                ("conversations_reopened", "1"),
                ("first_response_avg_secs", "35 min"),
                ("resolution_avg_secs", "1 h 10 min"),
                ("replies_per_resolution", "1.33"),
                ("csat_score", "50 %"),
                ("sla_met_rate", "50 %"),
                ("messages_in", "8"),
            ] {
                chrome
                    .wait_until(&format!("{metric} = {text}"), &value_is(metric, text))
                    .await;
            }
            // Two days, two bars; the busiest hours: Monday 08:00 had two messages.
            chrome
                .wait_until("the chart", "return document.querySelectorAll('[data-testid=series-chart] rect.chart-bar').length === 2;")
                .await;
            chrome
                .wait_until("the heatmap", "const row = document.querySelectorAll('[data-testid=heatmap-table] tbody tr')[0]; return !!row && row.querySelectorAll('td')[8].dataset.count === '2';")
                .await;
        }
        chrome
            .wait_until("the agents' breakdown", &shown("breakdown-table"))
            .await;
        chrome
            .wait_until("Ada's row", &format!("return !!document.querySelector('[data-testid=breakdown-row][data-id=\"{}\"]');", s.ada.0))
            .await;
        chrome.screenshot(&format!("reports-{device}")).await;
        // Nothing pushes the page sideways (wide tables scroll inside their card, hidden
        // labels in them included).
        let sideways = chrome
            .js("const d = document.documentElement; return d.scrollWidth - d.clientWidth;")
            .await;
        assert_eq!(
            sideways,
            json!(0),
            "the page scrolls sideways at {device} width"
        );
        no_violations(&chrome, &format!("/reports ({device})")).await;

        // Teams, then labels; the address keeps the choice.
        click(&chrome, "[data-testid=breakdown-team]").await;
        chrome
            .wait_until("Billing", &format!("return !!document.querySelector('[data-testid=breakdown-row][data-id=\"{}\"]');", s.team))
            .await;
        click(&chrome, "[data-testid=breakdown-label]").await;
        chrome
            .wait_until("vip", &format!("return !!document.querySelector('[data-testid=breakdown-row][data-id=\"{}\"]');", s.label))
            .await;
        assert!(
            chrome
                .js("return location.search;")
                .await
                .as_str()
                .is_some_and(|q| q.contains("by=label"))
        );

        // One agent's figures; the CSV links follow the filter.
        chrome
            .wait_until("the filter's choices", &format!("return !!document.querySelector('[data-testid=reports-filter] option[value=\"agent:{}\"]');", s.ada.0))
            .await;
        fill(&chrome, "reports-filter", &format!("agent:{}", s.ada.0)).await;
        chrome
            .wait_until("Ada's overview", &value_is("conversations_resolved", "2"))
            .await;
        let link = chrome
            .js("return document.querySelector('[data-testid=csv-overview]').getAttribute('href');")
            .await;
        assert!(
            link.as_str().is_some_and(
                |l| l.contains("format=csv") && l.contains(&format!("agent_id={}", s.ada.0))
            ),
            "{link}"
        );
        // A period with nothing: zeros and dashes, no error.
        fill(&chrome, "reports-from", "2026-01-05").await;
        fill(&chrome, "reports-to", "2026-01-06").await;
        chrome
            .wait_until("an empty period", &value_is("conversations_opened", "0"))
            .await;
        chrome
            .wait_until("no average", &value_is("first_response_avg_secs", "—"))
            .await;
        chrome.close().await;
    }

    // Ada reads her own figures: no filter, no other breakdowns.
    let chrome = Chrome::start(1400, 900).await;
    sign_in(&chrome, &app, "ada@example.com", "agent password 123").await;
    chrome.wait_until("signed in", SIGNED_IN).await;
    visit(&chrome, &app, PERIOD, "report-cards").await;
    chrome
        .wait_until("her own", "return document.querySelector('.reports-page .intro').textContent.startsWith('Your own figures');")
        .await;
    assert_eq!(
        chrome
            .js("return !!document.querySelector('[data-testid=reports-filter]');")
            .await,
        json!(false)
    );
    assert_eq!(
        chrome
            .js("return !!document.querySelector('[data-testid=breakdown-team]');")
            .await,
        json!(false)
    );
    chrome
        .wait_until("only her row", &format!("const rows = document.querySelectorAll('[data-testid=breakdown-row]'); return rows.length === 1 && rows[0].dataset.id === '{}';", s.ada.0))
        .await;
    no_violations(&chrome, "/reports (an agent's own)").await;
    chrome.close().await;
}
