//! `/v1/financial_connections/sessions`.

use axum::extract::Path;
use finconn_core::model::{FiltersRecord, HolderRecord};
use finconn_core::sessions::NewSession;
use finconn_types::{
    AccountHolderType, AccountSubcategory, ManualEntryMode, Permission, Prefetch, RequirePaymentMethodSupport,
};

use crate::error::ApiError;
use crate::expand;
use crate::extract::auth::Ctx;
use crate::extract::params::{self, Field, Obj};
use crate::json::Json;

type Expand = Vec<(String, String)>;

fn holder(root: &Obj<'_>) -> Option<HolderRecord> {
    let h = root.required_object("account_holder")?;
    let kind = h.required_enum("type", AccountHolderType::VALUES, AccountHolderType::parse_known);
    let customer = h.string_set("customer", 5000);
    let account = h.string_set("account", 5000);
    let customer_account = h.string_set("customer_account", 5000);
    let report = h.report();
    let not_for = |param: &str, kind: &str| {
        report.reject(ApiError::invalid(
            format!("account_holder[{param}]"),
            format!("account_holder[{param}] cannot be used when account_holder[type] is {kind}."),
        ));
    };
    match kind.as_ref()? {
        AccountHolderType::Customer => {
            if account.is_some() {
                not_for("account", "customer");
            }
            match (&customer, &customer_account) {
                (Some(_), Some(_)) => {
                    report.reject(ApiError::exclusive("account_holder[customer]", "account_holder[customer_account]"))
                }
                (None, None) if h.has("customer") || h.has("customer_account") => {}
                (None, None) => report.reject(ApiError::missing("account_holder[customer]")),
                _ => {}
            }
            if customer.as_deref().is_some_and(|c| !c.starts_with("cus_")) {
                report.reject(ApiError::invalid(
                    "account_holder[customer]",
                    "Invalid account_holder[customer]: must be a customer id (cus_…)",
                ));
            }
            if customer_account.as_deref().is_some_and(|c| !c.starts_with("acct_")) {
                report.reject(ApiError::invalid(
                    "account_holder[customer_account]",
                    "Invalid account_holder[customer_account]: must be an account id (acct_…)",
                ));
            }
        }
        AccountHolderType::Account => {
            if customer.is_some() {
                not_for("customer", "account");
            }
            if customer_account.is_some() {
                not_for("customer_account", "account");
            }
            if account.is_none() && !h.has("account") {
                report.reject(ApiError::missing("account_holder[account]"));
            }
        }
        _ => {}
    }
    Some(HolderRecord { kind: kind?, customer, account, customer_account })
}

/// `filters[countries][]`, or endive's `filters[country]` (one country; the newest SDKs type it so).
fn countries(f: &Obj<'_>) -> Option<Option<Vec<String>>> {
    let single = f.string_set("country", 5000).map(|c| vec![(f.path("country"), c)]);
    let list = f.string_array("countries", 5000, 100);
    if single.is_some() && !matches!(list, Field::Absent) {
        f.report().reject(ApiError::exclusive("filters[country]", "filters[countries]"));
        return None;
    }
    match single.map(Field::Value).unwrap_or(list) {
        Field::Value(items) => {
            let mut out: Vec<String> = Vec::new();
            for (path, c) in items {
                let code = c.to_ascii_uppercase();
                if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                    f.report().reject(ApiError::invalid(
                        path.clone(),
                        format!("Invalid {path}: must be a two-letter ISO 3166-1 country code"),
                    ));
                    return None;
                }
                if !out.contains(&code) {
                    out.push(code);
                }
            }
            Some(if out.is_empty() { None } else { Some(out) })
        }
        _ => Some(None),
    }
}

/// Where the flow may send the user back: https; http in test mode or to this machine; or an app's own
/// scheme (`myapp://…`, for webviews). Never a scheme that runs or embeds content in the page.
fn return_url_allowed(u: &url::Url, livemode: bool) -> bool {
    match u.scheme() {
        "https" => true,
        "http" => {
            !livemode
                || matches!(u.host(), Some(url::Host::Domain("localhost")))
                || u.host_str() == Some("127.0.0.1")
                || u.host_str() == Some("[::1]")
        }
        "javascript" | "data" | "vbscript" | "file" | "blob" | "about" | "filesystem" | "view-source" | "ws"
        | "wss" | "ftp" => false,
        // An app's own scheme (the URL parser already requires it to start with a letter).
        _ => true,
    }
}

fn new_session(root: Obj<'_>, livemode: bool) -> Option<(NewSession, Expand)> {
    let holder = holder(&root);
    let permissions = match root.enum_array("permissions", Permission::VALUES, Permission::parse_known) {
        Field::Value(p) if !p.is_empty() => Some(p),
        Field::Absent if root.has("permissions") => None,
        _ => {
            root.report().reject(ApiError::missing("permissions"));
            None
        }
    };
    let prefetch = root.enum_array("prefetch", Prefetch::VALUES, Prefetch::parse_known);
    let mut filters = FiltersRecord::default();
    let mut country_filter = Some(None);
    if let Field::Value(f) = root.object("filters") {
        filters.account_subcategories = f
            .enum_array("account_subcategories", AccountSubcategory::VALUES, AccountSubcategory::parse_known)
            .value()
            .filter(|v| !v.is_empty());
        filters.require_payment_method_support = f
            .enumeration(
                "require_payment_method_support",
                RequirePaymentMethodSupport::VALUES,
                RequirePaymentMethodSupport::parse_known,
            )
            .value();
        country_filter = countries(&f);
    }
    let limits = match root.object("limits") {
        Field::Value(l) => match l.integer("accounts", 1, 100) {
            Field::Value(n) => Some(Some(n)),
            Field::Empty => Some(None),
            Field::Absent if l.has("accounts") => None,
            Field::Absent => {
                l.report().reject(ApiError::missing("limits[accounts]"));
                None
            }
        },
        _ => Some(None),
    };
    let manual_entry = match root.object("manual_entry") {
        Field::Value(m) => m.enumeration("mode", ManualEntryMode::VALUES, ManualEntryMode::parse_known).value(),
        _ => None,
    };
    let return_url = root.string_set("return_url", 5000);
    if let Some(u) = &return_url {
        match url::Url::parse(u) {
            Err(_) => root.report().reject(ApiError::url_invalid("return_url")),
            Ok(p) if !return_url_allowed(&p, livemode) => root.report().reject(ApiError::invalid(
                "return_url",
                "Invalid return_url: use an https URL (http only in test mode or to localhost) or your app's own \
                 URL scheme; javascript:, data: and similar URLs are not allowed.",
            )),
            Ok(_) => {}
        }
    }
    // Stripe's relink preview: `relink_options[authorization]` (required in it), `relink_options[account]`.
    let relink = match root.object("relink_options") {
        Field::Value(r) => {
            let authorization = r.required_string("authorization", 5000);
            let account = r.string_set("account", 5000);
            Some(authorization.map(|authorization| finconn_core::model::RelinkRecord {
                authorization,
                account,
                institution: String::new(),
            }))
        }
        _ => Some(None),
    };
    let expand = root.expand();
    drop(root);
    let new = NewSession {
        relink: relink?,
        holder: holder?,
        permissions: permissions?,
        prefetch: prefetch.value().unwrap_or_default(),
        countries: country_filter?,
        filters,
        limits: limits?,
        manual_entry,
        return_url,
    };
    Some((new, expand))
}

/// `POST /v1/financial_connections/sessions`
pub async fn create_session(ctx: Ctx) -> Result<Json, ApiError> {
    let livemode = ctx.scope().livemode;
    let (new, expand) = params::parse(&ctx.form, |root| new_session(root, livemode))?;
    let session = ctx.core.create_session(ctx.scope(), new).await?;
    expand::object(&ctx, session, &expand, expand::SESSION).await
}

/// `GET /v1/financial_connections/sessions/{session}`
pub async fn retrieve_session(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    let session = ctx.core.retrieve_session(ctx.scope(), &id).await?;
    expand::object(&ctx, session, &expand, expand::SESSION).await
}
