//! Server-rendered panes (minijinja templates compiled into the binary; HTML auto-escaped).

use std::sync::OnceLock;

use axum::response::Response;
use finconn_core::flow::Pane;
use finconn_types::Permission;
use minijinja::{context, Environment, Value};

const TEMPLATES: &[(&str, &str)] = &[
    ("frame.html", include_str!("templates/frame.html")),
    ("consent.html", include_str!("templates/consent.html")),
    ("institutions.html", include_str!("templates/institutions.html")),
    ("login.html", include_str!("templates/login.html")),
    ("challenge.html", include_str!("templates/challenge.html")),
    ("oauth.html", include_str!("templates/oauth.html")),
    ("accounts.html", include_str!("templates/accounts.html")),
    ("token.html", include_str!("templates/token.html")),
    ("manual.html", include_str!("templates/manual.html")),
    ("success.html", include_str!("templates/success.html")),
    ("error.html", include_str!("templates/error.html")),
    ("oauth_page.html", include_str!("templates/oauth_page.html")),
    ("demo.html", include_str!("templates/demo.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a built-in template does not compile");
            }
        }
        env
    })
}

pub fn render(name: &str, ctx: Value) -> String {
    match env().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering a pane failed");
            "<section class=\"pane\" data-testid=\"pane-error\"><h1 tabindex=\"-1\">Something went wrong</h1></section>"
                .into()
        }
    }
}

pub fn render_page(name: &str, ctx: Value) -> Response {
    super::html(render(name, ctx))
}

fn permission_text(p: &Permission) -> &'static str {
    match p {
        Permission::Balances => "Account balances",
        Permission::Ownership => "Account ownership details",
        Permission::PaymentMethod => "Account and routing numbers",
        Permission::Transactions => "Transactions",
        _ => "Other account data",
    }
}

const ALL_PERMISSIONS: [Permission; 4] =
    [Permission::Balances, Permission::Transactions, Permission::Ownership, Permission::PaymentMethod];

/// The types a user may give a live account whose provider does not say (`subcategory` values).
const ACCOUNT_TYPES: [(&str, &str); 6] = [
    ("checking", "Checking"),
    ("savings", "Savings"),
    ("credit_card", "Credit card"),
    ("line_of_credit", "Line of credit"),
    ("mortgage", "Mortgage"),
    ("other", "Other"),
];

/// Unix seconds as an ISO 8601 UTC timestamp.
pub fn iso8601(ts: i64) -> String {
    let (y, m, d) = finconn_providers::calendar::civil_from_days(ts.div_euclid(86_400));
    let secs = ts.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// `2026-11-26 08:02 UTC`: readable without JavaScript; the iframe shows it in the user's time zone.
fn human_time(ts: i64) -> String {
    let iso = iso8601(ts);
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

fn institution(i: &finconn_core::provider::Institution) -> Value {
    // A logo comes through finconn (`/link/logos/…`): the modal loads nothing from other hosts.
    let logo = i.logo.as_ref().map(|_| format!("/link/logos/{}", i.id));
    // Without a logo: initials on one of 12 colours, picked by the name (stable, no request anywhere).
    let initials: String = i
        .name
        .split(|c: char| c.is_whitespace() || c == '(' || c == '-')
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    let color = i.name.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 12;
    context! { id => i.id, name => i.name, logo, initials, color, country => i.countries.join(", ") }
}

pub fn pane_html(pane: &Pane, session_id: &str) -> String {
    match pane {
        Pane::Consent { requester, permissions } => render(
            "consent.html",
            context! { requester, permissions => permissions.iter().map(permission_text).collect::<Vec<_>>() },
        ),
        Pane::Institutions { featured, query, results, manual_entry, livemode, available } => render(
            "institutions.html",
            context! {
                featured => featured.iter().map(institution).collect::<Vec<_>>(),
                query, results => results.iter().map(institution).collect::<Vec<_>>(),
                manual_entry, livemode, available,
            },
        ),
        Pane::Login { institution: i, message, username } => {
            render("login.html", context! { institution => institution(i), message, username })
        }
        Pane::Challenge { institution: i, challenge, message } => render(
            "challenge.html",
            context! { institution => institution(i), challenge => Value::from_serialize(challenge), message },
        ),
        Pane::OAuth { institution: i, state, message } => render(
            "oauth.html",
            context! { institution => institution(i), url => format!("/link/oauth/{session_id}/{state}"), message },
        ),
        Pane::Token { institution: i, token_page, message, can_retry } => {
            let (shares, not_shared): (Vec<&Permission>, Vec<&Permission>) =
                ALL_PERMISSIONS.iter().partition(|p| i.features.contains(p));
            render(
                "token.html",
                context! {
                    institution => institution(i), token_page, message, can_retry,
                    bridge => i.id == finconn_providers::simplefin::Server::BRIDGE_ID,
                    shares => shares.into_iter().map(permission_text).collect::<Vec<_>>(),
                    not_shared => not_shared.into_iter().map(permission_text).collect::<Vec<_>>(),
                },
            )
        }
        Pane::Accounts { institution: i, choices, limit, message, selected } => {
            // As Stripe's picker: the eligible accounts come selected (as many as `limits[accounts]` allows, in
            // order); a single-account session picks with radio buttons; "Select all" where several may be
            // chosen. After a refused attempt, what the user had chosen stays chosen.
            let single = *limit == Some(1);
            let cap = limit.and_then(|l| usize::try_from(l).ok()).unwrap_or(usize::MAX);
            let eligible = choices.iter().filter(|c| c.disabled_reason.is_none()).count();
            let mut preselected = 0usize;
            let mut groups: Vec<(Option<String>, Vec<Value>)> = Vec::new();
            for (index, c) in choices.iter().enumerate() {
                let group = c.live.as_ref().map(|l| l.group_name.clone());
                let checked = c.disabled_reason.is_none()
                    && if selected.is_empty() {
                        preselected += 1;
                        preselected <= cap
                    } else {
                        selected.contains(&c.account.name)
                    };
                let row = context! {
                    index, name => c.account.name, last4 => c.account.last4, reason => c.disabled_reason, checked,
                    live => c.live.is_some(), balance => c.live.as_ref().and_then(|l| l.balance_text.clone()),
                    subcategory => c.account.subcategory.as_str(),
                    kind => ACCOUNT_TYPES.iter().find(|(v, _)| *v == c.account.subcategory.as_str()).map(|(_, l)| *l),
                };
                match groups.last_mut() {
                    Some((g, rows)) if *g == group => rows.push(row),
                    _ => groups.push((group, vec![row])),
                }
            }
            render(
                "accounts.html",
                context! {
                    institution => institution(i), limit, message, single,
                    select_all => !single && eligible > 1 && cap >= eligible,
                    types => ACCOUNT_TYPES.iter().map(|(value, label)| context! { value, label }).collect::<Vec<_>>(),
                    groups => groups.into_iter().map(|(name, choices)| context! { name, choices }).collect::<Vec<_>>(),
                },
            )
        }
        Pane::Manual { message, entered } => {
            let (routing, account, kind) = entered.clone().unwrap_or_default();
            render("manual.html", context! { message, routing, account, savings => kind == "savings" })
        }
        Pane::Success { institution_name, accounts } => render("success.html", context! { institution_name, accounts }),
        Pane::Error { code, title, message, expected_at, retry } => render(
            "error.html",
            context! {
                code, title, message, expected_at, retry,
                expected_at_iso => expected_at.map(iso8601),
                expected_at_text => expected_at.map(human_time),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_formats_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_795_675_327), "2026-11-26T06:42:07Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn panes_escape_html() {
        let html = pane_html(&Pane::Manual { message: Some("<script>x</script>".into()), entered: None }, "fcsess_1");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
