//! Builds that no pipeline started, and CodeDeploy deployments: one thread each.

use super::{later, Reg};
use crate::event::{Event, PhaseOutcome};
use crate::notification::{self as n, status, Notification};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

fn rank(state: &str) -> u8 {
    match state {
        "IN_PROGRESS" | "START" | "CREATED" | "QUEUED" | "READY" => 1,
        _ => 3,
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Build {
    pub account: String,
    pub region: String,
    pub project: String,
    pub build_id: String,
    pub state: Option<Reg>,
    pub started_at: Option<DateTime<Utc>>,
    pub failed_phase: Option<PhaseOutcome>,
    pub log_link: Option<String>,
}

impl Build {
    pub fn new(account: &str, region: &str, project: &str, build_id: &str) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            project: project.into(),
            build_id: build_id.into(),
            ..Self::default()
        }
    }

    pub fn apply(&mut self, ev: &Event) -> bool {
        let time = ev.meta().time;
        match ev {
            Event::BuildState(b) => {
                let mut changed = later(
                    &mut self.state,
                    Reg {
                        value: super::name(&b.state),
                        time,
                        rank: rank(&b.state),
                    },
                );
                if self.started_at.is_none() && b.start_time.is_some() {
                    self.started_at = b.start_time;
                    changed = true;
                }
                if self.failed_phase.is_none() && b.failed_phase.is_some() {
                    self.failed_phase = b.failed_phase.clone();
                    changed = true;
                }
                if self.log_link.is_none() && b.log_link.is_some() {
                    self.log_link = b.log_link.clone();
                    changed = true;
                }
                changed
            }
            Event::BuildPhase(p) => {
                let mut changed = false;
                if self.log_link.is_none() && p.log_link.is_some() {
                    self.log_link = p.log_link.clone();
                    changed = true;
                }
                if self.failed_phase.is_none()
                    && p.phase_status != "SUCCEEDED"
                    && p.phase != "COMPLETED"
                {
                    self.failed_phase = Some(PhaseOutcome {
                        phase: p.phase.clone(),
                        status: p.phase_status.clone(),
                        context: p.context.clone(),
                    });
                    changed = true;
                }
                changed
            }
            _ => false,
        }
    }

    pub fn notification(&self) -> Notification {
        let raw = self
            .state
            .as_ref()
            .map(|r| r.value.as_ref())
            .unwrap_or("IN_PROGRESS");
        let (st, is_final) = match raw {
            "SUCCEEDED" => (status::SUCCEEDED, true),
            "FAILED" | "FAULT" | "TIMED_OUT" => (status::FAILED, true),
            "STOPPED" => (status::STOPPED, true),
            _ => (status::IN_PROGRESS, false),
        };
        let finished_at = self
            .state
            .as_ref()
            .and_then(|r| r.time)
            .filter(|_| is_final);
        let region = &self.region;
        let mut note = Notification::new(
            n::Kind::Build,
            st,
            is_final,
            &self.account,
            region,
            self.project.clone(),
        );
        note.project = Some(self.project.clone());
        note.build_id = Some(self.build_id.clone());
        note.started_at = self.started_at;
        note.finished_at = finished_at;
        note.duration_secs = match (self.started_at, finished_at) {
            (Some(a), Some(b)) if b >= a => Some((b - a).num_seconds()),
            _ => None,
        };
        if st == status::FAILED {
            note.failure = Some(n::Failure {
                stage: self.failed_phase.as_ref().map(|p| p.phase.clone()),
                actions: vec![n::FailedActionInfo {
                    action: self.project.clone(),
                    provider: Some("CodeBuild".into()),
                    reason: self
                        .failed_phase
                        .as_ref()
                        .and_then(|p| p.context.clone())
                        .or_else(|| Some(format!("Build {raw}"))),
                    external_id: Some(self.build_id.clone()),
                    log_url: self.log_link.clone(),
                    ..n::FailedActionInfo::default()
                }],
                reason: None,
            });
        }
        note.links = vec![n::Link {
            label: "build".into(),
            url: format!(
                "https://{region}.console.aws.amazon.com/codesuite/codebuild/projects/{}/build/{}?region={region}",
                self.project,
                self.build_id.replace(':', "%3A")
            ),
        }];
        note
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Deployment {
    pub account: String,
    pub region: String,
    pub deployment_id: String,
    pub application: String,
    pub deployment_group: String,
    pub state: Option<Reg>,
    pub started_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub failed_instances: BTreeSet<String>,
    /// The alarms watching its deployment group, and its watch window (see
    /// [`super::verdict`]).
    #[serde(default, skip_serializing_if = "super::verdict::Watch::is_empty")]
    pub watch: super::verdict::Watch,
}

impl Deployment {
    pub fn new(account: &str, region: &str, id: &str) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            deployment_id: id.into(),
            ..Self::default()
        }
    }

    pub fn apply(&mut self, ev: &Event) -> bool {
        let time = ev.meta().time;
        match ev {
            Event::DeploymentState(d) => {
                let mut changed = false;
                if self.application.is_empty() && !d.application.is_empty() {
                    self.application = d.application.clone();
                    self.deployment_group = d.deployment_group.clone();
                    changed = true;
                }
                if (d.state == "START" || d.state == "CREATED")
                    && (self.started_at.is_none() || (time.is_some() && time < self.started_at))
                {
                    self.started_at = time;
                    changed = true;
                }
                if self.error.is_none() {
                    let err = match (&d.error_code, &d.error_message) {
                        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                        (c, m) => c.clone().or_else(|| m.clone()),
                    };
                    if err.is_some() {
                        self.error = err;
                        changed = true;
                    }
                }
                changed
                    | later(
                        &mut self.state,
                        Reg {
                            value: super::name(&d.state),
                            time,
                            rank: rank(&d.state),
                        },
                    )
            }
            Event::AlarmState(a) => super::verdict::observe(&mut self.watch.alarms, a),
            Event::DeploymentInstance(i) if i.state == "FAILURE" => {
                let line = match &i.failed_lifecycle_event {
                    Some(e) => format!("{} failed at {e}", i.instance_id),
                    None => format!("{} failed", i.instance_id),
                };
                self.failed_instances.insert(line)
            }
            _ => false,
        }
    }

    /// It succeeded (CodeDeploy said SUCCESS).
    pub fn succeeded(&self) -> bool {
        self.state.as_ref().is_some_and(|r| r.value == "SUCCESS")
    }

    pub fn notification(&self) -> Notification {
        let raw = self
            .state
            .as_ref()
            .map(|r| r.value.as_ref())
            .unwrap_or("START");
        let (st, is_final) = match raw {
            "SUCCESS" => (status::SUCCEEDED, true),
            "FAILURE" => (status::FAILED, true),
            "STOP" => (status::STOPPED, true),
            // Blue/green, waiting for someone to reroute traffic (its wait time not run out).
            "READY" => (status::READY, false),
            _ => (status::IN_PROGRESS, false),
        };
        let title = if self.application.is_empty() {
            self.deployment_id.clone()
        } else {
            format!("{}/{}", self.application, self.deployment_group)
        };
        let region = &self.region;
        let mut note = Notification::new(
            n::Kind::Deployment,
            st,
            is_final,
            &self.account,
            region,
            title,
        );
        note.application = (!self.application.is_empty()).then(|| self.application.clone());
        note.deployment_group =
            (!self.deployment_group.is_empty()).then(|| self.deployment_group.clone());
        note.deployment_id = Some(self.deployment_id.clone());
        note.started_at = self.started_at;
        note.finished_at = self
            .state
            .as_ref()
            .and_then(|r| r.time)
            .filter(|_| is_final);
        note.duration_secs = match (note.started_at, note.finished_at) {
            (Some(a), Some(b)) if b >= a => Some((b - a).num_seconds()),
            _ => None,
        };
        (note.alarms, note.verdict) = self.watch.judge(
            self.started_at.map(|t| t.timestamp()),
            note.finished_at.map(|t| t.timestamp()),
            self.succeeded(),
        );
        if st == status::FAILED {
            let reason = std::iter::once(self.error.clone().unwrap_or_default())
                .chain(self.failed_instances.iter().cloned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            note.failure = Some(n::Failure {
                stage: None,
                actions: Vec::new(),
                reason: (!reason.is_empty()).then_some(reason),
            });
        }
        note.links = vec![n::Link {
            label: "deployment".into(),
            url: format!(
                "https://{region}.console.aws.amazon.com/codesuite/codedeploy/deployments/{}?region={region}",
                self.deployment_id
            ),
        }];
        note
    }
}
