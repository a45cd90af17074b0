//! The ECS scaling thread (`ecs_scaling`): someone (or Application Auto Scaling) changed a
//! service's desired count with an `UpdateService` call CloudTrail recorded. IN_PROGRESS until
//! the service's next SERVICE_STEADY_STATE (SUCCEEDED), or stalled after `[ecs]
//! deployment_stall_secs`. The service pointer sends it the steady states (see `engine`).

use super::ecs::Call;
use crate::event::Event;
use crate::notification::{self as n, status, Notification};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EcsScaling {
    pub account: String,
    pub region: String,
    pub cluster: String,
    pub service: String,
    /// The call (the earliest, should the same one come twice).
    pub call: Option<Call>,
    /// The first SERVICE_STEADY_STATE after the call: the service runs its desired count.
    pub steady: Option<DateTime<Utc>>,
}

impl EcsScaling {
    pub fn new(account: &str, region: &str, cluster: &str, service: &str) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            cluster: cluster.into(),
            service: service.into(),
            ..Self::default()
        }
    }

    pub fn apply(&mut self, ev: &Event) -> bool {
        match ev {
            Event::ApiCall(c) => Call::keep_earliest(&mut self.call, Call::of(c)),
            Event::EcsServiceAction(a) if a.event_name == "SERVICE_STEADY_STATE" => {
                let at = a.meta.time;
                let after_call = self
                    .call
                    .as_ref()
                    .is_some_and(|c| c.at.is_none() || at >= c.at);
                if !after_call || at.is_none() || self.steady.is_some_and(|s| Some(s) <= at) {
                    return false;
                }
                self.steady = at;
                true
            }
            _ => false,
        }
    }

    pub fn notification(&self) -> Notification {
        let (st, is_final) = match self.steady {
            Some(_) => (status::SUCCEEDED, true),
            None => (status::IN_PROGRESS, false),
        };
        let call = self.call.as_ref();
        let desired = call.and_then(|c| c.desired_count);
        let by = call
            .map(|c| format!(" by {}", c.principal))
            .unwrap_or_default();
        let started_at = call.and_then(|c| c.at);
        let region = &self.region;
        Notification {
            cluster: Some(self.cluster.clone()),
            service: Some(self.service.clone()),
            title: match desired {
                Some(d) => format!("{}/{} scaled to {d}{by}", self.cluster, self.service),
                None => format!("{}/{} scaled{by}", self.cluster, self.service),
            },
            started_at,
            finished_at: self.steady,
            duration_secs: match (started_at, self.steady) {
                (Some(a), Some(b)) if b >= a => Some((b - a).num_seconds()),
                _ => None,
            },
            trigger: call.map(Call::trigger),
            principal: call.map(|c| c.principal.clone()),
            invoked_by: call.and_then(|c| c.invoked_by.clone()),
            desired_count: desired,
            links: vec![n::Link {
                label: "service".into(),
                url: format!(
                    "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{}/services/{}/health?region={region}",
                    self.cluster, self.service
                ),
            }],
            ..Notification::new(n::Kind::EcsScaling, st, is_final, &self.account, region, String::new())
        }
    }
}
