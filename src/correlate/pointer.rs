//! Joining events that name no execution: CodeBuild events (by the build id a CodeBuild action
//! reported, or by start time for V1 events that report none) and approval messages (to the
//! newest running execution). Pure functions over the pointer item.

use super::{
    later, pipeline::terminal, BuildAction, DeploymentEnd, ExecRef, PipelinePointer, Reg,
    ServicePointer, ServiceTarget, BUILD_JOIN_SECS, MAX_BUILD_ACTIONS, MAX_EXECUTIONS, MAX_HELD,
};
use crate::event::{EcsDeployment, Event, LinkedDeploy};
use chrono::{DateTime, Utc};

/// How long a stopped task that joins no deployment known yet waits for the events that would
/// place it (its deployment's, or another's it happened during: events arrive out of order)
/// before a crash is told as the service's own crash episode (and another stop is dropped).
pub const CRASH_HOLD_SECS: i64 = 60;

/// Stopped tasks held per service at most (the oldest is let go).
const MAX_TASK_HOLDS: usize = 64;

/// Crashes kept per service pointer until their deployment's end is known.
const MAX_ROUTED: usize = 32;

/// Which service a pointer is (`svc#account#region#cluster#service`).
#[derive(Debug, Clone, Copy)]
pub struct ServiceId<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub cluster: &'a str,
    pub service: &'a str,
}

impl<'a> ServiceId<'a> {
    pub fn of(key: &'a str) -> Option<Self> {
        let mut p = key.strip_prefix("svc#")?.splitn(4, '#');
        Some(Self {
            account: p.next()?,
            region: p.next()?,
            cluster: p.next()?,
            service: p.next()?,
        })
    }
}

/// Scalings of a service followed at once (the oldest is let go).
const MAX_SCALINGS: usize = 8;

/// What tells a scaling call from another: CloudTrail's event id, else the envelope's, else
/// its time.
pub fn scaling_id(c: &crate::event::ApiCall) -> String {
    match c.event_id.as_ref().or(c.meta.id.as_ref()) {
        Some(id) => id.replace('#', "_"),
        None => c.meta.time.map_or(0, |t| t.timestamp()).to_string(),
    }
}

/// A deployment that has not ended this long after it started is taken as over (its last
/// events were lost): crashes no longer join it.
pub const OPEN_DEPLOYMENT_SECS: i64 = 6 * 3600;

fn keep_newest<T, K: Ord>(v: &mut Vec<T>, max: usize, key: impl Fn(&T) -> K) {
    if v.len() > max {
        v.sort_by_key(|x| std::cmp::Reverse(key(x)));
        v.truncate(max);
    }
}

impl PipelinePointer {
    /// Learns from a pipeline event what executions and CodeBuild actions exist. True if the
    /// pointer changed (and so needs a write).
    pub fn observe(&mut self, ev: &Event) -> bool {
        let time = ev.meta().time;
        let mut changed = false;
        let exec_id = match ev {
            Event::PipelineExecution(e) => Some(&e.execution_id),
            Event::StageExecution(e) => Some(&e.execution_id),
            Event::ActionExecution(e) => Some(&e.execution_id),
            _ => None,
        };
        let Some(exec_id) = exec_id else {
            return false;
        };
        if self.pipeline.is_empty() {
            if let Event::PipelineExecution(e) = ev {
                self.account = e.meta.account.clone();
                self.region = e.meta.region.clone();
                self.pipeline = e.pipeline.clone();
                changed = true;
            }
        }
        let idx = match self
            .executions
            .iter()
            .position(|x| &x.execution_id == exec_id)
        {
            Some(i) => i,
            None => {
                self.executions.push(ExecRef {
                    execution_id: exec_id.clone(),
                    started: time,
                    state: None,
                });
                changed = true;
                self.executions.len() - 1
            }
        };
        if let Event::PipelineExecution(e) = ev {
            let x = &mut self.executions[idx];
            let start = e.start_time.or(time);
            if e.state == "STARTED" && (x.started.is_none() || start < x.started) {
                x.started = start;
                changed = true;
            }
            let rank = if terminal(&e.state) { 3 } else { 1 };
            // Terminal states matter only to approvals; each is a write, so skip them until
            // this pipeline has had one.
            if rank == 3 && !self.approvals_seen && !self.watched {
                return changed;
            }
            changed |= later(
                &mut x.state,
                Reg {
                    value: super::name(&e.state),
                    time,
                    rank,
                },
            );
        }
        keep_newest(&mut self.executions, MAX_EXECUTIONS, |x| x.started);
        if let Event::ActionExecution(a) = ev {
            if a.provider == "CodeBuild" {
                let found = self
                    .build_actions
                    .iter_mut()
                    .find(|b| &b.execution_id == exec_id && b.action == a.action);
                match found {
                    Some(b) => {
                        if a.state == "STARTED" && (b.started.is_none() || time < b.started) {
                            b.started = time;
                            changed = true;
                        }
                        // Builds usually join their action by time when they start; the id
                        // the action reports at its end is written only if one is still
                        // needed.
                        if b.build_id.is_none()
                            && self.builds_seen
                            && a.external_execution_id.is_some()
                        {
                            b.build_id = a.external_execution_id.clone();
                            changed = true;
                        }
                    }
                    None => {
                        self.build_actions.push(BuildAction {
                            execution_id: exec_id.clone(),
                            action: a.action.clone(),
                            started: if a.state == "STARTED" { time } else { None },
                            build_id: a.external_execution_id.clone(),
                        });
                        changed = true;
                    }
                }
                keep_newest(&mut self.build_actions, MAX_BUILD_ACTIONS, |b| b.started);
            }
        }
        changed
    }

    /// The pipeline's executions as alarms are told of them (`name`: the pipeline's).
    pub fn deploys(&self, name: &str) -> Vec<LinkedDeploy> {
        self.executions
            .iter()
            .map(|x| {
                let end = x.state.as_ref().filter(|r| terminal(&r.value));
                LinkedDeploy {
                    kind: crate::notification::Kind::Pipeline.as_str().to_owned(),
                    target: name.to_owned(),
                    deployment_id: x.execution_id.clone(),
                    started: x.started.map(|t| t.timestamp()),
                    ended: end.and_then(|r| r.time).map(|t| t.timestamp()),
                    failed: end.is_some_and(|r| r.value != "SUCCEEDED"),
                    by: None,
                }
            })
            .collect()
    }

    /// The execution an event joins now, recording a time-based build join so every later
    /// event of that build goes to the same execution. `None`: hold it.
    pub fn join(&mut self, ev: &Event) -> Option<String> {
        match ev {
            Event::BuildState(b) => self.join_build(&b.build_id, b.start_time.or(b.meta.time)),
            Event::BuildPhase(b) => self.join_build(&b.build_id, b.start_time.or(b.meta.time)),
            Event::ManualApproval(_) => self
                .executions
                .iter()
                .filter(|x| !x.state.as_ref().is_some_and(|r| terminal(&r.value)))
                .max_by_key(|x| (x.started, x.execution_id.clone()))
                .map(|x| x.execution_id.clone()),
            _ => None,
        }
    }

    fn join_build(
        &mut self,
        build_id: &str,
        start: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Option<String> {
        if let Some(b) = self
            .build_actions
            .iter()
            .find(|b| b.build_id.as_deref() == Some(build_id))
        {
            return Some(b.execution_id.clone());
        }
        let start = start?;
        let candidate = self
            .build_actions
            .iter_mut()
            .filter(|b| b.build_id.is_none())
            .filter_map(|b| {
                let s = b.started?;
                let lag = (start - s).num_seconds();
                // A few seconds of clock skew either way, at most BUILD_JOIN_SECS of queueing.
                ((-5..=BUILD_JOIN_SECS).contains(&lag)).then_some((s, b))
            })
            .max_by_key(|(s, b)| (*s, b.execution_id.clone()))
            .map(|(_, b)| b)?;
        candidate.build_id = Some(build_id.to_owned());
        Some(candidate.execution_id.clone())
    }

    /// Notes that an event of a kind that needs joining came through (see the `_seen` flags).
    /// True if the pointer changed.
    pub fn note_kind(&mut self, ev: &Event) -> bool {
        match ev {
            Event::ManualApproval(_) if !self.approvals_seen => {
                self.approvals_seen = true;
                true
            }
            Event::BuildState(_) | Event::BuildPhase(_) if !self.builds_seen => {
                self.builds_seen = true;
                true
            }
            _ => false,
        }
    }

    /// Holds an event until what it joins arrives. True if it was added.
    pub fn hold(&mut self, ev: &Event) -> bool {
        if self.held.contains(ev) {
            return false;
        }
        if self.held.len() >= MAX_HELD {
            // Oldest out: a build whose action never arrives must not grow the item forever.
            self.held.remove(0);
        }
        self.held.push(ev.clone());
        true
    }

    /// Held events that join an execution now, removed from the hold.
    pub fn release(&mut self) -> Vec<(String, Event)> {
        let held = std::mem::take(&mut self.held);
        let mut out = Vec::new();
        // Earliest builds first, so each claims the action that started just before it.
        let mut order: Vec<Event> = held;
        order.sort_by_key(|e| e.meta().time);
        for ev in order {
            match self.join(&ev) {
                Some(exec) => out.push((exec, ev)),
                None => self.held.push(ev),
            }
        }
        out
    }
}

impl From<super::verdict::Link> for ServiceTarget {
    fn from(l: super::verdict::Link) -> Self {
        match l {
            super::verdict::Link::Deploy(d) => ServiceTarget::Deployment(d),
            super::verdict::Link::Alarm(k) => ServiceTarget::Alarm(k),
        }
    }
}

impl ServicePointer {
    pub fn observe(
        &mut self,
        deployment_id: &str,
        time: Option<chrono::DateTime<chrono::Utc>>,
    ) -> bool {
        match self
            .deployments
            .iter_mut()
            .find(|(d, _)| d == deployment_id)
        {
            Some((_, t)) => {
                if time.is_some() && (t.is_none() || time < *t) {
                    *t = time;
                    return true;
                }
                false
            }
            None => {
                self.deployments.push((deployment_id.to_owned(), time));
                keep_newest(&mut self.deployments, MAX_EXECUTIONS, |(_, t)| *t);
                true
            }
        }
    }

    /// Learns how a deployment ends; true if the pointer changed.
    pub fn observe_state(&mut self, d: &EcsDeployment) -> bool {
        let at = d.meta.time.map(|t| t.timestamp());
        let name = d.event_name.as_str();
        let rolling = d
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("rolling back"));
        if !matches!(
            name,
            "SERVICE_DEPLOYMENT_COMPLETED" | "SERVICE_DEPLOYMENT_FAILED"
        ) && !rolling
        {
            return false;
        }
        let i = match self.ends.iter().position(|e| e.id == d.deployment_id) {
            Some(i) => i,
            None => {
                let known: Vec<&String> = self.deployments.iter().map(|(d, _)| d).collect();
                if self.ends.len() >= MAX_EXECUTIONS {
                    self.ends.retain(|e| known.contains(&&e.id));
                }
                self.ends.push(DeploymentEnd {
                    id: d.deployment_id.clone(),
                    ..DeploymentEnd::default()
                });
                self.ends.len() - 1
            }
        };
        let e = &mut self.ends[i];
        let before = e.clone();
        let earliest = |slot: &mut Option<i64>| {
            if at.is_some() && (slot.is_none() || at < *slot) {
                *slot = at;
            }
        };
        match name {
            "SERVICE_DEPLOYMENT_COMPLETED" => earliest(&mut e.completed),
            "SERVICE_DEPLOYMENT_FAILED" => earliest(&mut e.failed),
            _ => {}
        }
        e.rolling_back |= rolling;
        *e != before
    }

    /// When deployment `id` ended (by its events' times): its completion (a rollback
    /// completes too), or its failure when no rollback followed. `Some(None)`: it ended at a
    /// time not known; `None`: not ended.
    fn ended(&self, id: &str) -> Option<Option<i64>> {
        let e = self.ends.iter().find(|e| e.id == id)?;
        match (e.completed, e.failed, e.rolling_back) {
            (Some(c), _, _) => Some(Some(c)),
            (None, Some(f), false) => Some(Some(f)),
            _ => None,
        }
    }

    /// Whether deployment `id` (started at `started`) was in progress at `at` (an event's
    /// time): not ended before it, and not started long before it ([`OPEN_DEPLOYMENT_SECS`]:
    /// its last events were lost). `since`: it must also have started by then (a deployment
    /// that started the task has).
    fn in_progress_at(
        &self,
        id: &str,
        started: Option<DateTime<Utc>>,
        at: Option<i64>,
        since: bool,
    ) -> bool {
        let started = started.map(|s| s.timestamp());
        let ended = match self.ended(id) {
            Some(Some(end)) => at.is_none_or(|a| a > end),
            Some(None) => true,
            None => false,
        };
        let (early, stale) = match (started, at) {
            (Some(s), Some(a)) => (since && a < s, a - s > OPEN_DEPLOYMENT_SECS),
            _ => (false, false),
        };
        !ended && !early && !stale
    }

    /// The deployment in progress at an event of the service's time: `preferred` (the one
    /// that started a task), else the newest other one in progress then.
    pub fn deployment_at(&self, ev: &Event, preferred: Option<&str>) -> Option<String> {
        let at = ev.meta().time.map(|t| t.timestamp());
        if let Some(p) = preferred {
            let mine = self.deployments.iter().find(|(d, _)| d == p);
            if mine.is_some_and(|(d, s)| self.in_progress_at(d, *s, at, false)) {
                return Some(p.to_owned());
            }
        }
        self.deployments
            .iter()
            .filter(|(d, s)| self.in_progress_at(d, *s, at, true))
            .max_by_key(|(d, s)| (*s, d.clone()))
            .map(|(d, _)| d.clone())
    }

    /// Where an event of the service that names no deployment of its own goes, and whether the
    /// pointer changed. `now` (processing time) starts a hold's wait.
    /// - A crash joins the deployment in progress at its time (the one that started the task
    ///   first). Without one it waits [`CRASH_HOLD_SECS`] for the events that would place it
    ///   (events arrive out of order), then opens or joins the service's crash episode.
    /// - Another stopped task joins the deployment that started it while that is in progress
    ///   (why it stopped is told if the deployment fails); it waits the same while its
    ///   deployment is not known, and is dropped otherwise.
    /// - A steady state goes to the deployment in progress, to the crash episode if the service
    ///   had one, and ends the scalings asked before it; the newest is kept (a crash episode or
    ///   a scaling that comes later is given it).
    /// - Another service action joins the deployment in progress; without one a warning waits
    ///   the same for one, and the rest is dropped: it never opens a deployment thread.
    pub fn route(&mut self, ev: &Event, now: i64) -> (Vec<(ServiceTarget, Event)>, bool) {
        let to = |t: ServiceTarget| vec![(t, ev.clone())];
        match ev {
            Event::EcsTask(t) => {
                let crash = super::ecs::crash_of(t).is_some();
                if let Some(d) = self.task_deployment(ev) {
                    let changed = crash && self.note_routed(&d, ev);
                    return (to(ServiceTarget::Deployment(d)), changed);
                }
                // Not during a deployment known now; the events that would place it may still
                // come. A task that stopped without crashing, whose deployment is known and
                // over (or that names none), is dropped now.
                let started_by = t.started_by.as_deref();
                let known =
                    started_by.is_some_and(|x| self.deployments.iter().any(|(d, _)| d == x));
                if !crash && (known || started_by.is_none()) {
                    return (Vec::new(), false);
                }
                (Vec::new(), self.hold_for(ev, now))
            }
            Event::EcsServiceAction(a) if a.event_name == "SERVICE_STEADY_STATE" => {
                let newer = self
                    .steady
                    .as_ref()
                    .is_none_or(|s| s.meta().time < ev.meta().time);
                if newer {
                    self.steady = Some(ev.clone());
                }
                // Every scaling asked before it (each thread keeps the earliest after its call).
                let at = ev.meta().time.map_or(i64::MAX, |t| t.timestamp());
                let mut out: Vec<(ServiceTarget, Event)> = self
                    .scalings
                    .iter()
                    .filter(|(_, t)| *t <= at)
                    .map(|(id, _)| (ServiceTarget::Scaling(id.clone()), ev.clone()))
                    .collect();
                let kept = !self.steadies.contains(ev);
                if kept {
                    self.steadies.push(ev.clone());
                    keep_newest(&mut self.steadies, MAX_SCALINGS, |e| e.meta().time);
                }
                if let Some(d) = self.deployment_at(ev, None) {
                    out.push((ServiceTarget::Deployment(d), ev.clone()));
                }
                // A crash episode takes every steady state (it compares them with its crashes):
                // a fix deployed is the usual way out of a crash loop.
                if self.crashed {
                    out.push((ServiceTarget::Episode, ev.clone()));
                }
                (out, newer || kept)
            }
            Event::EcsServiceAction(a) => match self.deployment_at(ev, None) {
                Some(d) => (to(ServiceTarget::Deployment(d)), false),
                // A warning waits a minute for the deployment it may belong to (out of order).
                None if matches!(a.event_type.as_deref(), Some("WARN") | Some("ERROR")) => {
                    (Vec::new(), self.hold_for(ev, now))
                }
                None => (Vec::new(), false),
            },
            // A change of the desired count: its thread, and the steady state that followed
            // it if that came first.
            Event::ApiCall(c) => {
                let id = scaling_id(c);
                let at = c.meta.time.map_or(0, |t| t.timestamp());
                let mut out = to(ServiceTarget::Scaling(id.clone()));
                out.extend(
                    self.steadies
                        .iter()
                        .filter(|s| s.meta().time.is_some_and(|t| t.timestamp() >= at))
                        .map(|s| (ServiceTarget::Scaling(id.clone()), s.clone())),
                );
                let changed = !self.scalings.iter().any(|(i, _)| *i == id);
                if changed {
                    self.scalings.push((id, at));
                    keep_newest(&mut self.scalings, MAX_SCALINGS, |(_, t)| *t);
                }
                (out, changed)
            }
            _ => (Vec::new(), false),
        }
    }

    /// The deployment a stopped task belongs to now: for a crash, the one in progress at its
    /// time (the one that started the task first); for another stop, the one that started it
    /// while that is in progress.
    fn task_deployment(&self, ev: &Event) -> Option<String> {
        let Event::EcsTask(t) = ev else {
            return None;
        };
        let started_by = t
            .started_by
            .as_deref()
            .filter(|s| s.starts_with("ecs-svc/"));
        if super::ecs::crash_of(t).is_some() {
            return self.deployment_at(ev, started_by);
        }
        started_by
            .filter(|d| self.deployment_at(ev, Some(d)).as_deref() == Some(*d))
            .map(str::to_owned)
    }

    /// A crash for the service's crash episode, with the kept steady state (it may have come
    /// first).
    fn to_episode(&self, ev: &Event) -> Vec<(ServiceTarget, Event)> {
        std::iter::once(ev.clone())
            .chain(self.steady.clone())
            .map(|e| (ServiceTarget::Episode, e))
            .collect()
    }

    /// Keeps a crash sent to deployment `d` while its end is not known (see [`Self::routed`]).
    fn note_routed(&mut self, d: &str, ev: &Event) -> bool {
        if self.ended(d).is_some() || self.routed.iter().any(|(_, e)| e == ev) {
            return false;
        }
        if self.routed.len() >= MAX_ROUTED {
            self.routed.remove(0);
        }
        self.routed.push((d.to_owned(), ev.clone()));
        true
    }

    fn note_crashed(&mut self) -> bool {
        let changed = !self.crashed;
        self.crashed = true;
        changed
    }

    /// Held events that have somewhere to go now, removed from the holds: warnings that join
    /// a deployment heard of since, crashes whose deployment was heard of since, and (at
    /// `now`, processing time) crashes that waited [`CRASH_HOLD_SECS`] for it in vain.
    pub fn release(&mut self, now: i64) -> Vec<(ServiceTarget, Event)> {
        let mut out = Vec::new();
        for (d, ev) in std::mem::take(&mut self.routed) {
            let after = match self.ended(&d) {
                None => {
                    self.routed.push((d, ev));
                    continue;
                }
                Some(end) => end
                    .zip(ev.meta().time)
                    .is_some_and(|(e, t)| t.timestamp() > e),
            };
            if !after {
                continue;
            }
            // It crashed after its deployment ended (the deployment's thread drops it).
            match self.deployment_at(&ev, None) {
                Some(next) => {
                    self.note_routed(&next, &ev);
                    out.push((ServiceTarget::Deployment(next), ev));
                }
                None => {
                    self.note_crashed();
                    out.extend(self.to_episode(&ev));
                }
            }
        }
        for ev in std::mem::take(&mut self.held) {
            match self.deployment_at(&ev, None) {
                Some(d) => out.push((ServiceTarget::Deployment(d), ev)),
                None => self.held.push(ev),
            }
        }
        for (until, ev) in std::mem::take(&mut self.crash_holds) {
            let crash = matches!(&ev, Event::EcsTask(t) if super::ecs::crash_of(t).is_some());
            let joins = match &ev {
                Event::EcsTask(_) => self.task_deployment(&ev),
                _ => self.deployment_at(&ev, None),
            };
            match joins {
                Some(d) => {
                    if crash {
                        self.note_routed(&d, &ev);
                    }
                    out.push((ServiceTarget::Deployment(d), ev));
                }
                None if until <= now && crash => {
                    self.note_crashed();
                    out.extend(self.to_episode(&ev));
                }
                // A task that stopped without crashing, or a warning, that joined no
                // deployment: nothing to tell.
                None if until <= now => {}
                None => self.crash_holds.push((until, ev)),
            }
        }
        out
    }

    /// Holds a stopped task or a warning for [`CRASH_HOLD_SECS`] (see [`Self::crash_holds`]);
    /// true if it was not held already.
    fn hold_for(&mut self, ev: &Event, now: i64) -> bool {
        if self.crash_holds.iter().any(|(_, e)| e == ev) {
            return false;
        }
        if self.crash_holds.len() >= MAX_TASK_HOLDS {
            self.crash_holds.remove(0);
        }
        self.crash_holds
            .push((now.saturating_add(CRASH_HOLD_SECS), ev.clone()));
        true
    }

    /// Who started deployment `id` (its API call's principal); true if new.
    pub fn observe_caller(&mut self, id: &str, by: &str) -> bool {
        if self.callers.iter().any(|(d, _)| d == id) {
            return false;
        }
        if self.callers.len() >= MAX_EXECUTIONS {
            self.callers.remove(0);
        }
        self.callers.push((id.to_owned(), by.to_owned()));
        true
    }

    /// The service's deployments as alarms are told of them.
    pub fn deploys(&self, id: ServiceId<'_>) -> Vec<LinkedDeploy> {
        self.deployments
            .iter()
            .map(|(d, s)| LinkedDeploy {
                kind: crate::notification::Kind::EcsDeployment.as_str().to_owned(),
                target: format!("{}/{}", id.cluster, id.service),
                deployment_id: d.clone(),
                started: s.map(|s| s.timestamp()),
                ended: self.ended(d).flatten(),
                failed: self
                    .ends
                    .iter()
                    .any(|e| &e.id == d && (e.failed.is_some() || e.rolling_back)),
                by: self
                    .callers
                    .iter()
                    .find(|(x, _)| x == d)
                    .map(|(_, b)| b.clone()),
            })
            .collect()
    }

    /// After news of the service's deployments (see [`super::verdict::alarm_news`]).
    pub fn alarm_news(
        &self,
        new: &[String],
        id: ServiceId<'_>,
        watch_secs: i64,
    ) -> Vec<(ServiceTarget, Event)> {
        let deploys = self.deploys(id);
        super::verdict::alarm_news(
            &self.alarms,
            &deploys,
            new,
            id.account,
            id.region,
            watch_secs,
        )
        .into_iter()
        .map(|(l, e)| (l.into(), e))
        .collect()
    }

    /// When the first held event stops waiting (the service item's timer).
    pub fn hold_due(&self) -> Option<i64> {
        self.crash_holds.iter().map(|(until, _)| *until).min()
    }
}
