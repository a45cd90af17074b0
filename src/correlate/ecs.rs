//! The ECS deployment thread: start, impaired warnings, circuit-breaker failure, rollback.
//!
//! A COMPLETED after a failure means the rollback completed: the story ends ROLLED_BACK, never
//! SUCCEEDED.

use super::later;
use super::Reg;
use crate::event::Event;
use crate::notification::{self as n, status, Notification};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EcsDeploy {
    pub account: String,
    pub region: String,
    pub cluster: String,
    pub service: String,
    pub deployment_id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub failed: Option<Reg>,
    pub completed: Option<Reg>,
    pub rollback: bool,
    pub warnings: BTreeSet<String>,
    /// Stopped tasks of this deployment with why they stopped (bounded).
    pub stopped: BTreeSet<String>,
}

const MAX_STOPPED: usize = 5;

impl EcsDeploy {
    pub fn new(account: &str, region: &str, cluster: &str, service: &str, id: &str) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            cluster: cluster.into(),
            service: service.into(),
            deployment_id: id.into(),
            ..Self::default()
        }
    }

    pub fn apply(&mut self, ev: &Event) -> bool {
        let time = ev.meta().time;
        match ev {
            Event::EcsDeployment(d) => {
                let at = d.updated_at.or(time);
                let mut changed = match (self.started_at, at) {
                    (None, Some(_)) => {
                        self.started_at = at;
                        true
                    }
                    (Some(a), Some(b)) if b < a => {
                        self.started_at = at;
                        true
                    }
                    _ => false,
                };
                let reason = d.reason.clone().unwrap_or_default();
                let r = Reg {
                    value: super::Name::Owned(reason.clone()),
                    time,
                    rank: 1,
                };
                match d.event_name.as_str() {
                    "SERVICE_DEPLOYMENT_FAILED" => changed |= later(&mut self.failed, r),
                    "SERVICE_DEPLOYMENT_COMPLETED" => changed |= later(&mut self.completed, r),
                    _ => {}
                }
                if reason.contains("rolling back") && !self.rollback {
                    self.rollback = true;
                    changed = true;
                }
                changed
            }
            Event::EcsServiceAction(a) => {
                let warn = matches!(a.event_type.as_deref(), Some("WARN") | Some("ERROR"));
                if !warn {
                    return false;
                }
                let text = match &a.reason {
                    Some(r) => format!("{}: {r}", a.event_name),
                    None => a.event_name.clone(),
                };
                self.warnings.insert(text)
            }
            Event::EcsTask(t) if t.last_status == "STOPPED" => {
                let exits: Vec<String> = t
                    .containers
                    .iter()
                    .filter(|c| c.exit_code.is_some_and(|x| x != 0))
                    .map(|c| format!("{} exited {}", c.name, c.exit_code.unwrap_or_default()))
                    .collect();
                let why = t.stopped_reason.clone().unwrap_or_else(|| "stopped".into());
                let line = if exits.is_empty() {
                    why
                } else {
                    format!("{why} ({})", exits.join(", "))
                };
                if self.stopped.len() >= MAX_STOPPED && !self.stopped.contains(&line) {
                    return false;
                }
                self.stopped.insert(line)
            }
            _ => false,
        }
    }

    pub fn notification(&self) -> Notification {
        let (st, is_final) = match (&self.failed, &self.completed) {
            (Some(_), Some(_)) => (status::ROLLED_BACK, true),
            (Some(_), None) => (status::FAILED, true),
            (None, Some(_)) => (status::SUCCEEDED, true),
            (None, None) if self.started_at.is_some() => (status::IN_PROGRESS, false),
            (None, None) => (status::STARTED, false),
        };
        let finished_at = self
            .completed
            .as_ref()
            .and_then(|r| r.time)
            .or_else(|| self.failed.as_ref().and_then(|r| r.time));
        let failure = self.failed.as_ref().map(|f| n::Failure {
            stage: None,
            actions: Vec::new(),
            reason: Some(
                std::iter::once(f.value.to_string())
                    .chain(self.stopped.iter().cloned())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        });
        let region = &self.region;
        Notification {
            stalled: false,
            stalled_since: None,
            stalled_for_secs: None,
            reminder: None,
            kind: n::Kind::EcsDeployment,
            status: st.into(),
            is_final,
            account: self.account.clone(),
            account_alias: None,
            region: region.clone(),
            pipeline: None,
            execution_id: None,
            project: None,
            build_id: None,
            application: None,
            deployment_group: None,
            deployment_id: Some(self.deployment_id.clone()),
            cluster: Some(self.cluster.clone()),
            service: Some(self.service.clone()),
            alarm_name: None,
            title: format!("{}/{} deployment", self.cluster, self.service),
            started_at: self.started_at,
            finished_at: finished_at.filter(|_| is_final),
            duration_secs: match (self.started_at, finished_at) {
                (Some(a), Some(b)) if is_final && b >= a => Some((b - a).num_seconds()),
                _ => None,
            },
            trigger: None,
            commit: None,
            stages: Vec::new(),
            failure,
            approval: None,
            warnings: self
                .warnings
                .iter()
                .cloned()
                .chain(
                    (self.rollback && self.completed.is_none())
                        .then(|| "rollback in progress".to_owned()),
                )
                .collect(),
            links: vec![n::Link {
                label: "service".into(),
                url: format!(
                    "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{}/services/{}/deployments?region={region}",
                    self.cluster, self.service
                ),
            }],
        }
    }
}
