//! Joining events that name no execution: CodeBuild events (by the build id a CodeBuild action
//! reported, or by start time for V1 events that report none) and approval messages (to the
//! newest running execution). Pure functions over the pointer item.

use super::{
    later, pipeline::terminal, BuildAction, ExecRef, PipelinePointer, Reg, ServicePointer,
    BUILD_JOIN_SECS, MAX_BUILD_ACTIONS, MAX_EXECUTIONS, MAX_HELD,
};
use crate::event::Event;

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
            if rank == 3 && !self.approvals_seen {
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

    /// The newest deployment that started before the event (or the newest at all).
    pub fn join(&self, ev: &Event) -> Option<String> {
        let t = ev.meta().time;
        self.deployments
            .iter()
            .filter(|(_, s)| t.is_none() || s.is_none() || *s <= t)
            .max_by_key(|(d, s)| (*s, d.clone()))
            .or_else(|| self.deployments.iter().max_by_key(|(d, s)| (*s, d.clone())))
            .map(|(d, _)| d.clone())
    }

    pub fn hold(&mut self, ev: &Event) -> bool {
        if self.held.contains(ev) {
            return false;
        }
        if self.held.len() >= MAX_HELD {
            self.held.remove(0);
        }
        self.held.push(ev.clone());
        true
    }
}
