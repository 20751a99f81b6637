//! `/v1/customers`: the minimal customers that session account holders name.

use axum::extract::Path;
use finconn_core::customers::{CustomerChanges, CustomerView, Patch};
use finconn_core::model::AddressRecord;
use finconn_core::store::CustomerFilter;
use finconn_types::List;

use crate::error::ApiError;
use crate::expand;
use crate::extract::auth::Ctx;
use crate::extract::params::{self, Field, Obj};
use crate::json::Json;

type Expand = Vec<(String, String)>;

fn patch(f: Field<String>) -> Patch<String> {
    match f {
        Field::Absent => Patch::Keep,
        Field::Empty => Patch::Clear,
        Field::Value(v) => Patch::Set(v),
    }
}

fn address(root: &Obj<'_>) -> Patch<AddressRecord> {
    match root.object("address") {
        Field::Absent => Patch::Keep,
        Field::Empty => Patch::Clear,
        Field::Value(a) => {
            let get = |k: &str| a.string(k, 5000).value();
            Patch::Set(AddressRecord {
                city: get("city"),
                country: get("country"),
                line1: get("line1"),
                line2: get("line2"),
                postal_code: get("postal_code"),
                state: get("state"),
            })
        }
    }
}

/// The body of update: every parameter optional.
fn changes(root: Obj<'_>) -> Option<(CustomerChanges, Expand)> {
    let changes = CustomerChanges {
        email: patch(root.string("email", 512)),
        name: patch(root.string("name", 256)),
        description: patch(root.string("description", 5000)),
        phone: patch(root.string("phone", 20)),
        address: address(&root),
        metadata: root.metadata("metadata").map(|m| m.map(|pairs| pairs.into_iter().collect())),
        test_clock: None,
    };
    Some((changes, root.expand()))
}

/// The body of create: update's parameters, and `test_clock` (a customer joins a clock only when created).
fn new_customer(root: Obj<'_>) -> Option<(CustomerChanges, Expand)> {
    let test_clock = root.string_set("test_clock", 5000);
    let (mut c, expand) = changes(root)?;
    c.test_clock = test_clock;
    Some((c, expand))
}

/// `POST /v1/customers`
pub async fn create_customer(ctx: Ctx) -> Result<Json, ApiError> {
    let (changes, expand) = params::parse(&ctx.form, new_customer)?;
    let customer = ctx.core.create_customer(ctx.scope(), changes).await?;
    expand::object(&ctx, customer, &expand, expand::CUSTOMER).await
}

/// `GET /v1/customers/{customer}`: a deleted customer answers `{"deleted": true, ...}`.
pub async fn retrieve_customer(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let expand = params::parse(&ctx.form, |root| Some(root.expand()))?;
    match ctx.core.retrieve_customer(ctx.scope(), &id).await? {
        CustomerView::Live(c) => expand::object(&ctx, c, &expand, expand::CUSTOMER).await,
        CustomerView::Deleted(d) => expand::object(&ctx, d, &expand, expand::CUSTOMER).await,
    }
}

/// `POST /v1/customers/{customer}`
pub async fn update_customer(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    let (changes, expand) = params::parse(&ctx.form, changes)?;
    let customer = ctx.core.update_customer(ctx.scope(), &id, changes).await?;
    expand::object(&ctx, customer, &expand, expand::CUSTOMER).await
}

/// `DELETE /v1/customers/{customer}`
pub async fn delete_customer(ctx: Ctx, Path(id): Path<String>) -> Result<Json, ApiError> {
    params::parse(&ctx.form, |_| Some(()))?;
    let deleted = ctx.core.delete_customer(ctx.scope(), &id).await?;
    Ok(Json::wire(&deleted))
}

/// `GET /v1/customers`
pub async fn list_customers(ctx: Ctx) -> Result<Json, ApiError> {
    let (filter, page, expand) = params::parse(&ctx.form, |root| {
        let email = root.string("email", 512).value();
        let created = super::range(&root, "created");
        let test_clock = root.string("test_clock", 5000).value();
        let page = super::page_request(&root);
        let expand = root.expand();
        Some((CustomerFilter { email, created: created?, test_clock }, page?, expand))
    })?;
    let page_out = ctx.core.list_customers(ctx.scope(), &filter, &page).await?;
    let list = List::new(page_out.items, page_out.has_more, "/v1/customers");
    expand::list(&ctx, list, &expand, expand::CUSTOMER).await
}
