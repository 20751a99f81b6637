//! Customers: the minimal object that session account holders name.

use std::collections::BTreeMap;

use finconn_types::{Address, Customer, DeletedCustomer};

use crate::model::{AddressRecord, CustomerRecord, Scope};
use crate::store::{CustomerFilter, Page, PageRequest, StoreError};
use crate::{ids, DomainError, Finconn};

pub const OBJECT: &str = "customer";

/// A field of an update: left alone, cleared (`""`), or set.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    fn apply(self, field: &mut Option<T>) {
        match self {
            Patch::Keep => {}
            Patch::Clear => *field = None,
            Patch::Set(v) => *field = Some(v),
        }
    }
}

/// The parameters of create and update, already validated for shape and length.
#[derive(Clone, Debug, Default)]
pub struct CustomerChanges {
    pub email: Patch<String>,
    pub name: Patch<String>,
    pub description: Patch<String>,
    pub phone: Patch<String>,
    pub address: Patch<AddressRecord>,
    /// `None`: keep. `Some(None)`: remove every key. `Some(Some(m))`: merge, an empty value removing its key.
    pub metadata: Option<Option<BTreeMap<String, String>>>,
    /// `test_clock` (create only): the clock the customer belongs to.
    pub test_clock: Option<String>,
}

/// What retrieving a customer can show.
pub enum CustomerView {
    Live(Box<Customer>),
    Deleted(DeletedCustomer),
}

impl CustomerRecord {
    pub fn to_wire(&self, livemode: bool) -> Customer {
        Customer {
            extra: Default::default(),
            address: self.address.as_ref().map(|a| Address {
                extra: Default::default(),
                city: a.city.clone(),
                country: a.country.clone(),
                line1: a.line1.clone(),
                line2: a.line2.clone(),
                postal_code: a.postal_code.clone(),
                state: a.state.clone(),
            }),
            balance: 0,
            created: self.created,
            currency: None,
            default_source: None,
            delinquent: Some(false),
            description: self.description.clone(),
            discount: None,
            email: self.email.clone(),
            id: self.id.clone(),
            invoice_prefix: Some(self.invoice_prefix.clone()),
            invoice_settings: serde_json::json!({
                "custom_fields": null,
                "default_payment_method": null,
                "footer": null,
                "rendering_options": null
            }),
            livemode,
            metadata: self.metadata.clone(),
            name: self.name.clone(),
            next_invoice_sequence: 1,
            object: OBJECT.to_owned(),
            phone: self.phone.clone(),
            preferred_locales: Some(Vec::new()),
            shipping: None,
            tax_exempt: Some("none".to_owned()),
            test_clock: self.test_clock.clone().map(finconn_types::Expandable::Id),
        }
    }

    fn deleted_view(&self) -> DeletedCustomer {
        DeletedCustomer { extra: Default::default(), deleted: true, id: self.id.clone(), object: OBJECT.to_owned() }
    }

    fn apply(&mut self, changes: CustomerChanges) {
        changes.email.apply(&mut self.email);
        changes.name.apply(&mut self.name);
        changes.description.apply(&mut self.description);
        changes.phone.apply(&mut self.phone);
        changes.address.apply(&mut self.address);
        match changes.metadata {
            None => {}
            Some(None) => self.metadata.clear(),
            Some(Some(m)) => {
                for (k, v) in m {
                    if v.is_empty() {
                        self.metadata.remove(&k);
                    } else {
                        self.metadata.insert(k, v);
                    }
                }
            }
        }
    }
}

impl Finconn {
    pub async fn create_customer(&self, scope: &Scope, changes: CustomerChanges) -> Result<Customer, DomainError> {
        let mut rec = CustomerRecord {
            id: ids::new_id(ids::CUSTOMER),
            scope: Some(scope.clone()),
            created: self.now(),
            email: None,
            name: None,
            description: None,
            phone: None,
            address: None,
            metadata: BTreeMap::new(),
            invoice_prefix: ids::random_base62(8).to_uppercase(),
            deleted: false,
            test_clock: None,
            version: 0,
        };
        if let Some(clock) = &changes.test_clock {
            rec.test_clock = Some(self.find_test_clock(scope, clock, Some("test_clock")).await?.id);
        }
        rec.apply(changes);
        self.records.insert_customer(scope, &rec).await?;
        Ok(rec.to_wire(scope.livemode))
    }

    /// A customer of this account and mode, deleted or not. `param` names the parameter the id came in
    /// (`None`: the URL path).
    pub async fn find_customer(
        &self,
        scope: &Scope,
        id: &str,
        param: Option<&str>,
    ) -> Result<CustomerRecord, DomainError> {
        let found = self.records.get_customer(&scope.account, id).await?;
        crate::error::in_mode(found, |r| r.scope.as_ref(), scope, OBJECT, id, param)
    }

    pub async fn retrieve_customer(&self, scope: &Scope, id: &str) -> Result<CustomerView, DomainError> {
        let rec = self.find_customer(scope, id, None).await?;
        Ok(if rec.deleted {
            CustomerView::Deleted(rec.deleted_view())
        } else {
            CustomerView::Live(Box::new(rec.to_wire(scope.livemode)))
        })
    }

    pub async fn update_customer(
        &self,
        scope: &Scope,
        id: &str,
        changes: CustomerChanges,
    ) -> Result<Customer, DomainError> {
        // Read-modify-write with a version check; a concurrent writer makes us re-read and re-apply.
        for _ in 0..16 {
            let mut rec = self.find_customer(scope, id, None).await?;
            if rec.deleted {
                return Err(DomainError::not_found(OBJECT, id, None));
            }
            rec.apply(changes.clone());
            if self.records.update_customer(scope, &rec).await? {
                return Ok(rec.to_wire(scope.livemode));
            }
        }
        Err(DomainError::Internal("customer update kept conflicting".into()))
    }

    pub async fn delete_customer(&self, scope: &Scope, id: &str) -> Result<DeletedCustomer, DomainError> {
        for _ in 0..16 {
            let mut rec = self.find_customer(scope, id, None).await?;
            if rec.deleted {
                return Err(DomainError::not_found(OBJECT, id, None));
            }
            rec.deleted = true;
            if self.records.update_customer(scope, &rec).await? {
                return Ok(rec.deleted_view());
            }
        }
        Err(DomainError::Internal("customer delete kept conflicting".into()))
    }

    pub async fn list_customers(
        &self,
        scope: &Scope,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<Customer>, DomainError> {
        let page = self.records.list_customers(scope, filter, page).await.map_err(|e| cursor_error(e, OBJECT, page))?;
        Ok(Page { items: page.items.iter().map(|c| c.to_wire(scope.livemode)).collect(), has_more: page.has_more })
    }
}

/// Maps a missing cursor to Stripe's `No such …` on the cursor parameter.
pub(crate) fn cursor_error(e: StoreError, object: &'static str, page: &PageRequest) -> DomainError {
    match (e, &page.cursor) {
        (StoreError::CursorNotFound, Some(crate::store::Cursor::After(id))) => {
            DomainError::not_found(object, id, Some("starting_after"))
        }
        (StoreError::CursorNotFound, Some(crate::store::Cursor::Before(id))) => {
            DomainError::not_found(object, id, Some("ending_before"))
        }
        (e, _) => DomainError::Store(e),
    }
}
