//! Effects (jobs and events) written inside the transaction of the change that causes them.

use finconn_core::model::{JobKind, NewEvent, Origin};
use finconn_core::store::Effects;
use finconn_core::StoreError;
use serde::{Deserialize, Serialize};

use crate::objects::to_json;

/// What the `data` column of `events` holds.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredEvent {
    pub object: serde_json::Value,
    pub previous_attributes: Option<serde_json::Value>,
    pub request: Option<Origin>,
}

pub(crate) struct EventRow {
    pub id: String,
    pub kind: String,
    pub created: i64,
    pub data: String,
    pub fanout: String,
}

/// Effects serialized before the transaction starts, so nothing inside it can fail to encode.
#[derive(Default)]
pub(crate) struct EffectRows {
    /// `(kind, run_at, test_clock)`.
    pub jobs: Vec<(String, i64, Option<String>)>,
    pub events: Vec<EventRow>,
}

pub(crate) fn rows(jobs: &[finconn_core::model::NewJob], events: &[NewEvent]) -> Result<EffectRows, StoreError> {
    Ok(EffectRows {
        jobs: jobs
            .iter()
            .map(|j| Ok((to_json(&j.kind)?, j.run_at, j.test_clock.clone())))
            .collect::<Result<_, StoreError>>()?,
        events: events
            .iter()
            .map(|e| {
                Ok(EventRow {
                    id: e.id.clone(),
                    kind: e.kind.clone(),
                    created: e.created,
                    data: to_json(&StoredEvent {
                        object: e.object.clone(),
                        previous_attributes: e.previous_attributes.clone(),
                        request: e.request.clone(),
                    })?,
                    fanout: to_json(&JobKind::FanoutEvent { event: e.id.clone(), resend_to: None, resent_at: None })?,
                })
            })
            .collect::<Result<_, StoreError>>()?,
    })
}

pub(crate) fn of(effects: &Effects) -> Result<EffectRows, StoreError> {
    rows(&effects.jobs, &effects.events)
}

pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO events (id, account_id, livemode, type, created, pending_webhooks, data) VALUES ($1, $2, $3, $4, $5, 0, $6)";

/// Writes `$rows` (an `EffectRows`) for `$scope` inside the open sqlx transaction `$tx`.
macro_rules! write_effects {
    ($tx:expr, $scope:expr, $rows:expr) => {{
        let mut plan = $crate::sql::Plan::default();
        $crate::writes::effects_plan(&mut plan, &$scope, &$rows);
        $crate::sql::run_on(&mut *$tx, &plan).await?;
    }};
}
