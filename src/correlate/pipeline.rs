//! The pipeline-execution thread: stages, actions, joined builds, approval, commit, trigger.
//!
//! Every field is a register that keeps the value of the latest event by (event time, state
//! rank), so applying events is commutative and idempotent: any arrival order and any number of
//! duplicate deliveries give the same state, and a late STARTED never moves anything backwards.

use super::{later, Name, Reg};
use crate::event::{self, Event};
use crate::notification::{self as n, status, Notification};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PipelineExec {
    pub account: String,
    pub region: String,
    pub pipeline: String,
    pub execution_id: String,
    pub state: Option<Reg>,
    pub started_at: Option<DateTime<Utc>>,
    pub trigger: Option<event::Trigger>,
    /// Boxed like the actions: a map node of eleven records in place took about 1 KB for the
    /// two or three stages an execution has.
    pub stages: BTreeMap<String, Box<StageRec>>,
    /// Boxed: a record is large, and a map node of eleven of them in place was a large
    /// allocation per execution.
    pub actions: BTreeMap<String, Box<ActionRec>>,
    /// Boxed like the actions: a map node of records in place is a large allocation.
    pub builds: BTreeMap<String, Box<BuildRec>>,
    pub approval: Option<ApprovalRec>,
    /// Failed actions named by processed events' `additionalAttributes`, by stage.
    pub hints: BTreeMap<String, BTreeMap<String, Option<String>>>,
    /// The alarms `[[verdicts.watch]]` says watch the pipeline, and its watch window (see
    /// [`super::verdict`]); empty unless a rule names the pipeline.
    #[serde(default, skip_serializing_if = "super::verdict::Watch::is_empty")]
    pub watch: super::verdict::Watch,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StageRec {
    pub state: Option<Reg>,
    /// The earliest time any event of the stage carries: orders stages as they ran.
    pub first_seen: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ActionRec {
    pub stage: String,
    pub action: String,
    pub state: Option<Reg>,
    #[serde(deserialize_with = "super::de_name")]
    pub provider: Name,
    #[serde(deserialize_with = "super::de_name")]
    pub category: Name,
    pub summary: Option<String>,
    pub error_code: Option<String>,
    pub external_id: Option<String>,
    pub url: Option<String>,
    pub commit: Option<event::Commit>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BuildRec {
    pub state: Option<Reg>,
    pub failed_phase: Option<event::PhaseOutcome>,
    pub log_link: Option<String>,
    pub log_group: Option<String>,
    pub log_stream: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRec {
    pub time: Option<DateTime<Utc>>,
    pub info: n::ApprovalInfo,
    /// The approval's token (`PutApprovalResult` needs it); kept out of notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// An action's key in [`PipelineExec::actions`]: `stage/action` (built by hand: this runs for
/// every action event, and `format!` was a visible part of it).
fn action_key(stage: &str, action: &str) -> String {
    let mut key = String::with_capacity(stage.len() + 1 + action.len());
    key.push_str(stage);
    key.push('/');
    key.push_str(action);
    key
}

/// Pipeline states that end an execution.
pub fn terminal(state: &str) -> bool {
    matches!(
        state,
        "SUCCEEDED" | "FAILED" | "STOPPED" | "SUPERSEDED" | "CANCELED" | "ABANDONED"
    )
}

fn rank(state: &str) -> u8 {
    match state {
        "STARTED" | "RESUMED" => 1,
        "STOPPING" => 2,
        s if terminal(s) => 3,
        _ => 1,
    }
}

fn reg(state: &str, time: Option<DateTime<Utc>>) -> Reg {
    Reg {
        value: super::name(state),
        time,
        rank: rank(state),
    }
}

fn earliest(a: &mut Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> bool {
    match (*a, b) {
        (_, None) => false,
        (None, Some(_)) => {
            *a = b;
            true
        }
        (Some(x), Some(y)) if y < x => {
            *a = b;
            true
        }
        _ => false,
    }
}

fn fill<T: Clone + PartialEq>(slot: &mut Option<T>, v: &Option<T>) -> bool {
    if slot.is_none() && v.is_some() {
        *slot = v.clone();
        true
    } else {
        false
    }
}

impl PipelineExec {
    pub fn new(account: &str, region: &str, pipeline: &str, execution_id: &str) -> Self {
        Self {
            account: account.to_owned(),
            region: region.to_owned(),
            pipeline: pipeline.to_owned(),
            execution_id: execution_id.to_owned(),
            ..Self::default()
        }
    }

    /// Applies one event; returns whether the state changed.
    pub fn apply(&mut self, ev: &Event) -> bool {
        let time = ev.meta().time;
        match ev {
            Event::PipelineExecution(e) => {
                let mut changed = later(&mut self.state, reg(&e.state, time));
                if e.state == "STARTED" || e.state == "RESUMED" {
                    changed |= earliest(&mut self.started_at, e.start_time.or(time));
                } else {
                    changed |= earliest(&mut self.started_at, e.start_time);
                }
                changed |= fill(&mut self.trigger, &e.trigger);
                if let Some(stage) = &e.failed_stage {
                    changed |= self.hint(stage, &e.failed_actions);
                }
                changed
            }
            Event::StageExecution(e) if !e.stage.is_empty() => {
                let rec = self.stages.entry(e.stage.clone()).or_default();
                let mut changed = later(&mut rec.state, reg(&e.state, time));
                changed |= earliest(&mut rec.first_seen, time);
                changed | self.hint(&e.stage, &e.failed_actions)
            }
            Event::StageExecution(_) => false,
            Event::ActionExecution(e) => {
                let stage = self.stages.entry(e.stage.clone()).or_default();
                let mut changed = earliest(&mut stage.first_seen, time);
                let rec = self
                    .actions
                    .entry(action_key(&e.stage, &e.action))
                    .or_insert_with(|| {
                        Box::new(ActionRec {
                            stage: e.stage.clone(),
                            action: e.action.clone(),
                            ..ActionRec::default()
                        })
                    });
                let newer = later(&mut rec.state, reg(&e.state, time));
                changed |= newer;
                if rec.provider.is_empty() && !e.provider.is_empty() {
                    rec.provider = super::name(&e.provider);
                    rec.category = super::name(&e.category);
                    changed = true;
                }
                // Details: the newest event's when it has them, else whatever arrived first.
                if newer {
                    for (slot, v) in [
                        (&mut rec.summary, &e.external_execution_summary),
                        (&mut rec.error_code, &e.error_code),
                    ] {
                        if v.is_some() && slot != v {
                            *slot = v.clone();
                        }
                    }
                }
                changed |= fill(&mut rec.summary, &e.external_execution_summary);
                changed |= fill(&mut rec.error_code, &e.error_code);
                changed |= fill(&mut rec.external_id, &e.external_execution_id);
                changed |= fill(&mut rec.url, &e.external_execution_url);
                changed |= fill(&mut rec.commit, &e.commit);
                changed
            }
            Event::BuildState(b) => {
                let rec = self.builds.entry(b.build_id.clone()).or_default();
                let mut changed = later(&mut rec.state, reg(&build_state(&b.state), time));
                changed |= fill(&mut rec.failed_phase, &b.failed_phase);
                changed |= fill(&mut rec.log_link, &b.log_link);
                changed |= fill(&mut rec.log_group, &b.log_group);
                changed |= fill(&mut rec.log_stream, &b.log_stream);
                changed
            }
            Event::BuildPhase(p) => {
                let rec = self.builds.entry(p.build_id.clone()).or_default();
                let mut changed = fill(&mut rec.log_link, &p.log_link);
                if p.phase_status != "SUCCEEDED" && p.phase != "COMPLETED" {
                    changed |= fill(
                        &mut rec.failed_phase,
                        &Some(event::PhaseOutcome {
                            phase: p.phase.clone(),
                            status: p.phase_status.clone(),
                            context: p.context.clone(),
                        }),
                    );
                }
                changed
            }
            Event::AlarmState(a) => super::verdict::observe(&mut self.watch.alarms, a),
            Event::ManualApproval(a) => {
                let rec = ApprovalRec {
                    time,
                    info: n::ApprovalInfo {
                        stage: a.stage.clone(),
                        action: a.action.clone(),
                        review_link: a.review_link.clone(),
                        expires: a.expires,
                        custom_data: a.custom_data.clone(),
                        external_link: a.external_link.clone(),
                        token: None,
                    },
                    token: Some(a.token.clone()).filter(|t| !t.is_empty()),
                };
                if self.approval.as_ref() == Some(&rec) {
                    return false;
                }
                // Two approval requests for one execution (a retried stage): keep the later.
                let keep_old = matches!(&self.approval, Some(old) if old.time > rec.time);
                if !keep_old {
                    self.approval = Some(rec);
                }
                !keep_old
            }
            _ => false,
        }
    }

    fn hint(&mut self, stage: &str, actions: &[event::FailedAction]) -> bool {
        use std::collections::btree_map::Entry;
        if actions.is_empty() {
            // Nothing to keep: no entry (an empty one cost a map node per execution).
            return false;
        }
        let mut changed = false;
        let stage = self.hints.entry(stage.to_owned()).or_default();
        for a in actions {
            match stage.entry(a.action.clone()) {
                Entry::Vacant(v) => {
                    v.insert(a.reason.clone());
                    changed = true;
                }
                Entry::Occupied(mut o) if o.get().is_none() && a.reason.is_some() => {
                    o.insert(a.reason.clone());
                    changed = true;
                }
                Entry::Occupied(_) => {}
            }
        }
        changed
    }

    /// The CodeBuild action a build joins by id, if any action reported it.
    pub fn has_build_action(&self, build_id: &str) -> bool {
        self.actions
            .values()
            .any(|a| a.external_id.as_deref() == Some(build_id))
    }

    fn pipeline_state(&self) -> Option<&str> {
        self.state.as_ref().map(|r| r.value.as_ref())
    }

    fn failed_stage(&self) -> Option<String> {
        let by_stage = self
            .stages
            .iter()
            .filter(|(_, s)| s.state.as_ref().is_some_and(|r| r.value == "FAILED"))
            .max_by_key(|(name, s)| (s.state.as_ref().and_then(|r| r.time), *name))
            .map(|(name, _)| name.clone());
        by_stage.or_else(|| {
            self.actions
                .values()
                .filter(|a| a.state.as_ref().is_some_and(|r| r.value == "FAILED"))
                .max_by_key(|a| (a.state.as_ref().and_then(|r| r.time), a.stage.clone()))
                .map(|a| a.stage.clone())
        })
    }

    /// It succeeded, and deployed: one of its actions is of the Deploy category.
    pub fn deployed(&self) -> bool {
        self.status().0 == status::SUCCEEDED
            && self.actions.values().any(|a| a.category == "Deploy")
    }

    /// The status, and whether it is final.
    pub fn status(&self) -> (&'static str, bool) {
        match self.pipeline_state() {
            Some("SUCCEEDED") => return (status::SUCCEEDED, true),
            Some("FAILED") => return (status::FAILED, true),
            Some("STOPPED") => return (status::STOPPED, true),
            Some("SUPERSEDED") => return (status::SUPERSEDED, true),
            Some("CANCELED") => return (status::CANCELED, true),
            _ => {}
        }
        // A stage FAILED with no retry after it fails the execution even when the
        // pipeline-level FAILED never arrives (a retry would be a later RESUMED).
        if self
            .stages
            .values()
            .any(|s| s.state.as_ref().is_some_and(|r| r.value == "FAILED"))
        {
            return (status::FAILED, true);
        }
        if self.approval_pending().is_some() {
            return (status::WAITING_FOR_APPROVAL, false);
        }
        let progressed = self
            .stages
            .values()
            .any(|s| s.state.as_ref().is_some_and(|r| r.value != "STARTED"))
            || self.stages.len() > 1;
        if progressed {
            (status::IN_PROGRESS, false)
        } else {
            (status::STARTED, false)
        }
    }

    /// The stage that deployed: the one of the latest Deploy action that succeeded.
    pub fn deploy_stage(&self) -> Option<&str> {
        self.actions
            .values()
            .filter(|a| a.category == "Deploy")
            .filter(|a| a.state.as_ref().is_some_and(|r| r.value == "SUCCEEDED"))
            .max_by_key(|a| a.state.as_ref().and_then(|r| r.time))
            .map(|a| a.stage.as_str())
    }

    /// The token of the approval waiting at `stage`/`action`, when its message said it.
    pub fn approval_token(&self, stage: &str, action: &str) -> Option<&str> {
        self.approval
            .as_ref()
            .filter(|a| a.info.stage == stage && a.info.action == action)
            .and_then(|a| a.token.as_deref())
    }

    /// While the execution waits for approval: when the request came (Unix seconds) and when
    /// it expires, as the approval message said.
    pub fn approval_waiting(&self) -> Option<(Option<i64>, Option<i64>)> {
        if self.status().0 != status::WAITING_FOR_APPROVAL {
            return None;
        }
        let (info, asked) = self.approval_pending()?;
        Some((
            asked.map(|t| t.timestamp()),
            info.expires.map(|t| t.timestamp()),
        ))
    }

    /// The approval waiting, and when it was asked: the approval message's, while its action
    /// has not ended; or else a Manual approval action STARTED and not ended (its event always
    /// comes; the SNS message is optional).
    fn approval_pending(&self) -> Option<(n::ApprovalInfo, Option<DateTime<Utc>>)> {
        let ended = |stage: &str, action: &str| {
            self.actions
                .get(&action_key(stage, action))
                .and_then(|r| r.state.as_ref())
                .is_some_and(|r| terminal(&r.value))
        };
        if let Some(a) = &self.approval {
            if !ended(&a.info.stage, &a.info.action) {
                let mut info = a.info.clone();
                info.token = a.token.clone();
                return Some((info, a.time));
            }
        }
        self.actions
            .values()
            .filter(|a| a.category == "Approval" && a.provider == "Manual")
            .filter_map(|a| a.state.as_ref().map(|r| (a, r)))
            .filter(|(_, r)| r.value == "STARTED")
            .max_by_key(|(a, r)| (r.time, a.stage.clone()))
            .map(|(a, r)| {
                (
                    n::ApprovalInfo {
                        stage: a.stage.clone(),
                        action: a.action.clone(),
                        ..Default::default()
                    },
                    r.time,
                )
            })
    }

    fn commit(&self) -> Option<n::Commit> {
        let from_source = self
            .actions
            .values()
            .filter(|a| a.category == "Source")
            .find_map(|a| a.commit.clone());
        let from_trigger = self.trigger.as_ref().and_then(|t| t.commit.clone());
        let c = match (from_source, from_trigger) {
            (Some(mut s), Some(t)) => {
                s.author = s.author.or(t.author);
                s.author_email = s.author_email.or(t.author_email);
                s.branch = s.branch.or(t.branch);
                s.message = s.message.or(t.message);
                s
            }
            (s, t) => s.or(t)?,
        };
        // The repository stays with the thread (enrichment finds the author by it); the
        // notification tells the revision.
        Some(n::Commit {
            repository: None,
            ..c
        })
    }

    /// How a stage ended by its actions: `FAILED` if one failed, `SUCCEEDED` if every one
    /// (at least one) succeeded; `None` while that is not known.
    fn stage_from_actions(&self, stage: &str) -> Option<&'static str> {
        let mut any = false;
        let mut all_succeeded = true;
        for a in self.actions.values().filter(|a| a.stage == stage) {
            any = true;
            match a.state.as_ref().map(|r| r.value.as_ref()) {
                Some("FAILED") => return Some(status::FAILED),
                Some("SUCCEEDED") => {}
                _ => all_succeeded = false,
            }
        }
        (any && all_succeeded).then_some(status::SUCCEEDED)
    }

    pub fn notification(&self) -> Notification {
        let (st, is_final) = self.status();
        let succeeded = st == status::SUCCEEDED;
        let mut stages: Vec<(&String, &StageRec)> =
            self.stages.iter().map(|(k, v)| (k, &**v)).collect();
        stages.sort_by(|a, b| (a.1.first_seen, a.0).cmp(&(b.1.first_seen, b.0)));
        let stages = stages
            .into_iter()
            .filter(|(name, _)| !name.is_empty())
            .map(|(name, s)| n::StageInfo {
                name: name.clone(),
                // A succeeded execution succeeded in every stage, whatever events are late.
                status: if succeeded {
                    status::SUCCEEDED.to_owned()
                } else {
                    let own = s.state.as_ref().map(|r| r.value.as_ref());
                    match own {
                        Some(v) if terminal(v) => v.to_owned(),
                        // An execution that ended while a stage's own end never arrived: the
                        // stage ended as its actions did (no stage events at all is common).
                        _ if is_final => self
                            .stage_from_actions(name)
                            .unwrap_or(own.unwrap_or("STARTED"))
                            .to_owned(),
                        _ => own.unwrap_or("STARTED").to_owned(),
                    }
                },
            })
            .collect();
        let failure = (st == status::FAILED).then(|| self.failure());
        let finished_at = if is_final {
            self.state
                .as_ref()
                .filter(|r| terminal(&r.value))
                .and_then(|r| r.time)
                .or_else(|| {
                    self.stages
                        .values()
                        .filter_map(|s| s.state.as_ref())
                        .filter(|r| r.value == "FAILED")
                        .filter_map(|r| r.time)
                        .max()
                })
        } else {
            None
        };
        let trigger = self.trigger.as_ref().and_then(|t| t.trigger_type.clone());
        let (alarms, verdict) = if self.watch.is_empty() {
            (Vec::new(), None)
        } else {
            self.watch.judge(
                self.started_at.map(|t| t.timestamp()),
                finished_at.map(|t| t.timestamp()),
                self.deployed(),
            )
        };
        let region = &self.region;
        // Built by hand, not with format!: this runs on every change of every execution.
        let mut url = String::with_capacity(128 + 2 * region.len() + self.pipeline.len());
        for part in [
            "https://",
            region,
            ".console.aws.amazon.com/codesuite/codepipeline/pipelines/",
            &self.pipeline,
            "/executions/",
            &self.execution_id,
            "/timeline?region=",
            region,
        ] {
            url.push_str(part);
        }
        let mut links = vec![n::Link {
            label: "execution".into(),
            url,
        }];
        for (id, b) in &self.builds {
            if let Some(url) = &b.log_link {
                links.push(n::Link {
                    label: format!("build log {id}"),
                    url: url.clone(),
                });
            }
        }
        Notification {
            pipeline: Some(self.pipeline.clone()),
            execution_id: Some(self.execution_id.clone()),
            title: self.pipeline.clone(),
            started_at: self.started_at,
            finished_at,
            duration_secs: match (self.started_at, finished_at) {
                (Some(a), Some(b)) if b >= a => Some((b - a).num_seconds()),
                _ => None,
            },
            trigger,
            commit: self.commit(),
            stages,
            failure,
            approval: (st == status::WAITING_FOR_APPROVAL)
                .then(|| self.approval_pending().map(|(info, _)| info))
                .flatten(),
            links,
            alarms,
            verdict,
            ..Notification::new(
                n::Kind::Pipeline,
                st,
                is_final,
                &self.account,
                region,
                String::new(),
            )
        }
    }

    fn failure(&self) -> n::Failure {
        let stage = self.failed_stage();
        let mut actions: BTreeMap<String, n::FailedActionInfo> = BTreeMap::new();
        for a in self.actions.values() {
            let failed = a.state.as_ref().is_some_and(|r| r.value == "FAILED");
            if !failed || stage.as_deref().is_some_and(|s| s != a.stage) {
                continue;
            }
            let build = a.external_id.as_deref().and_then(|id| self.builds.get(id));
            // CodeBuild's phase context names the failing command; prefer it to the summary.
            let build_reason = build
                .and_then(|b| b.failed_phase.as_ref())
                .and_then(|p| p.context.clone());
            actions.insert(
                a.action.clone(),
                n::FailedActionInfo {
                    action: a.action.clone(),
                    provider: (!a.provider.is_empty()).then(|| a.provider.to_string()),
                    reason: build_reason.or_else(|| a.summary.clone()),
                    error_code: a.error_code.clone(),
                    external_id: a.external_id.clone(),
                    url: a.url.clone(),
                    log_url: build.and_then(|b| b.log_link.clone()),
                    log_tail: Vec::new(),
                    log_region: None,
                    ..Default::default()
                },
            );
        }
        // Builds joined by time (V1 events carry no build id on the action) explain the one
        // CodeBuild action of the failed stage.
        let unclaimed: Vec<(&String, &BuildRec)> = self
            .builds
            .iter()
            .map(|(id, b)| (id, &**b))
            .filter(|(id, b)| {
                b.state.as_ref().is_some_and(|r| r.value == "FAILED")
                    && !self
                        .actions
                        .values()
                        .any(|a| a.external_id.as_deref() == Some(id.as_str()))
            })
            .collect();
        if let Some((id, b)) = unclaimed.first() {
            if let Some(a) = actions
                .values_mut()
                .find(|a| a.provider.as_deref() == Some("CodeBuild") && a.external_id.is_none())
            {
                a.external_id = Some((*id).clone());
                if let Some(ctx) = b.failed_phase.as_ref().and_then(|p| p.context.clone()) {
                    a.reason = Some(ctx);
                }
                a.log_url = a.log_url.take().or_else(|| b.log_link.clone());
            }
        }
        if let Some(hints) = stage.as_ref().and_then(|s| self.hints.get(s)) {
            for (action, reason) in hints {
                let entry = actions
                    .entry(action.clone())
                    .or_insert_with(|| n::FailedActionInfo {
                        action: action.clone(),
                        ..n::FailedActionInfo::default()
                    });
                if entry.reason.is_none() {
                    entry.reason = reason.clone();
                }
                if entry.external_id.is_none() {
                    entry.external_id = reason.as_deref().and_then(deployment_id_in);
                }
            }
        }
        n::Failure {
            stage,
            actions: actions.into_values().collect(),
            reason: None,
        }
    }
}

/// CodeBuild build states in the pipeline state vocabulary.
fn build_state(s: &str) -> String {
    match s {
        "IN_PROGRESS" => "STARTED".into(),
        "FAULT" | "TIMED_OUT" => "FAILED".into(),
        other => other.to_owned(),
    }
}

/// `Deployment d-C3XYEM1QF failed` -> `d-C3XYEM1QF`.
fn deployment_id_in(s: &str) -> Option<String> {
    s.split_whitespace()
        .find(|w| w.starts_with("d-") && w.len() > 4)
        .map(str::to_owned)
}
