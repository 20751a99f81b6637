//! Events and webhooks: the events finconn writes for its state changes, webhook endpoints, and the
//! delivery rules (fan-out, signing, retries with exponential backoff for up to three days).

use std::collections::BTreeMap;

use finconn_types::{DeletedWebhookEndpoint, Event, EventData, EventRequest, WebhookEndpoint};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::{
    AttemptRecord, DeliveryRecord, DeliveryStatus, EventRecord, Job, JobKind, NewEvent, NewJob, Origin, Scope,
    WebhookEndpointRecord,
};
use crate::store::{EventFilter, Page, PageRequest};
use crate::{ids, DomainError, Finconn};

pub const EVENT: &str = "evt_";
pub const ENDPOINT: &str = "we_";
pub const OBJECT: &str = "webhook_endpoint";
/// Webhook endpoints per account and mode (Stripe's limit).
pub const MAX_ENDPOINTS: usize = 16;
/// Events are kept (and listed) for 30 days, as Stripe keeps them.
pub const RETENTION: i64 = 30 * 86_400;
/// Deliveries are retried for up to three days.
pub const RETRY_WINDOW: i64 = 3 * 86_400;

/// A new event about `object` (already rendered as the wire object, as of now).
pub fn new_event(kind: &str, object: &impl serde::Serialize, now: i64, origin: Option<&Origin>) -> Option<NewEvent> {
    Some(NewEvent {
        id: ids::new_id(EVENT),
        kind: kind.to_owned(),
        created: now,
        object: serde_json::to_value(object).ok()?,
        previous_attributes: None,
        request: origin.cloned(),
    })
}

impl EventRecord {
    pub fn to_wire(&self) -> Event {
        Event {
            extra: Default::default(),
            api_version: Some(finconn_types::API_VERSION.to_owned()),
            created: self.created,
            data: EventData {
                extra: Default::default(),
                object: self.object.clone(),
                previous_attributes: self.previous_attributes.clone(),
            },
            id: self.id.clone(),
            livemode: self.scope.livemode,
            object: Event::OBJECT.to_owned(),
            pending_webhooks: self.pending_webhooks,
            request: Some(match &self.request {
                Some(o) => EventRequest {
                    extra: Default::default(),
                    id: o.request_id.clone(),
                    idempotency_key: o.idempotency_key.clone(),
                },
                None => EventRequest { extra: Default::default(), id: None, idempotency_key: None },
            }),
            kind: self.kind.clone(),
        }
    }
}

impl WebhookEndpointRecord {
    pub fn to_wire(&self, with_secret: bool) -> WebhookEndpoint {
        WebhookEndpoint {
            extra: Default::default(),
            api_version: self.api_version.clone(),
            application: None,
            created: self.created,
            description: self.description.clone(),
            enabled_events: self.enabled_events.clone(),
            id: self.id.clone(),
            livemode: self.scope.as_ref().is_some_and(|s| s.livemode),
            metadata: self.metadata.clone(),
            object: OBJECT.to_owned(),
            secret: with_secret.then(|| self.secret.clone()),
            status: if self.disabled { "disabled" } else { "enabled" }.to_owned(),
            url: self.url.clone(),
        }
    }

    /// `*` means every event finconn sends.
    pub fn wants(&self, kind: &str) -> bool {
        self.enabled_events.iter().any(|e| e == "*" || e == kind)
    }
}

/// `Stripe-Signature: t=…,v1=…`: HMAC-SHA256 of `"{t}.{payload}"` keyed with the whole `whsec_…` secret.
pub fn signature_header(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, payload))
}

pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// Seconds to wait before attempt `n + 1` after `n` failed attempts: 1 minute, doubling, at most 12 hours.
pub fn backoff(failed_attempts: i64) -> i64 {
    let exp = u32::try_from(failed_attempts.saturating_sub(1).clamp(0, 10)).unwrap_or(10);
    (60i64 << exp).min(12 * 3600)
}

/// Changes to a webhook endpoint (create and update share them).
#[derive(Clone, Debug, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    /// `Some(None)`: unset.
    pub description: Option<Option<String>>,
    pub metadata: Option<Option<BTreeMap<String, String>>>,
    pub disabled: Option<bool>,
    pub api_version: Option<String>,
}

/// What the runner must send for a delivery.
pub struct Outgoing {
    pub delivery: DeliveryRecord,
    pub url: String,
    pub secret: String,
    pub payload: Vec<u8>,
}

/// How an attempt went.
pub struct AttemptResult {
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

impl Finconn {
    pub async fn retrieve_event(&self, scope: &Scope, id: &str) -> Result<Event, DomainError> {
        match self.records.get_event(scope, id).await? {
            Some(e) if e.created >= self.now() - RETENTION => Ok(e.to_wire()),
            _ => Err(DomainError::not_found(Event::OBJECT, id, None)),
        }
    }

    pub async fn list_events(
        &self,
        scope: &Scope,
        mut filter: EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>, DomainError> {
        filter.created.0 = filter.created.0.max(self.now() - RETENTION);
        let p = self
            .store
            .list_events(scope, &filter, page)
            .await
            .map_err(|e| crate::customers::cursor_error(e, Event::OBJECT, page))?;
        Ok(Page { items: p.items.iter().map(EventRecord::to_wire).collect(), has_more: p.has_more })
    }

    pub async fn create_webhook_endpoint(
        &self,
        scope: &Scope,
        c: EndpointChanges,
    ) -> Result<WebhookEndpoint, DomainError> {
        // Stripe's cap: 16 endpoints per account and mode. (Two requests racing past it may make 17: the
        // cap bounds fan-out work, it is not a security boundary.)
        let existing = self.records.list_webhook_endpoints(scope, &PageRequest { limit: 17, cursor: None }).await?;
        if existing.items.len() >= MAX_ENDPOINTS {
            return Err(DomainError::InvalidState(format!(
                "You have reached the maximum of {MAX_ENDPOINTS} webhook endpoints in {} mode. Delete one before \
                 adding another.",
                if scope.livemode { "live" } else { "test" }
            )));
        }
        let rec = WebhookEndpointRecord {
            id: ids::new_id(ENDPOINT),
            scope: Some(scope.clone()),
            created: self.now(),
            url: c.url.unwrap_or_default(),
            enabled_events: c.enabled_events.unwrap_or_default(),
            description: c.description.flatten(),
            metadata: c.metadata.flatten().unwrap_or_default().into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            api_version: c.api_version,
            secret: format!("whsec_{}", ids::random_base62(32)),
            disabled: false,
            version: 0,
        };
        self.records.insert_webhook_endpoint(scope, &rec).await?;
        Ok(rec.to_wire(true))
    }

    async fn find_endpoint(&self, scope: &Scope, id: &str) -> Result<WebhookEndpointRecord, DomainError> {
        self.records.get_webhook_endpoint(scope, id).await?.ok_or_else(|| DomainError::not_found(OBJECT, id, None))
    }

    pub async fn retrieve_webhook_endpoint(&self, scope: &Scope, id: &str) -> Result<WebhookEndpoint, DomainError> {
        Ok(self.find_endpoint(scope, id).await?.to_wire(false))
    }

    pub async fn update_webhook_endpoint(
        &self,
        scope: &Scope,
        id: &str,
        c: EndpointChanges,
    ) -> Result<WebhookEndpoint, DomainError> {
        for _ in 0..16 {
            let mut rec = self.find_endpoint(scope, id).await?;
            if let Some(u) = &c.url {
                rec.url = u.clone();
            }
            if let Some(e) = &c.enabled_events {
                rec.enabled_events = e.clone();
            }
            if let Some(d) = &c.description {
                rec.description = d.clone();
            }
            match &c.metadata {
                None => {}
                Some(None) => rec.metadata.clear(),
                Some(Some(m)) => {
                    for (k, v) in m {
                        if v.is_empty() {
                            rec.metadata.remove(k);
                        } else {
                            rec.metadata.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            if let Some(d) = c.disabled {
                rec.disabled = d;
            }
            if self.records.update_webhook_endpoint(scope, &rec).await? {
                return Ok(rec.to_wire(false));
            }
        }
        Err(DomainError::Internal("the endpoint kept changing".into()))
    }

    pub async fn delete_webhook_endpoint(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<DeletedWebhookEndpoint, DomainError> {
        if !self.records.delete_webhook_endpoint(scope, id).await? {
            return Err(DomainError::not_found(OBJECT, id, None));
        }
        Ok(DeletedWebhookEndpoint {
            extra: Default::default(),
            deleted: true,
            id: id.to_owned(),
            object: OBJECT.to_owned(),
        })
    }

    pub async fn list_webhook_endpoints(
        &self,
        scope: &Scope,
        page: &PageRequest,
    ) -> Result<Page<WebhookEndpoint>, DomainError> {
        let p = self
            .store
            .list_webhook_endpoints(scope, page)
            .await
            .map_err(|e| crate::customers::cursor_error(e, OBJECT, page))?;
        Ok(Page { items: p.items.iter().map(|e| e.to_wire(false)).collect(), has_more: p.has_more })
    }

    /// An endpoint's latest attempts and how many of its deliveries were given up on (it is failing).
    pub async fn list_attempts(
        &self,
        scope: &Scope,
        endpoint: &str,
        limit: i64,
    ) -> Result<(Vec<AttemptRecord>, i64), DomainError> {
        self.find_endpoint(scope, endpoint).await?;
        let attempts = self.records.list_attempts(scope, endpoint, limit).await?;
        Ok((attempts, self.records.failed_deliveries(scope, endpoint).await?))
    }

    /// `FanoutEvent`: one delivery (and its first attempt's job) per endpoint that wants the event.
    pub async fn fanout_event(
        &self,
        job: &Job,
        event: &str,
        resend_to: Option<&str>,
        resent_at: Option<i64>,
    ) -> Result<(), DomainError> {
        let Some(e) = self.records.get_event(&job.scope, event).await? else {
            return Ok(self.store.finish_fanout(job.id, event, &[], None).await?);
        };
        if let Some(endpoint) = resend_to {
            // A resend goes to the endpoint it names, if it still exists, whatever its event filter.
            let exists = self.records.get_webhook_endpoint(&job.scope, endpoint).await?.is_some();
            let targets = if exists { vec![endpoint.to_owned()] } else { Vec::new() };
            return Ok(self.store.finish_fanout(job.id, event, &targets, resent_at.or(Some(self.now()))).await?);
        }
        let endpoints = self.records.active_webhook_endpoints(&job.scope).await?;
        let targets: Vec<String> = endpoints.into_iter().filter(|w| w.wants(&e.kind)).map(|w| w.id).collect();
        Ok(self.store.finish_fanout(job.id, event, &targets, None).await?)
    }

    /// Sends an event again to one endpoint (the `resend` test helper; the dashboard's Resend): a new
    /// delivery, with its own retries, whether or not the endpoint subscribes to the event's type.
    pub async fn resend_event(&self, scope: &Scope, event: &str, endpoint: &str) -> Result<Event, DomainError> {
        let found = self.records.get_event(scope, event).await?;
        let e = found.ok_or_else(|| DomainError::not_found("event", event, None))?;
        if self.records.get_webhook_endpoint(scope, endpoint).await?.is_none() {
            return Err(DomainError::not_found("webhook_endpoint", endpoint, Some("webhook_endpoint")));
        }
        let now = self.now();
        let job = NewJob::now_or_later(
            JobKind::FanoutEvent {
                event: event.to_owned(),
                resend_to: Some(endpoint.to_owned()),
                resent_at: Some(now),
            },
            now,
        );
        self.records
            .write(crate::store::Write::Enqueue {
                scope: scope.clone(),
                effects: crate::store::Effects { jobs: vec![job], events: Vec::new() },
            })
            .await?;
        Ok(e.to_wire())
    }

    /// What a `DeliverWebhook` job sends; `None` when there is nothing to send any more.
    pub async fn plan_delivery(&self, scope: &Scope, delivery: i64) -> Result<Option<Outgoing>, DomainError> {
        let Some(d) = self.store.get_delivery(delivery).await? else { return Ok(None) };
        if d.status != DeliveryStatus::Pending || &d.scope != scope {
            return Ok(None);
        }
        let Some(endpoint) = self.records.get_webhook_endpoint(scope, &d.endpoint).await? else { return Ok(None) };
        let Some(event) = self.records.get_event(scope, &d.event).await? else { return Ok(None) };
        let payload = serde_json::to_vec_pretty(&event.to_wire()).map_err(|e| DomainError::Internal(e.to_string()))?;
        Ok(Some(Outgoing { delivery: d, url: endpoint.url, secret: endpoint.secret, payload }))
    }

    /// Records an attempt; on failure schedules the next one (or gives up after three days). Returns the
    /// delivery's new status.
    pub async fn finish_delivery(
        &self,
        job: &Job,
        out: &Outgoing,
        result: AttemptResult,
        attempted_at: i64,
    ) -> Result<DeliveryStatus, DomainError> {
        let ok = result.status_code.is_some_and(|c| (200..300).contains(&c));
        let attempts = out.delivery.attempts + 1;
        let next_at = attempted_at + backoff(attempts);
        let (status, next) = if ok {
            (DeliveryStatus::Succeeded, None)
        } else if next_at > out.delivery.created + RETRY_WINDOW {
            (DeliveryStatus::Failed, None)
        } else {
            (
                DeliveryStatus::Pending,
                Some(NewJob::now_or_later(JobKind::DeliverWebhook { delivery: out.delivery.id }, next_at)),
            )
        };
        let attempt = AttemptRecord {
            delivery: out.delivery.id,
            event: out.delivery.event.clone(),
            endpoint: out.delivery.endpoint.clone(),
            attempted_at,
            status_code: result.status_code,
            latency_ms: result.latency_ms,
            error: result.error,
        };
        self.store.finish_delivery(job.id, &attempt, status, attempts, next).await?;
        Ok(status)
    }

    /// The signature a delivery carries, with the time it is sent.
    pub fn signed(&self, out: &Outgoing) -> (i64, String) {
        let t = self.now();
        (t, signature_header(&out.secret, t, &out.payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_over_t_dot_payload() {
        // Computed independently: printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_test'
        let sig = sign("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
        assert_eq!(signature_header("whsec_test", 1_700_000_000, br#"{"a":1}"#), format!("t=1700000000,v1={sig}"));
        assert_ne!(sig, sign("whsec_other", 1_700_000_000, br#"{"a":1}"#));
    }

    #[test]
    fn backoff_doubles_from_a_minute_up_to_twelve_hours() {
        assert_eq!(backoff(1), 60);
        assert_eq!(backoff(2), 120);
        assert_eq!(backoff(5), 960);
        assert_eq!(backoff(30), 12 * 3600);
        let mut t = 0;
        let mut n = 0;
        while t + backoff(n + 1) <= RETRY_WINDOW {
            n += 1;
            t += backoff(n);
        }
        assert!((10..=20).contains(&n), "about a dozen attempts over three days: {n}");
    }
}
