//! Test clocks (`test_helpers.test_clock`): a frozen time of its own for the customers attached to it and
//! the accounts linked for those customers. Advancing a clock replays what falls due on its time (the daily
//! transaction refreshes of subscribed accounts, refreshes asked for on the clock) in time order, step by
//! step, so a year of a subscription can be tested in seconds.

use finconn_types::{DeletedTestClock, TestClock, TestClockAdvancing, TestClockStatusDetails};

use crate::model::{Scope, TestClockRecord, TestClockStatus};
use crate::store::{Effects, Page, PageRequest};
use crate::{ids, DomainError, Finconn};

pub const OBJECT: &str = "test_helpers.test_clock";
pub const PREFIX: &str = "clock_";
/// A clock deletes itself (and its customers) this long after its creation, as Stripe's do.
pub const LIFETIME: i64 = 7 * 86_400;
/// How far one advance may go: two years (the longest, with a leap day).
pub const MAX_ADVANCE: i64 = 731 * 86_400;

impl TestClockRecord {
    pub fn to_wire(&self) -> TestClock {
        TestClock {
            created: self.created,
            deletes_after: self.deletes_after,
            frozen_time: self.frozen_time,
            id: self.id.clone(),
            livemode: false,
            name: self.name.clone(),
            object: OBJECT.to_owned(),
            status: match self.status {
                TestClockStatus::Ready => finconn_types::TestClockStatus::Ready,
                TestClockStatus::Advancing => finconn_types::TestClockStatus::Advancing,
                TestClockStatus::InternalFailure => finconn_types::TestClockStatus::InternalFailure,
            },
            status_details: TestClockStatusDetails {
                advancing: self
                    .target
                    .filter(|_| self.status == TestClockStatus::Advancing)
                    .map(|t| TestClockAdvancing { target_frozen_time: t, extra: Default::default() }),
                extra: Default::default(),
            },
            extra: Default::default(),
        }
    }
}

/// What the advancing job does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Jobs of the clock are due at its current time: run them, then step again.
    RunDue,
    /// The clock moved on (or someone else moved it): step again.
    Moved,
    /// The clock is ready (or deleted): the advance is over.
    Done,
}

fn event(kind: &str, rec: &TestClockRecord, now: i64, origin: Option<&crate::model::Origin>) -> Effects {
    Effects {
        jobs: Vec::new(),
        events: crate::events::new_event(kind, &rec.to_wire(), now, origin).into_iter().collect(),
    }
}

impl Finconn {
    /// The time a clock-bound object sees: its clock's `frozen_time`; real time for `None`.
    pub async fn time_on(&self, test_clock: Option<&str>) -> Result<i64, DomainError> {
        match test_clock {
            None => Ok(self.now()),
            Some(id) => Ok(self.records.test_clock_time(id).await?.unwrap_or_else(|| self.now())),
        }
    }

    /// A live (not deleted) clock of the caller's account and mode.
    pub async fn find_test_clock(
        &self,
        scope: &Scope,
        id: &str,
        param: Option<&str>,
    ) -> Result<TestClockRecord, DomainError> {
        let found = self.records.get_test_clock(&scope.account, id).await?.filter(|c| !c.deleted);
        crate::error::in_mode(found, |r| r.scope.as_ref(), scope, OBJECT, id, param)
    }

    pub async fn create_test_clock(
        &self,
        scope: &Scope,
        frozen_time: i64,
        name: Option<String>,
        customer: Option<&str>,
        origin: Option<&crate::model::Origin>,
    ) -> Result<TestClock, DomainError> {
        let now = self.now();
        let rec = TestClockRecord {
            id: ids::new_id(PREFIX),
            scope: Some(scope.clone()),
            created: now,
            deletes_after: now + LIFETIME,
            frozen_time,
            name,
            status: TestClockStatus::Ready,
            target: None,
            deleted: false,
            version: 0,
        };
        let effects = event("test_helpers.test_clock.created", &rec, now, origin);
        for _ in 0..16 {
            let attach = match customer {
                None => None,
                Some(c) => {
                    let mut found = self.find_customer(scope, c, Some("customer")).await?;
                    if found.deleted {
                        return Err(DomainError::not_found(crate::customers::OBJECT, c, Some("customer")));
                    }
                    if found.test_clock.is_some() {
                        return Err(already_on_clock(c));
                    }
                    found.test_clock = Some(rec.id.clone());
                    Some(found)
                }
            };
            // False: the customer changed since we read it; read it again.
            if self.records.insert_test_clock(scope, &rec, attach.as_ref(), &effects).await? {
                return Ok(rec.to_wire());
            }
        }
        Err(DomainError::Internal("the customer kept changing".into()))
    }

    pub async fn retrieve_test_clock(&self, scope: &Scope, id: &str) -> Result<TestClock, DomainError> {
        Ok(self.find_test_clock(scope, id, None).await?.to_wire())
    }

    pub async fn list_test_clocks(&self, scope: &Scope, page: &PageRequest) -> Result<Page<TestClock>, DomainError> {
        let p = self
            .store
            .list_test_clocks(scope, page)
            .await
            .map_err(|e| crate::customers::cursor_error(e, OBJECT, page))?;
        Ok(Page { items: p.items.iter().map(TestClockRecord::to_wire).collect(), has_more: p.has_more })
    }

    /// Starts advancing to `frozen_time`; the job it queues moves the clock and sets it `ready` at the end.
    pub async fn advance_test_clock(
        &self,
        scope: &Scope,
        id: &str,
        frozen_time: i64,
        origin: Option<&crate::model::Origin>,
    ) -> Result<TestClock, DomainError> {
        for _ in 0..16 {
            let mut rec = self.find_test_clock(scope, id, None).await?;
            match rec.status {
                TestClockStatus::Ready => {}
                TestClockStatus::Advancing => {
                    return Err(DomainError::InvalidState(format!(
                        "The test clock {id} is already advancing; wait until its status is `ready`."
                    )))
                }
                TestClockStatus::InternalFailure => {
                    return Err(DomainError::InvalidState(format!(
                        "The test clock {id} failed while advancing and cannot be advanced again; delete it."
                    )))
                }
            }
            if frozen_time <= rec.frozen_time {
                return Err(DomainError::InvalidParam {
                    param: "frozen_time".into(),
                    message: format!(
                        "The frozen_time ({frozen_time}) must be after the test clock's current frozen_time ({}).",
                        rec.frozen_time
                    ),
                });
            }
            if frozen_time - rec.frozen_time > MAX_ADVANCE {
                return Err(DomainError::InvalidParam {
                    param: "frozen_time".into(),
                    message: "A test clock cannot be advanced more than two years past its current frozen_time.".into(),
                });
            }
            rec.status = TestClockStatus::Advancing;
            rec.target = Some(frozen_time);
            let mut effects = event("test_helpers.test_clock.advancing", &rec, self.now(), origin);
            effects.jobs.push(crate::model::NewJob::now_or_later(
                crate::model::JobKind::AdvanceTestClock { clock: rec.id.clone() },
                self.now(),
            ));
            if self.records.update_test_clock(scope, &rec, &effects).await? {
                return Ok(rec.to_wire());
            }
        }
        Err(DomainError::Internal("the test clock kept changing".into()))
    }

    /// One step of an advance: run what is due at the clock's current time, else move the clock to the next
    /// due job (or the target, where it becomes `ready`).
    pub async fn advance_step(&self, scope: &Scope, id: &str) -> Result<Step, DomainError> {
        let Some(mut rec) = self.records.get_test_clock(&scope.account, id).await? else { return Ok(Step::Done) };
        let (TestClockStatus::Advancing, Some(target), false) = (rec.status, rec.target, rec.deleted) else {
            return Ok(Step::Done);
        };
        if self.store.release_clock_jobs(id, rec.frozen_time).await? > 0 {
            return Ok(Step::RunDue);
        }
        let mut effects = Effects::default();
        match self.store.next_clock_job(id).await?.filter(|t| *t <= target) {
            Some(t) => rec.frozen_time = t,
            None => {
                rec.frozen_time = target;
                rec.status = TestClockStatus::Ready;
                rec.target = None;
                effects = event("test_helpers.test_clock.ready", &rec, self.now(), None);
            }
        }
        let ready = rec.status == TestClockStatus::Ready;
        Ok(match self.records.update_test_clock(scope, &rec, &effects).await? {
            true if ready => Step::Done,
            _ => Step::Moved,
        })
    }

    /// An advance that could not finish: the clock reports `internal_failure`.
    pub async fn fail_test_clock(&self, scope: &Scope, id: &str) -> Result<(), DomainError> {
        for _ in 0..16 {
            let Some(mut rec) = self.records.get_test_clock(&scope.account, id).await? else { return Ok(()) };
            if rec.deleted || rec.status != TestClockStatus::Advancing {
                return Ok(());
            }
            rec.status = TestClockStatus::InternalFailure;
            rec.target = None;
            let effects = event("test_helpers.test_clock.internal_failure", &rec, self.now(), None);
            if self.records.update_test_clock(scope, &rec, &effects).await? {
                return Ok(());
            }
        }
        Err(DomainError::Internal("the test clock kept changing".into()))
    }

    /// Deletes a clock, as Stripe does with what is attached to it: its customers are deleted, and the
    /// accounts linked for them are disconnected (their data stays readable).
    pub async fn delete_test_clock(
        &self,
        scope: &Scope,
        id: &str,
        origin: Option<&crate::model::Origin>,
    ) -> Result<DeletedTestClock, DomainError> {
        let mut deleted_now = false;
        for _ in 0..16 {
            let mut rec = self.find_test_clock(scope, id, None).await?;
            rec.deleted = true;
            let effects = event("test_helpers.test_clock.deleted", &rec, self.now(), origin);
            if self.records.update_test_clock(scope, &rec, &effects).await? {
                deleted_now = true;
                break;
            }
        }
        if !deleted_now {
            return Err(DomainError::Internal("the test clock kept changing".into()));
        }
        self.detach_from_clock(scope, id).await?;
        Ok(DeletedTestClock { deleted: true, id: id.to_owned(), object: OBJECT.to_owned(), extra: Default::default() })
    }

    /// What goes with a deleted clock: its accounts are disconnected, its customers deleted.
    async fn detach_from_clock(&self, scope: &Scope, id: &str) -> Result<(), DomainError> {
        for account in self.records.accounts_on_clock(scope, id).await? {
            self.disconnect_account(scope, &account.id, None).await?;
        }
        // Page by cursor: the deletions are the request's unit of work, so the list (which reads what is
        // committed) still shows the customers already deleted here.
        let filter = crate::store::CustomerFilter { test_clock: Some(id.to_owned()), ..Default::default() };
        let mut cursor = None;
        loop {
            let page = PageRequest { limit: 100, cursor: cursor.take() };
            let customers = self.records.list_customers(scope, &filter, &page).await?;
            for c in &customers.items {
                match self.delete_customer(scope, &c.id).await {
                    Ok(_) | Err(DomainError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            match customers.items.last() {
                Some(last) if customers.has_more => cursor = Some(crate::store::Cursor::After(last.id.clone())),
                _ => return Ok(()),
            }
        }
    }

    /// Deletes the clocks whose `deletes_after` has passed; returns how many.
    pub async fn delete_expired_test_clocks(&self) -> Result<usize, DomainError> {
        let expired = self.store.expired_test_clocks(self.now()).await?;
        let mut n = 0;
        for (scope, id) in expired {
            match self.delete_test_clock(&scope, &id, None).await {
                Ok(_) => n += 1,
                Err(DomainError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

fn already_on_clock(customer: &str) -> DomainError {
    DomainError::InvalidParam {
        param: "customer".into(),
        message: format!(
            "The customer {customer} is already attached to a test clock; a customer belongs to one test clock, for good."
        ),
    }
}
