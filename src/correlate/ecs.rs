//! The ECS deployment thread: start, impaired warnings, circuit-breaker failure, rollback.
//!
//! A COMPLETED after a failure means the rollback completed: the story ends ROLLED_BACK, never
//! SUCCEEDED.

use super::later;
use super::Reg;
use crate::event::{EcsTask, Event};
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
    /// Tasks of the service that crashed while this deployment ran (see [`crash_of`]).
    #[serde(default, skip_serializing_if = "Crashes::is_empty")]
    pub crashes: Crashes,
    /// The API call that started it (CloudTrail): the earliest seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<Call>,
    /// The alarms watching the service, and the watch window (see [`super::verdict`]).
    #[serde(default, skip_serializing_if = "super::verdict::Watch::is_empty")]
    pub watch: super::verdict::Watch,
    /// AWS Health issues of services it uses in its account and region (the latest update of
    /// each), from the Health board (see [`super::health::HealthBoard`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<crate::event::Health>,
}

/// Who started (or scaled) a service, from the API call CloudTrail recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Call {
    /// `UpdateService`.
    pub name: String,
    pub principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

impl Call {
    pub fn of(c: &crate::event::ApiCall) -> Self {
        Self {
            name: c.name.clone(),
            principal: c.principal.clone(),
            invoked_by: c.invoked_by.clone(),
            task_definition: c.task_definition.clone(),
            desired_count: c.desired_count,
            at: c.meta.time,
        }
    }

    /// As a trigger reads: `UpdateService by bob-ops (gateway:88)`.
    pub fn trigger(&self) -> String {
        match &self.task_definition {
            Some(t) => format!("{} by {} ({t})", self.name, self.principal),
            None => format!("{} by {}", self.name, self.principal),
        }
    }

    /// Keeps the earliest call; true if `new` replaced the one kept.
    pub fn keep_earliest(slot: &mut Option<Call>, new: Call) -> bool {
        let earlier = slot
            .as_ref()
            .is_none_or(|c| (new.at, &new.name, &new.principal) < (c.at, &c.name, &c.principal));
        if earlier {
            *slot = Some(new);
        }
        earlier
    }
}

const MAX_STOPPED: usize = 5;

/// Why a task may stop without having crashed: the scheduler (scale-in, replaced by a
/// deployment), a person (`StopTask`), or capacity going away.
const NOT_CRASHES: [&str; 4] = [
    "ServiceSchedulerInitiated",
    "UserInitiated",
    "SpotInterruption",
    "TerminationNotice",
];

/// A STOPPED task of a service (`group` = `service:NAME`) that crashed: its stop code says an
/// essential container exited or the task failed to start, or a container exited non-zero;
/// unless the scheduler, a person or lost capacity stopped it ([`NOT_CRASHES`]).
pub fn crash_of(t: &EcsTask) -> Option<n::Crash> {
    if t.last_status != "STOPPED" || !t.group.as_deref()?.starts_with("service:") {
        return None;
    }
    let code = t.stop_code.as_deref();
    if code.is_some_and(|c| NOT_CRASHES.contains(&c)) {
        return None;
    }
    let bad = t
        .containers
        .iter()
        .find(|c| c.exit_code.is_some_and(|x| x != 0));
    let stopped = matches!(code, Some("EssentialContainerExited" | "TaskFailedToStart"));
    if bad.is_none() && !stopped {
        return None;
    }
    let container = bad.or_else(|| t.containers.iter().find(|c| c.reason.is_some()));
    Some(n::Crash {
        task: t.task_arn.rsplit('/').next().unwrap_or_default().to_owned(),
        container: container.map(|c| c.name.clone()),
        reason: container
            .and_then(|c| c.reason.clone())
            .or_else(|| t.stopped_reason.clone()),
        exit_code: bad.and_then(|c| c.exit_code),
        at: t.meta.time,
    })
}

/// Crashes counted once each (a duplicate event names a task already counted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Crashes {
    /// How many, including those no longer kept.
    pub count: u32,
    /// The newest crashes, oldest first (bounded: a duplicate of an older one would be
    /// counted again).
    pub kept: Vec<n::Crash>,
}

/// Crashes a thread keeps (and so the largest `crash_loop_count`).
pub const CRASHES_KEPT: usize = 16;

fn time_of(c: &n::Crash) -> i64 {
    c.at.map_or(0, |t| t.timestamp())
}

impl Crashes {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Counts a crash; false if its task was counted already.
    pub fn add(&mut self, c: n::Crash) -> bool {
        if self.kept.iter().any(|k| k.task == c.task) {
            return false;
        }
        let at = (c.at, c.task.clone());
        let i = self
            .kept
            .partition_point(|k| (k.at, &k.task) < (at.0, &at.1));
        self.kept.insert(i, c);
        if self.kept.len() > CRASHES_KEPT {
            self.kept.remove(0);
        }
        self.count = self.count.saturating_add(1);
        true
    }

    /// Forgets the crashes after `end` (they belong to whatever came after); true if any.
    pub fn drop_after(&mut self, end: i64) -> bool {
        let before = self.kept.len();
        self.kept.retain(|c| time_of(c) <= end);
        let gone = u32::try_from(before - self.kept.len()).unwrap_or(u32::MAX);
        self.count = self.count.saturating_sub(gone);
        gone > 0
    }

    /// The latest crash.
    pub fn last(&self) -> Option<&n::Crash> {
        self.kept.last()
    }

    /// Whether `count` of the crashes happened within `window` seconds of each other.
    pub fn looping(&self, count: u32, window: i64) -> bool {
        let n = usize::try_from(count).unwrap_or(usize::MAX);
        if count == 0 || self.kept.len() < n {
            return false;
        }
        self.kept
            .windows(n)
            .any(|w| time_of(&w[n - 1]) - time_of(&w[0]) <= window)
    }

    /// The time of the latest crash.
    pub fn latest(&self) -> Option<i64> {
        self.last().map(time_of)
    }
}

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
                if let Some(end) = self.ended() {
                    changed |= self.crashes.drop_after(end);
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
                if let Some(c) = crash_of(t) {
                    // A crash after the deployment ended is the service's, not its.
                    if self.ended().is_some_and(|end| time_of(&c) > end) {
                        return false;
                    }
                    return self.crashes.add(c);
                }
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
            Event::ApiCall(c) => Call::keep_earliest(&mut self.call, Call::of(c)),
            Event::AlarmState(a) => super::verdict::observe(&mut self.watch.alarms, a),
            Event::Health(h) => super::health::observe_issue(&mut self.health, h),
            _ => false,
        }
    }

    /// When the deployment ended (its events' times): completed (a rollback completes too),
    /// or failed with no rollback. The service pointer's rule is the same (`ended`).
    pub fn ended(&self) -> Option<i64> {
        let at = |r: &Option<Reg>| r.as_ref().and_then(|r| r.time).map(|t| t.timestamp());
        match (&self.completed, self.rollback) {
            (Some(_), _) => at(&self.completed),
            (None, false) => at(&self.failed),
            (None, true) => None,
        }
    }

    /// It completed without failing (no rollback).
    pub fn succeeded(&self) -> bool {
        self.completed.is_some() && self.failed.is_none() && !self.rollback
    }

    pub fn notification(&self) -> Notification {
        let start = self.started_at.map(|t| t.timestamp());
        let (alarms, mut verdict) = self.watch.judge(start, self.ended(), self.succeeded());
        let aws_health = super::health::issues_during(&self.health, start, self.ended());
        if let Some(v) = verdict.as_mut() {
            v.aws_health = aws_health
                .iter()
                .map(|h| h.event_type_code.clone())
                .collect();
        }
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
                    .chain(self.crashes.last().map(n::Crash::line))
                    .chain(self.stopped.iter().cloned())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        });
        let region = &self.region;
        Notification {
            principal: self.call.as_ref().map(|c| c.principal.clone()),
            invoked_by: self.call.as_ref().and_then(|c| c.invoked_by.clone()),
            crashes: (!self.crashes.is_empty()).then_some(self.crashes.count),
            last_crash: self.crashes.last().cloned(),
            deployment_id: Some(self.deployment_id.clone()),
            cluster: Some(self.cluster.clone()),
            service: Some(self.service.clone()),
            title: format!("{}/{} deployment", self.cluster, self.service),
            started_at: self.started_at.or(self.call.as_ref().and_then(|c| c.at)),
            finished_at: finished_at.filter(|_| is_final),
            duration_secs: match (self.started_at, finished_at) {
                (Some(a), Some(b)) if is_final && b >= a => Some((b - a).num_seconds()),
                _ => None,
            },
            trigger: self.call.as_ref().map(Call::trigger),
            failure,
            warnings: self
                .warnings
                .iter()
                .cloned()
                .chain(
                    (self.rollback && self.completed.is_none())
                        .then(|| "rollback in progress".to_owned()),
                )
                .chain(crash_warning(&self.crashes))
                .collect(),
            alarms,
            verdict,
            aws_health,
            links: vec![n::Link {
                label: "service".into(),
                url: format!(
                    "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{}/services/{}/deployments?region={region}",
                    self.cluster, self.service
                ),
            }],
            ..Notification::new(n::Kind::EcsDeployment, st, is_final, &self.account, region, String::new())
        }
    }
}

/// What a deployment's message says of the service's crashes: "2 tasks crashed, last: sync:
/// OutOfMemoryError: Container killed due to memory usage (exit 137)".
fn crash_warning(c: &Crashes) -> Option<String> {
    let last = c.last()?;
    let noun = if c.count == 1 { "task" } else { "tasks" };
    Some(format!("{} {noun} crashed, last: {}", c.count, last.line()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real STOPPED task of the corpus (essential container `app` exited 2), changed by `f`.
    fn task(f: impl FnOnce(&mut serde_json::Value)) -> EcsTask {
        let mut v: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/ecs-task-state-change-stopped-essential-container-exit2-fivexl.json"
        ))
        .expect("fixture");
        f(&mut v["detail"]);
        match crate::event::decode_value(&v).expect("decodes").pop() {
            Some(Event::EcsTask(t)) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_crash_is_a_service_task_that_exited_badly_and_nobody_stopped() {
        let c = crash_of(&task(|_| {})).expect("a crash");
        assert_eq!(c.line(), "app: Essential container in task exited (exit 2)");
        assert_eq!(c.task, "a6eaf0150a4248dAA1bcbd688121014e");
        // The container's own reason comes first.
        let oom = crash_of(&task(|d| {
            d["containers"][1]["exitCode"] = 137.into();
            d["containers"][1]["reason"] =
                "OutOfMemoryError: Container killed due to memory usage".into();
        }))
        .expect("a crash");
        assert_eq!(
            oom.line(),
            "app: OutOfMemoryError: Container killed due to memory usage (exit 137)"
        );
        // Failed to start: no exit code, still a crash.
        let unstarted = task(|d| {
            d["stopCode"] = "TaskFailedToStart".into();
            d["containers"][1]["exitCode"] = serde_json::Value::Null;
        });
        assert!(crash_of(&unstarted).is_some());
        // Stopped by the scheduler (scale-in, replaced), a person or lost capacity: no crash,
        // whatever the exit codes.
        for code in NOT_CRASHES {
            assert_eq!(
                crash_of(&task(|d| d["stopCode"] = code.into())),
                None,
                "{code}"
            );
        }
        // Not a service's task, or every container exited 0 without a crash's stop code.
        assert_eq!(
            crash_of(&task(|d| d["group"] = "family:batch".into())),
            None
        );
        let clean = task(|d| {
            d["stopCode"] = "EssentialContainerExited".into();
            d["containers"][1]["exitCode"] = 0.into();
        });
        assert!(
            crash_of(&clean).is_some(),
            "an essential container exiting is a crash"
        );
        let quiet = task(|d| {
            d["stopCode"] = serde_json::Value::Null;
            d["containers"][1]["exitCode"] = 0.into();
        });
        assert_eq!(crash_of(&quiet), None);
    }

    #[test]
    fn crashes_count_once_each_and_a_loop_is_enough_of_them_close_together() {
        let at = |secs: i64| chrono::DateTime::from_timestamp(secs, 0);
        let crash = |id: &str, t: i64| n::Crash {
            task: id.into(),
            at: at(t),
            ..n::Crash::default()
        };
        let mut c = Crashes::default();
        assert!(c.add(crash("a", 0)));
        assert!(!c.add(crash("a", 0)), "a duplicate");
        assert!(c.add(crash("b", 1000)));
        assert!(!c.looping(3, 900));
        assert!(c.add(crash("c", 1800)));
        assert!(!c.looping(3, 900), "never three within 15 minutes");
        assert!(c.add(crash("d", 1200)));
        assert!(c.looping(3, 900), "1000, 1200, 1800");
        assert_eq!(c.last().map(|l| l.task.as_str()), Some("c"));
        assert!(c.drop_after(1500));
        assert_eq!((c.count, c.latest()), (3, Some(1200)));
    }
}
