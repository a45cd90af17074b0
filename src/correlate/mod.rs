//! Correlation: events become per-thread state, and thread state becomes notifications.
//!
//! The pure core is here and in the state machines ([`pipeline`], [`ecs`], [`alarm`],
//! [`standalone`]): `Thread::apply(&Event) -> bool` and `Thread::notification()`, no I/O and no
//! clock. [`engine`] does the I/O: cache, store, conditional writes, pointer items.

pub mod act;
pub mod alarm;
pub mod cache;
pub mod codec;
pub mod ecs;
pub mod engine;
pub mod health;
pub mod pipeline;
pub mod pointer;
pub mod scaling;
pub mod service;
pub mod standalone;
pub mod verdict;

use crate::event::Event;
use crate::notification::MessageRef;
use crate::notification::Notification;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A value with the time and rank of the event that set it. The register keeps the latest
/// (time, rank): commutative and idempotent, so arrival order and duplicates do not matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reg {
    #[serde(deserialize_with = "de_name")]
    pub value: Name,
    pub time: Option<DateTime<Utc>>,
    pub rank: u8,
}

/// A name AWS sends from a small set (states, action providers and categories): the known
/// ones are static, anything else is owned. A thread keeps many of them and an event brings
/// one or two, and each known one saves an allocation, kept or passing.
pub type Name = std::borrow::Cow<'static, str>;

/// `s` as a [`Name`]: static when it is one of the known names.
pub fn name(s: &str) -> Name {
    macro_rules! known {
        ($($k:literal)*) => {
            match s {
                $($k => Name::Borrowed($k),)*
                _ => Name::Owned(s.to_owned()),
            }
        };
    }
    known!(
        // Pipeline, stage, action, build and deployment states.
        "STARTED" "SUCCEEDED" "FAILED" "STOPPED" "STOPPING" "SUPERSEDED" "CANCELED" "ABANDONED"
        "RESUMED" "IN_PROGRESS" "READY" "CREATED" "QUEUED" "TIMED_OUT" "FAULT"
        "SUCCESS" "FAILURE" ""
        // Action categories.
        "Source" "Build" "Test" "Deploy" "Approval" "Invoke" "Compute"
        // Action providers.
        "CodeBuild" "CodeCommit" "CodeStarSourceConnection" "S3" "ECR" "CodeDeploy" "ECS"
        "CodeDeployToECS" "CloudFormation" "CloudFormationStackSet" "Manual" "Lambda"
        "StepFunctions" "ElasticBeanstalk" "GitHub" "Commands"
    )
}

fn de_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
    let s = String::deserialize(d)?;
    Ok(match name(&s) {
        Name::Borrowed(k) => Name::Borrowed(k),
        Name::Owned(_) => Name::Owned(s),
    })
}

/// Sets `slot` to `new` if `new` is later by (time, rank, value); true if it changed.
pub fn later(slot: &mut Option<Reg>, new: Reg) -> bool {
    let replace = match slot {
        None => true,
        Some(old) => (new.time, new.rank, &new.value) > (old.time, old.rank, &old.value),
    };
    if replace {
        *slot = Some(new);
    }
    replace
}

/// What a stored item holds. Variants differ in size, but a body lives once per cached thread
/// and is (de)serialised whole, so boxing the large ones would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    /// Boxed: the largest body by far, and a thread must stay small enough that creating one
    /// is a small allocation (see the README's performance notes).
    Pipeline(Box<pipeline::PipelineExec>),
    /// Boxed, as the larger bodies are: a thread stays a small allocation.
    Ecs(Box<ecs::EcsDeploy>),
    /// An ECS service's crash episodes (`es#account#region#cluster#service`).
    EcsService(service::EcsService),
    /// A change of an ECS service's desired count (`sc#account#region#cluster#service#call`).
    EcsScaling(scaling::EcsScaling),
    /// An AWS Health event (`hl#event-arn`).
    Health(health::HealthEvent),
    /// Health issues and ECS deployments of an account and region (`ah#account#region`).
    HealthBoard(health::HealthBoard),
    Alarm(alarm::AlarmEpisodes),
    Build(standalone::Build),
    Deployment(standalone::Deployment),
    PipelinePointer(PipelinePointer),
    ServicePointer(Box<ServicePointer>),
    /// A CodeDeploy deployment group's deployments (`dg#account#region#application#group`).
    GroupPointer(verdict::GroupPointer),
}

impl Body {
    /// The verdict part of a deployment's thread.
    fn watch_mut(&mut self) -> Option<&mut verdict::Watch> {
        match self {
            Body::Ecs(e) => Some(&mut e.watch),
            Body::Deployment(d) => Some(&mut d.watch),
            Body::Pipeline(p) => Some(&mut p.watch),
            _ => None,
        }
    }
}

/// Where a thread's chat message is at one destination, and what it shows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeliveryRec {
    /// The provider's reference, once posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageRef>,
    /// The notification `seq` the message shows.
    #[serde(default)]
    pub seq: u64,
}

/// The right to deliver a thread's messages, held by one worker at a time so that edits reach
/// the provider in order and a message is posted once. Taken in the same write as the change
/// that needs delivering, released by the write that records the delivery; a dead holder's
/// lease simply expires and the next worker to look takes over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub owner: String,
    /// Unix seconds.
    pub until: i64,
}

/// One stored item: a thread (or a pointer) and its delivery bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    pub body: Body,
    /// Bumped each time the notification's content changes.
    #[serde(default)]
    pub seq: u64,
    #[serde(default)]
    pub note_hash: u64,
    /// When (processing time, unix seconds) the notification first became final: the settle
    /// window runs from here.
    #[serde(default)]
    pub final_since: Option<i64>,
    #[serde(default)]
    pub deliveries: BTreeMap<String, DeliveryRec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// What enrichment fetched for this thread (log tail, diagnostics, commit author), kept so
    /// a redelivery or another worker does not call the AWS APIs again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<Box<crate::notification::enrichment::Enrichment>>,
    /// The time of the newest event applied (Unix seconds, the events' own clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heard: Option<i64>,
    /// When (processing time) an event last changed the thread: stall timeouts run from here,
    /// so a backlog of old events is not taken for silence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heard_at: Option<i64>,
    /// Set by a timer when the thread, not final, heard nothing for its kind's stall timeout
    /// (processing time since `heard_at`): the time of its last event. The next event clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled_since: Option<i64>,
    /// When it became stalled: `heard_at` plus the stall timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled_at: Option<i64>,
    /// Approval reminders told: (due, kind, what it was reckoned from: the request's time
    /// for `Waiting`, its expiry for `Expiring`), Unix seconds. A reminder is told once, and a
    /// new approval request (a retried stage) has its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reminded: Vec<(i64, ReminderKind, i64)>,
    /// When a timer's delivery that failed is tried again (a timer has no source message to be
    /// received again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<i64>,
    /// When the thread asks to be woken (Unix seconds): its durable timer, kept in the store
    /// with the thread (DynamoDB: the sparse `wake` index). See [`Thread::plan_wake`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake: Option<i64>,
    /// The settle window's timer fired (see [`Timing::settle_secs`]): from then on a claimed
    /// delivery of the final message is checked again when its claim runs out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settled: bool,
    /// What people did from the thread's message (see [`act`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acted: Vec<act::ActRec>,
}

/// The timeouts that wake threads, from the config (`[correlate] pipeline_stall_secs`,
/// `[ecs] deployment_stall_secs`); 0 turns a kind's stall alert off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    pub pipeline_stall_secs: i64,
    pub ecs_stall_secs: i64,
    /// An approval still waiting this long after it was asked is reminded of (0: never).
    pub approval_remind_secs: i64,
    /// This many crashes of a service's tasks within `crash_loop_window_secs` are a crash
    /// loop (`[ecs]`; 0: never).
    pub crash_loop_count: u32,
    pub crash_loop_window_secs: i64,
    /// A crashed service recovered when no crash followed its steady state for this long.
    pub recovered_after_secs: i64,
    /// A final message waits this long for late events (`[correlate] settle_secs`); its
    /// timer tells it then, whoever is alive. `None`: no settle timers (the in-process store:
    /// one process, whose runner tells it, and whose source messages wait for it).
    pub settle_secs: Option<i64>,
    /// How long after an ECS deployment succeeded the alarms watching its service are
    /// watched for its verdict (`[verdicts] watch_secs`; 0: no verdicts).
    pub watch_secs: i64,
    /// The pipelines `[[verdicts.watch]]` rules name: their executions that deploy are watched
    /// too (a pipeline no rule names has no alarm to judge it by).
    pub watched_pipelines: Vec<String>,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            pipeline_stall_secs: 3600,
            ecs_stall_secs: 1800,
            approval_remind_secs: 4 * 3600,
            crash_loop_count: 3,
            crash_loop_window_secs: 900,
            recovered_after_secs: 300,
            settle_secs: Some(5),
            watch_secs: 900,
            watched_pipelines: Vec::new(),
        }
    }
}

/// An approval is reminded of this long before it expires (CodePipeline's approvals expire
/// after 7 days).
pub const EXPIRY_REMINDER_SECS: i64 = 86_400;

/// Which approval reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    /// Still waiting `approval_remind_secs` after it was asked.
    Waiting,
    /// It expires within a day.
    Expiring,
}

/// Reminders kept per thread at most (the oldest go first).
const REMINDED_KEPT: usize = 4;

/// What a timer's firing did to its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// The thread heard nothing for its stall timeout: now marked stalled.
    Stalled,
    /// A stalled thread's delivery was checked again (its worker may have died before it).
    Recheck,
    /// An approval still waiting: reminded of.
    Reminder,
    /// A crashed ECS service stayed steady for `recovered_after_secs`: the episode is over.
    Recovered,
    /// A service pointer's held crashes stopped waiting for their deployment.
    Released,
    /// A final thread's settle window ended: its final message is told.
    Settled,
    /// A deployment's watch window ended: its verdict is told.
    Watched,
    /// An alarm held for a deployment whose end never came is told after all.
    HoldOver,
    /// Woken early (events came meanwhile): the timer moved to the new due time.
    Early,
}

impl Fired {
    pub fn as_str(self) -> &'static str {
        match self {
            Fired::Stalled => "stall",
            Fired::Recheck => "recheck",
            Fired::Reminder => "reminder",
            Fired::Recovered => "recovered",
            Fired::Released => "released",
            Fired::Settled => "settle",
            Fired::Watched => "watched",
            Fired::HoldOver => "hold_over",
            Fired::Early => "early",
        }
    }
}

impl Thread {
    pub fn new(body: Body) -> Self {
        Self {
            body,
            seq: 0,
            note_hash: 0,
            final_since: None,
            deliveries: BTreeMap::new(),
            lease: None,
            enrichment: None,
            heard: None,
            heard_at: None,
            stalled_since: None,
            stalled_at: None,
            reminded: Vec::new(),
            retry_at: None,
            wake: None,
            settled: false,
            acted: Vec::new(),
        }
    }

    /// This thread's stall timeout, if its kind has one.
    fn stall_secs(&self, timing: &Timing) -> Option<i64> {
        let secs = match &self.body {
            // Waiting for a person is not a stall (reminders are for that).
            Body::Pipeline(p)
                if p.status().0 == crate::notification::status::WAITING_FOR_APPROVAL =>
            {
                0
            }
            Body::Pipeline(_) => timing.pipeline_stall_secs,
            // Only a deployment ECS told of: a thread that heard only of its tasks (a crash,
            // a scale-in) is no deployment in progress, and its silence is no news.
            // One ECS told of, or an API call started (whose events may never come).
            Body::Ecs(e) if e.started_at.is_some() || e.call.is_some() => timing.ecs_stall_secs,
            Body::EcsScaling(_) => timing.ecs_stall_secs,
            _ => 0,
        };
        (secs > 0).then_some(secs)
    }

    /// When the thread should be woken, given what it is now: its stall time while it is not
    /// final and not stalled; while a stalled thread's delivery is claimed, just after the
    /// claim runs out (so a worker that died before telling it is followed by another). A
    /// timer already set earlier is kept (a timer that fires early moves itself), so the
    /// stored timer, and DynamoDB's index of it, is written about once per thread rather than
    /// once per event. That also keeps this cheap on the hot path: a thread that still may
    /// stall and has a timer keeps it without working out its stall time (for a pipeline, its
    /// status), which is done when it has none.
    pub fn plan_wake(&mut self, timing: &Timing) {
        let stall = match (self.final_since, self.stalled_since, self.heard_at) {
            (None, None, Some(_)) if self.wake.is_some() => self.wake,
            (None, None, Some(at)) => self.stall_secs(timing).map(|s| at.saturating_add(s)),
            _ => None,
        };
        let recheck = match (&self.lease, self.stalled_since, self.final_since) {
            (Some(l), Some(_), None) => Some(l.until.saturating_add(TAKEOVER_GRACE_SECS)),
            (Some(l), _, Some(_)) if self.settled => {
                Some(l.until.saturating_add(TAKEOVER_GRACE_SECS))
            }
            _ => None,
        };
        // The final message, once its settle window is over: told by whoever is alive then,
        // so no source message waits unacknowledged for it.
        let settle = match (self.final_since, timing.settle_secs) {
            (Some(f), Some(secs)) if !self.settled => Some(f.saturating_add(secs)),
            _ => None,
        };
        let remind = self.next_reminder(timing).map(|(due, _, _)| due);
        let recover = self.recovery_due(timing);
        let hold = match &self.body {
            Body::ServicePointer(p) => p.hold_due(),
            Body::Alarm(a) if a.holding() => self
                .heard_at
                .map(|h| h.saturating_add(alarm::MAX_HOLD_SECS)),
            _ => self.watch_due(),
        };
        let want = [stall, recheck, settle, remind, recover, hold, self.retry_at]
            .into_iter()
            .flatten()
            .min();
        self.wake = match (self.wake, want) {
            (Some(w), Some(d)) if w <= d => Some(w),
            (_, d) => d,
        };
    }

    /// The next approval reminder not yet told, while an approval waits: `approval_remind_secs`
    /// after it was asked (the approval message, or else its Manual approval action's start),
    /// and [`EXPIRY_REMINDER_SECS`] before it expires (known from the message only).
    fn next_reminder(&self, timing: &Timing) -> Option<(i64, ReminderKind, i64)> {
        let Body::Pipeline(p) = &self.body else {
            return None;
        };
        if self.final_since.is_some() {
            return None;
        }
        let (asked, expires) = p.approval_waiting()?;
        let waiting = asked.filter(|_| timing.approval_remind_secs > 0).map(|a| {
            let due = a.saturating_add(timing.approval_remind_secs);
            (due, ReminderKind::Waiting, a)
        });
        let expiring = expires.map(|e| {
            let due = e.saturating_sub(EXPIRY_REMINDER_SECS);
            (due, ReminderKind::Expiring, e)
        });
        [waiting, expiring]
            .into_iter()
            .flatten()
            .filter(|r| !self.reminded.contains(r))
            .min_by_key(|(due, _, _)| *due)
    }

    /// When a crashed ECS service that reached a steady state is taken as recovered: when it
    /// has heard nothing new (no crash) for `recovered_after_secs` (processing time, as stalls).
    fn recovery_due(&self, timing: &Timing) -> Option<i64> {
        match (&self.body, self.heard_at) {
            (Body::EcsService(s), Some(at)) if s.recovering() => {
                Some(at.saturating_add(timing.recovered_after_secs))
            }
            _ => None,
        }
    }

    /// A timer's firing at `now` (pure: the time is a parameter). Marks the thread stalled when
    /// it heard nothing for its stall timeout; either way the timer is spent, and the write
    /// that follows plans the next one. `None` when the timer is not due.
    pub fn tick(&mut self, now: i64, timing: &Timing) -> Option<Fired> {
        if self.wake.is_none_or(|w| w > now) {
            return None;
        }
        self.wake = None;
        let retry = self.retry_at.is_some_and(|r| r <= now);
        if retry {
            self.retry_at = None;
        }
        if let Some(r) = self.next_reminder(timing).filter(|(due, _, _)| *due <= now) {
            if self.reminded.len() >= REMINDED_KEPT {
                self.reminded.remove(0);
            }
            self.reminded.push(r);
            return Some(Fired::Reminder);
        }
        if let (Some(f), Some(secs)) = (
            self.final_since.filter(|_| !self.settled),
            timing.settle_secs,
        ) {
            if f.saturating_add(secs) <= now {
                self.settled = true;
                return Some(Fired::Settled);
            }
        }
        if let (Body::Alarm(a), Some(h)) = (&mut self.body, self.heard_at) {
            if a.holding() && h.saturating_add(alarm::MAX_HOLD_SECS) <= now {
                a.hold_over = true;
                return Some(Fired::HoldOver);
            }
        }
        if self.watch_due().is_some_and(|d| d <= now) {
            if let Some(w) = self.body.watch_mut() {
                w.watched = true;
                return Some(Fired::Watched);
            }
        }
        if self.recovery_due(timing).is_some_and(|d| d <= now) {
            if let Body::EcsService(s) = &mut self.body {
                if s.recover() {
                    return Some(Fired::Recovered);
                }
            }
        }
        if self.stalled_since.is_some() || retry || (self.settled && self.final_since.is_some()) {
            // A claim that ran out (its worker died, or found nothing to send) is dropped, so
            // the timer is not set again at its end, now past; whoever delivers takes a new one.
            if self
                .lease
                .as_ref()
                .is_some_and(|l| l.until.saturating_add(TAKEOVER_GRACE_SECS) <= now)
            {
                self.lease = None;
            }
            return Some(Fired::Recheck);
        }
        let due = self
            .heard_at
            .zip(self.stall_secs(timing))
            .map(|(at, secs)| at.saturating_add(secs));
        if self.final_since.is_none() && due.is_some_and(|d| d <= now) {
            self.stalled_since = self.heard.or(self.heard_at);
            self.stalled_at = due;
            return Some(Fired::Stalled);
        }
        Some(Fired::Early)
    }

    /// Notes an event's time: a newer one is news, and clears a stall.
    fn hear(&mut self, ev: &Event) -> bool {
        let Some(t) = ev.meta().time.map(|t| t.timestamp()) else {
            return false;
        };
        let before = self.heard;
        if before.is_some_and(|h| h >= t) {
            return false;
        }
        self.heard = Some(t);
        self.stalled_at = None;
        // News worth a write of its own (an event that changed nothing else): a cleared stall,
        // or the first word in a while; a closer one rides along with the next write.
        self.stalled_since.take().is_some() || before.is_none_or(|h| t - h >= HEARD_WRITE_SECS)
    }

    /// Whether `owner` may deliver now: it holds the lease, or nobody holds a live one. Another
    /// worker's lease is taken over [`TAKEOVER_GRACE_SECS`] after it ran out, not at once.
    pub fn lease_free_for(&self, owner: &str, now: i64) -> bool {
        match &self.lease {
            Some(l) => l.owner == owner || l.until.saturating_add(TAKEOVER_GRACE_SECS) <= now,
            None => true,
        }
    }

    /// Whether a destination's message is marked [`engine::UNSURE`]: edited by a worker
    /// whose record of it lost a race.
    pub fn unsure(&self) -> bool {
        self.deliveries
            .values()
            .any(|r| r.message.is_some() && r.seq == engine::UNSURE)
    }

    /// Whether `destination`'s message is missing or behind the notification.
    pub fn is_behind(&self, destination: &str) -> bool {
        match self.deliveries.get(destination) {
            Some(r) => r.message.is_none() || r.seq < self.seq,
            None => true,
        }
    }

    /// Applies an event to the thread's state machine; true if the state changed.
    /// [`Thread::apply`] at processing time `now` (a parameter: this stays pure), which a
    /// change records as the last news of the thread.
    pub fn apply_at(&mut self, ev: &Event, now: i64, timing: &Timing) -> bool {
        let changed = self.apply(ev, timing);
        if changed && self.own_news(ev) {
            self.heard_at = Some(now);
        }
        changed
    }

    pub fn apply(&mut self, ev: &Event, timing: &Timing) -> bool {
        let cleared = match self.body {
            Body::PipelinePointer(_)
            | Body::ServicePointer(_)
            | Body::HealthBoard(_)
            | Body::GroupPointer(_) => false,
            _ if !self.own_news(ev) => false,
            _ => self.hear(ev),
        };
        cleared | self.apply_body(ev, timing)
    }

    fn apply_body(&mut self, ev: &Event, timing: &Timing) -> bool {
        match &mut self.body {
            Body::Pipeline(p) => {
                // Watched when a `[[verdicts.watch]]` rule names the pipeline.
                if p.watch.watch_secs.is_none() && timing.watched_pipelines.contains(&p.pipeline) {
                    p.watch.watch_secs = Some(timing.watch_secs);
                }
                p.apply(ev)
            }
            Body::Ecs(e) => {
                // Kept with the deployment: its message says what window it is watched for.
                e.watch.watch_secs = Some(timing.watch_secs);
                e.apply(ev)
            }
            Body::EcsScaling(s) => s.apply(ev),
            Body::Health(h) => h.apply(ev),
            Body::EcsService(s) => {
                let episode = s.episode;
                let changed = s.apply(ev, timing);
                if s.episode != episode {
                    // A new episode is a new chat message.
                    self.deliveries.clear();
                    self.final_since = None;
                    self.settled = false;
                }
                changed
            }
            Body::Alarm(a) => {
                let episode = a.episode;
                let changed = a.apply(ev);
                if a.episode != episode {
                    // A new episode is a new chat message.
                    self.deliveries.clear();
                    self.final_since = None;
                    self.settled = false;
                }
                changed
            }
            Body::Build(b) => b.apply(ev),
            Body::Deployment(d) => {
                d.watch.watch_secs = Some(timing.watch_secs);
                d.apply(ev)
            }
            Body::PipelinePointer(_)
            | Body::ServicePointer(_)
            | Body::HealthBoard(_)
            | Body::GroupPointer(_) => false,
        }
    }

    /// When its watch window's timer fires (a deployment that succeeded; see
    /// [`verdict::Watch::due`]).
    fn watch_due(&self) -> Option<i64> {
        let f = self.final_since;
        match &self.body {
            Body::Ecs(e) => e.watch.due(f, e.succeeded()),
            Body::Deployment(d) => d.watch.due(f, d.succeeded()),
            Body::Pipeline(p) if !p.watch.is_empty() => p.watch.due(f, p.deployed()),
            _ => None,
        }
    }

    /// Whether `ev` is news of the thread itself, not something it is told of another's (an
    /// alarm or a Health issue on a deployment, a deployment on an alarm): only its own news
    /// clears a stall or restarts its stall timer.
    fn own_news(&self, ev: &Event) -> bool {
        match ev {
            Event::AlarmState(_) => matches!(self.body, Body::Alarm(_)),
            Event::Health(_) => matches!(self.body, Body::Health(_)),
            Event::DeployLink(_) => false,
            _ => true,
        }
    }

    pub fn notification(&self) -> Option<Notification> {
        let mut note = match &self.body {
            Body::Pipeline(p) => p.notification(),
            Body::Ecs(e) => e.notification(),
            Body::EcsService(s) => s.notification(),
            Body::EcsScaling(s) => s.notification(),
            Body::Health(h) => h.notification(),
            // Nothing heard of the alarm itself yet (only of deployments near it).
            Body::Alarm(a) if a.episode == 0 => return None,
            Body::Alarm(a) => a.notification(),
            Body::Build(b) => b.notification(),
            Body::Deployment(d) => d.notification(),
            Body::PipelinePointer(_)
            | Body::ServicePointer(_)
            | Body::HealthBoard(_)
            | Body::GroupPointer(_) => return None,
        };
        if let (Some(&(due, kind, basis)), Body::Pipeline(p)) = (self.reminded.last(), &self.body) {
            if let Some((asked, expires)) = p.approval_waiting() {
                // Only the reminder of the approval waiting now (not an earlier request's).
                let current = match kind {
                    ReminderKind::Waiting => asked == Some(basis),
                    ReminderKind::Expiring => expires == Some(basis),
                };
                if current {
                    note.reminder = Some(crate::notification::Reminder {
                        kind: match kind {
                            ReminderKind::Waiting => "waiting",
                            ReminderKind::Expiring => "expiring",
                        }
                        .into(),
                        waiting_secs: asked.map(|a| due - a),
                        expires: expires.and_then(|e| DateTime::from_timestamp(e, 0)),
                        due,
                    });
                }
            }
        }
        if let Some(since) = self.stalled_since.filter(|_| !note.is_final) {
            note.stalled = true;
            note.stalled_since = DateTime::from_timestamp(since, 0);
            note.stalled_for_secs = self.stalled_at.zip(self.heard_at).map(|(s, h)| s - h);
        }
        if let Some((m, earlier)) = act::muted(&note, &self.acted) {
            if earlier && note.held.is_none() {
                note.held = Some(crate::notification::Held {
                    reason: "muted".into(),
                    deployment_id: String::new(),
                });
            }
            note.muted = Some(m);
        }
        note.acted = act::taken(&self.acted);
        note.actions = act::offers(&note, &self.acted);
        Some(note)
    }

    /// After applying events: bump `seq` if the notification's content changed, and note when
    /// it first became final. Returns the new notification when it changed, so callers need not
    /// build it again. `now` is processing time (unix seconds), a parameter so this stays pure.
    pub fn refresh(&mut self, now: i64) -> Option<Notification> {
        let note = self.notification()?;
        let hash = {
            use std::hash::{Hash, Hasher};
            let mut h = Fnv::default();
            note.hash(&mut h);
            h.finish()
        };
        if note.is_final && self.final_since.is_none() {
            self.final_since = Some(now);
        }
        if hash == self.note_hash {
            return None;
        }
        self.note_hash = hash;
        self.seq += 1;
        Some(note)
    }

    /// The chat message id of the thread's current message (alarms: one per episode).
    pub fn message_id(&self, key: &str) -> String {
        match &self.body {
            Body::Alarm(a) => format!("{key}#{}", a.episode),
            Body::EcsService(s) => format!("{key}#{}", s.episode),
            _ => key.to_owned(),
        }
    }
}

/// A stable content hash of the notification (std's default hasher is randomly seeded, and
/// workers of different processes share the stored hash): FNV-1a's step over 8-byte words,
/// with a shift after each multiply so every input bit reaches the low bits too. Words go to
/// four lanes in turn, so the multiplies of neighbouring words do not wait on each other; the
/// notification is hashed on every change.
struct Fnv {
    lanes: [u64; 4],
    words: u64,
}

const FNV_PRIME: u64 = 0x100000001b3;

impl Default for Fnv {
    fn default() -> Self {
        let o = 0xcbf29ce484222325;
        Fnv {
            lanes: [
                o,
                o ^ 0x9e37_79b9_7f4a_7c15,
                o.rotate_left(16),
                o.rotate_left(32),
            ],
            words: 0,
        }
    }
}

fn fnv_mix(h: u64, word: u64) -> u64 {
    let h = (h ^ word).wrapping_mul(FNV_PRIME);
    h ^ (h >> 29)
}

impl Fnv {
    fn step(&mut self, word: u64) {
        let lane = &mut self.lanes[(self.words & 3) as usize];
        *lane = fnv_mix(*lane, word);
        self.words += 1;
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        let [a, b, c, d] = self.lanes;
        fnv_mix(fnv_mix(fnv_mix(fnv_mix(a, b), c), d), self.words)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.step(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        // The length tells "ab" from "ab\0".
        self.step(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
    }
    fn write_u8(&mut self, i: u8) {
        self.step(u64::from(i) | 1 << 59);
    }
    fn write_u32(&mut self, i: u32) {
        self.step(u64::from(i) | 4 << 59);
    }
    fn write_u64(&mut self, i: u64) {
        self.step(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// An execution as the pipeline pointer knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRef {
    pub execution_id: String,
    pub started: Option<DateTime<Utc>>,
    pub state: Option<Reg>,
}

/// A CodeBuild action of some execution, and the build it ran once known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildAction {
    pub execution_id: String,
    pub action: String,
    pub started: Option<DateTime<Utc>>,
    pub build_id: Option<String>,
}

/// `pl#account#region#pipeline`: the pipeline's recent executions (for approvals, which carry
/// no execution id, and for the status page), its CodeBuild actions (to join builds, which carry
/// none either), and events held until they can be joined.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PipelinePointer {
    pub account: String,
    pub region: String,
    pub pipeline: String,
    pub executions: Vec<ExecRef>,
    pub build_actions: Vec<BuildAction>,
    pub held: Vec<Event>,
    /// Approvals have come through this pipeline: track executions' terminal states so an
    /// approval joins a running one. Until then those writes are saved.
    #[serde(default)]
    pub approvals_seen: bool,
    /// CodeBuild events have come through this pipeline: keep action build ids current.
    #[serde(default)]
    pub builds_seen: bool,
    /// Recent state changes of the alarms watching the pipeline (`[[verdicts.watch]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmMark>,
    /// A `[[verdicts.watch]]` rule names the pipeline: its executions' ends are followed (the
    /// alarms watching it are told how each ended).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub watched: bool,
}

/// `svc#account#region#cluster#service`: the service's deployments, for service actions that
/// carry no deployment id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServicePointer {
    pub deployments: Vec<(String, Option<DateTime<Utc>>)>,
    /// Warnings held by earlier versions until a deployment was known (released as before;
    /// new ones wait in `crash_holds`).
    #[serde(default)]
    pub held: Vec<Event>,
    /// What the deployments' events said of their end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ends: Vec<DeploymentEnd>,
    /// Stopped tasks and warnings that joined no deployment yet, each with when it stops
    /// waiting for the events that would place it (processing time): see
    /// [`pointer::CRASH_HOLD_SECS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crash_holds: Vec<(i64, Event)>,
    /// Crashes sent to a deployment whose end was not known yet: once it is, those after it
    /// go where they belong (the next deployment, or the service's crash episode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routed: Vec<(String, Event)>,
    /// A crash of the service's tasks was told on its crash-episode thread (`es#...`), so its
    /// steady states go there too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub crashed: bool,
    /// The newest SERVICE_STEADY_STATE outside a deployment: a crash episode opened by a
    /// crash that arrives after it (events arrive out of order) is given it too, and so is a
    /// scaling that asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady: Option<Event>,
    /// Recent scalings of the service: (call id, call time in Unix seconds). Each steady state
    /// after a call goes to it (its thread keeps the earliest), whatever the arrival order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scalings: Vec<(String, i64)>,
    /// The most recent SERVICE_STEADY_STATEs (a scaling call that comes after them is given
    /// those at or after its time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steadies: Vec<Event>,
    /// Recent state changes of the alarms watching the service (see [`verdict`]): given to
    /// each deployment heard of later, and told of its deployments' news.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmMark>,
    /// Who started each deployment (its API call's principal), for the alarms that name it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callers: Vec<(String, String)>,
}

/// An alarm state change a service pointer keeps (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AlarmMark {
    pub at: i64,
    /// The alarm's thread key (`al#account#region#name`).
    pub key: String,
    pub name: String,
    pub state: String,
}

/// How a deployment's events said it ended (their times, Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeploymentEnd {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<i64>,
    /// A rollback followed the failure: the deployment ends when that completes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rolling_back: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<i64>,
}

/// Where the service pointer sends an event of its service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceTarget {
    /// A deployment in progress (by id).
    Deployment(String),
    /// The service's crash episode (`es#...`).
    Episode,
    /// A scaling of the service (by the call's id: `sc#...#id`).
    Scaling(String),
    /// An alarm watching the service (by its thread's key, `al#...`).
    Alarm(String),
}

pub const MAX_EXECUTIONS: usize = 20;
pub const MAX_BUILD_ACTIONS: usize = 50;
pub const MAX_HELD: usize = 200;
/// How long after its CodeBuild action started a build may start and still be joined to it by
/// time alone (V1 events name neither side).
pub const BUILD_JOIN_SECS: i64 = 90;

/// Where an event goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Straight to one thread.
    Thread(String),
    /// Through the pipeline pointer (builds started by a pipeline, approvals).
    Pipeline(String),
    /// Through the service pointer (ECS service actions).
    Service(String),
    /// Nothing to tell (unknown kinds, tasks outside a service deployment, health).
    None,
}

/// `prefix#part#part...`, built without the formatting machinery: a key is made for every
/// event.
pub(crate) fn join_key(prefix: &str, parts: &[&str]) -> String {
    let len = prefix.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut key = String::with_capacity(len);
    key.push_str(prefix);
    for p in parts {
        key.push('#');
        key.push_str(p);
    }
    key
}

pub fn pipeline_key(account: &str, region: &str, pipeline: &str, execution_id: &str) -> String {
    join_key("ex", &[account, region, pipeline, execution_id])
}

pub fn pointer_key(account: &str, region: &str, pipeline: &str) -> String {
    join_key("pl", &[account, region, pipeline])
}

/// `pa#region#pipeline#stage#action`: the executions waiting at one Manual approval action,
/// whatever their account (named `account#execution` there), for approval messages that name
/// no account.
pub fn approval_pointer_key(region: &str, pipeline: &str, stage: &str, action: &str) -> String {
    join_key("pa", &[region, pipeline, stage, action])
}

pub fn ecs_key(account: &str, region: &str, cluster: &str, service: &str, id: &str) -> String {
    join_key("ecs", &[account, region, cluster, service, id])
}

pub fn service_key(account: &str, region: &str, cluster: &str, service: &str) -> String {
    join_key("svc", &[account, region, cluster, service])
}

/// A CodeDeploy deployment group's pointer: its deployments, for the alarms that watch it.
pub fn group_key(account: &str, region: &str, application: &str, group: &str) -> String {
    join_key("dg", &[account, region, application, group])
}

/// The Health board of an account and region (see [`health::HealthBoard`]).
pub fn board_key(account: &str, region: &str) -> String {
    join_key("ah", &[account, region])
}

pub fn alarm_key(account: &str, region: &str, alarm: &str) -> String {
    join_key("al", &[account, region, alarm])
}

/// The pointer item a thread key reports to: a pipeline execution's (`ex#a#r#p#x`) is its
/// pipeline's (`pl#a#r#p`), an ECS deployment's (`ecs#a#r#c#s#d`) its service's
/// (`svc#a#r#c#s`). The last part (an execution or deployment id) never holds a `#`.
pub fn pointer_of(key: &str) -> Option<String> {
    let (head, _) = key.rsplit_once('#')?;
    let (kind, rest) = head.split_once('#')?;
    let prefix = match kind {
        "ex" => "pl",
        "ecs" => "svc",
        _ => return None,
    };
    Some(join_key(prefix, &[rest]))
}

/// Routes an event to the item it changes. Pure.
pub fn target(ev: &Event) -> Target {
    let m = ev.meta();
    let (a, r) = (m.account.as_str(), m.region.as_str());
    match ev {
        Event::PipelineExecution(e) => {
            Target::Thread(pipeline_key(a, r, &e.pipeline, &e.execution_id))
        }
        Event::StageExecution(e) => {
            Target::Thread(pipeline_key(a, r, &e.pipeline, &e.execution_id))
        }
        Event::ActionExecution(e) => {
            Target::Thread(pipeline_key(a, r, &e.pipeline, &e.execution_id))
        }
        // Delivered raw (SNS raw message delivery to SQS), an approval names no account: it
        // joins its execution by region, pipeline, stage and action.
        Event::ManualApproval(e) if a.is_empty() => {
            Target::Pipeline(approval_pointer_key(r, &e.pipeline, &e.stage, &e.action))
        }
        Event::ManualApproval(e) => Target::Pipeline(pointer_key(a, r, &e.pipeline)),
        Event::BuildState(b) => match b
            .initiator
            .as_deref()
            .and_then(|i| i.strip_prefix("codepipeline/"))
        {
            Some(p) => Target::Pipeline(pointer_key(a, r, p)),
            None => Target::Thread(join_key("cb", &[a, r, &b.build_id])),
        },
        Event::BuildPhase(b) => match b
            .initiator
            .as_deref()
            .and_then(|i| i.strip_prefix("codepipeline/"))
        {
            Some(p) => Target::Pipeline(pointer_key(a, r, p)),
            None => Target::Thread(join_key("cb", &[a, r, &b.build_id])),
        },
        Event::DeploymentState(d) => Target::Thread(join_key("cd", &[a, r, &d.deployment_id])),
        Event::DeploymentInstance(d) => Target::Thread(join_key("cd", &[a, r, &d.deployment_id])),
        Event::EcsDeployment(d) => {
            Target::Thread(ecs_key(a, r, &d.cluster, &d.service, &d.deployment_id))
        }
        Event::EcsServiceAction(s) if !s.service.is_empty() => {
            Target::Service(service_key(a, r, &s.cluster, &s.service))
        }
        // A service's stopped tasks go through its pointer, which knows whether a deployment
        // is in progress (the task joins it) or not (a crash opens an `ecs_service` episode).
        Event::EcsTask(t) if t.last_status == "STOPPED" => {
            match t.group.as_deref().and_then(|g| g.strip_prefix("service:")) {
                Some(s) => Target::Service(service_key(a, r, &t.cluster, s)),
                None => Target::None,
            }
        }
        Event::EcsTask(_) => Target::None,
        Event::AlarmState(al) => Target::Thread(alarm_key(a, r, &al.alarm_name)),
        // An ECS service call that started a deployment joins it as its trigger (AWS's answer
        // names it); one that only changes the desired count is a scaling of the service, which
        // its item follows to the service's next steady state. Failed calls changed nothing.
        Event::ApiCall(c) if c.error_code.is_none() && c.api == "ecs.amazonaws.com" => {
            let (Some(cluster), Some(service)) = (c.cluster.as_deref(), c.service.as_deref())
            else {
                return Target::None;
            };
            match (c.name.as_str(), c.deploys, c.deployment_id.as_deref()) {
                ("CreateService" | "UpdateService", true, Some(d)) => {
                    Target::Thread(ecs_key(a, r, cluster, service, d))
                }
                ("UpdateService", false, _) if c.desired_count.is_some() => {
                    Target::Service(service_key(a, r, cluster, service))
                }
                _ => Target::None,
            }
        }
        // One thread per Health event ARN (an organization's view sends one per account).
        Event::Health(h) => match h.event_arn.as_deref() {
            Some(arn) => Target::Thread(join_key("hl", &[arn])),
            None => Target::None,
        },
        Event::EcsServiceAction(_)
        | Event::ApiCall(_)
        | Event::DeployLink(_)
        | Event::Unknown(_) => Target::None,
    }
}

/// A new thread for the first event of a direct target.
pub fn new_thread(ev: &Event) -> Option<Thread> {
    let m = ev.meta();
    let (a, r) = (m.account.as_str(), m.region.as_str());
    let body = match ev {
        Event::PipelineExecution(e) => Body::Pipeline(Box::new(pipeline::PipelineExec::new(
            a,
            r,
            &e.pipeline,
            &e.execution_id,
        ))),
        Event::StageExecution(e) => Body::Pipeline(Box::new(pipeline::PipelineExec::new(
            a,
            r,
            &e.pipeline,
            &e.execution_id,
        ))),
        Event::ActionExecution(e) => Body::Pipeline(Box::new(pipeline::PipelineExec::new(
            a,
            r,
            &e.pipeline,
            &e.execution_id,
        ))),
        Event::BuildState(b) => Body::Build(standalone::Build::new(a, r, &b.project, &b.build_id)),
        Event::BuildPhase(b) => Body::Build(standalone::Build::new(a, r, &b.project, &b.build_id)),
        Event::DeploymentState(d) => {
            Body::Deployment(standalone::Deployment::new(a, r, &d.deployment_id))
        }
        Event::DeploymentInstance(d) => {
            Body::Deployment(standalone::Deployment::new(a, r, &d.deployment_id))
        }
        Event::EcsDeployment(d) => Body::Ecs(Box::new(ecs::EcsDeploy::new(
            a,
            r,
            &d.cluster,
            &d.service,
            &d.deployment_id,
        ))),
        // A call that started a deployment (see `target`).
        Event::ApiCall(c) => Body::Ecs(Box::new(ecs::EcsDeploy::new(
            a,
            r,
            c.cluster.as_deref()?,
            c.service.as_deref()?,
            c.deployment_id.as_deref()?,
        ))),
        Event::AlarmState(al) => Body::Alarm(alarm::AlarmEpisodes::new(a, r, &al.alarm_name)),
        Event::Health(h) => Body::Health(health::HealthEvent::new(a, r, h.event_arn.as_deref()?)),
        _ => return None,
    };
    Some(Thread::new(body))
}

/// An event that changes nothing but the time a thread last heard of it is written when it is
/// at least this much newer: a stall timer then sees it, at the cost of one write a minute.
const HEARD_WRITE_SECS: i64 = 60;

/// How long after another worker's delivery lease ran out it may be taken over. That worker's
/// fence ([`crate::deliver::fence`]) starts no attempt in the lease's last half second, but an
/// attempt started just before may still be on its way to the provider (a loaded host, a slow
/// network): taking over at once could post a second message before the first one lands and
/// is recorded. Costs a crashed worker's threads this much more before another delivers them.
pub const TAKEOVER_GRACE_SECS: i64 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipeline execution event at `time` (Unix seconds) in state `state`.
    fn exec_event(state: &str, time: i64) -> Event {
        let at = DateTime::from_timestamp(time, 0).unwrap_or_default();
        let doc = serde_json::json!({
            "version": "0", "id": format!("e-{state}-{time}"),
            "detail-type": "CodePipeline Pipeline Execution State Change",
            "source": "aws.codepipeline", "account": "111122223333",
            "time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "region": "eu-west-1",
            "resources": [], "detail": {"pipeline": "web", "execution-id": "x1", "state": state, "version": 1}
        });
        crate::event::decode_value(&doc)
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_else(|| panic!("decodes: {doc}"))
    }

    fn decode_one(doc: serde_json::Value) -> Event {
        crate::event::decode_value(&doc)
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_else(|| panic!("decodes: {doc}"))
    }

    #[test]
    fn a_manual_approval_action_started_waits_for_approval_without_its_sns_message() {
        let now = 1_700_000_000;
        let mut t = started_at(now);
        let action = |state: &str, time: i64| {
            decode_one(serde_json::json!({
                "version": "0", "id": format!("a-{state}"),
                "detail-type": "CodePipeline Action Execution State Change",
                "source": "aws.codepipeline", "account": "111122223333",
                "time": DateTime::from_timestamp(time, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "region": "eu-west-1", "resources": [],
                "detail": {"pipeline": "web", "execution-id": "x1", "stage": "Approve", "action": "Gate",
                           "state": state, "version": 1,
                           "type": {"owner": "AWS", "category": "Approval", "provider": "Manual", "version": "1"}}
            }))
        };
        assert!(t.apply_at(&action("STARTED", now + 5), now, &Timing::default()));
        let n = t.notification().expect("a notification");
        assert_eq!(n.status, "WAITING_FOR_APPROVAL");
        let a = n.approval.expect("the approval named");
        assert_eq!((a.stage.as_str(), a.action.as_str()), ("Approve", "Gate"));
        let ids: Vec<_> = n.actions.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["approve", "reject", "stop_pipeline"]);
        // Approved (in the console): running again (no stage event came), nothing to approve.
        assert!(t.apply_at(&action("SUCCEEDED", now + 60), now, &Timing::default()));
        let n = t.notification().expect("a notification");
        assert_eq!(n.status, "STARTED");
        assert!(n.approval.is_none());
        assert_eq!(n.actions.len(), 1);
    }

    #[test]
    fn a_codedeploy_deployment_ready_is_told_as_ready_with_continue_and_stop() {
        let dep = |state: &str, time: i64| {
            decode_one(serde_json::json!({
                "version": "0", "id": format!("d-{state}"),
                "detail-type": "CodeDeploy Deployment State-change Notification",
                "source": "aws.codedeploy", "account": "111122223333",
                "time": DateTime::from_timestamp(time, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "region": "eu-west-1", "resources": [],
                "detail": {"region": "eu-west-1", "deploymentId": "d-ABC", "instanceGroupId": "g",
                           "deploymentGroup": "blue-green", "application": "web", "state": state}
            }))
        };
        let now = 1_700_000_000;
        let start = dep("START", now);
        let mut t = new_thread(&start).expect("a thread");
        t.apply_at(&start, now, &Timing::default());
        let n = t.notification().expect("a notification");
        assert_eq!(n.status, "IN_PROGRESS");
        assert_eq!(
            n.actions.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            ["stop_deployment"]
        );
        t.apply_at(&dep("READY", now + 60), now, &Timing::default());
        let n = t.notification().expect("a notification");
        assert_eq!(n.status, "READY");
        assert!(!n.is_final);
        assert_eq!(
            n.actions.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            ["continue_deployment", "stop_deployment"]
        );
        t.apply_at(&dep("SUCCESS", now + 120), now, &Timing::default());
        let n = t.notification().expect("a notification");
        assert_eq!(n.status, "SUCCEEDED");
        assert!(n.actions.is_empty());
    }

    fn started_at(now: i64) -> Thread {
        let ev = exec_event("STARTED", now);
        let mut t = new_thread(&ev).unwrap_or_else(|| panic!("a thread"));
        assert!(t.apply_at(&ev, now, &Timing::default()));
        t.refresh(now);
        t.plan_wake(&Timing::default());
        t
    }

    #[test]
    fn a_silent_thread_is_marked_stalled_once_its_timeout_passes() {
        let timing = Timing::default();
        let t0 = 1_700_000_000;
        let mut t = started_at(t0);
        assert_eq!(t.wake, Some(t0 + 3600), "woken at its stall timeout");
        assert_eq!(t.tick(t0 + 3599, &timing), None, "not due yet");
        assert_eq!(t.tick(t0 + 3600, &timing), Some(Fired::Stalled));
        let note = t.notification().unwrap_or_else(|| panic!("a note"));
        assert!(note.stalled);
        assert_eq!(note.stalled_since.map(|t| t.timestamp()), Some(t0));
        assert_eq!(note.stalled_for_secs, Some(3600));
        // Stalled and nobody delivering: no timer.
        t.plan_wake(&timing);
        assert_eq!(t.wake, None);
        // The next event clears it and sets the timer again.
        assert!(t.apply_at(
            &exec_event("STARTED", t0 + 4000),
            t0 + 4000,
            &Timing::default()
        ));
        t.plan_wake(&timing);
        assert!(!t.notification().is_some_and(|n| n.stalled));
        assert_eq!(t.wake, Some(t0 + 4000 + 3600));
    }

    #[test]
    fn only_an_ecs_deployment_ecs_told_of_can_stall() {
        let timing = Timing::default();
        let t0 = 1_700_000_000;
        let of = |text: &str| {
            let ev = crate::event::decode(text.as_bytes())
                .ok()
                .and_then(|mut v| v.pop())
                .unwrap_or_else(|| panic!("decodes"));
            let mut t = new_thread(&ev).unwrap_or_else(|| panic!("a thread"));
            assert!(t.apply_at(&ev, t0, &Timing::default()));
            t.refresh(t0);
            t.plan_wake(&timing);
            t
        };
        // A task of the service stopped: it goes through the service's item, never opens a
        // deployment thread of its own, and so never stalls as one.
        let task = crate::event::decode(
            include_bytes!(
                "../../tests/fixtures/ecs-task-state-change-stopped-essential-container-exit2-fivexl.json"
            )
            .as_slice(),
        )
        .ok()
        .and_then(|mut v| v.pop())
        .unwrap_or_else(|| panic!("decodes"));
        assert!(new_thread(&task).is_none());
        assert!(matches!(target(&task), Target::Service(_)));
        let mut deploy = of(include_str!(
            "../../tests/fixtures/ecs-deployment-state-change-in-progress-doc.json"
        ));
        assert_eq!(deploy.wake, Some(t0 + 1800));
        assert_eq!(deploy.tick(t0 + 1800, &timing), Some(Fired::Stalled));
    }

    #[test]
    fn an_approval_waiting_is_reminded_of_twice_and_never_stalls() {
        let timing = Timing::default();
        let t0 = 1_700_000_000;
        let asked = t0 + 60;
        let expires = asked + 7 * 86_400;
        let mut t = started_at(t0);
        if let Body::Pipeline(p) = &mut t.body {
            p.approval = Some(pipeline::ApprovalRec {
                time: DateTime::from_timestamp(asked, 0),
                info: crate::notification::ApprovalInfo {
                    stage: "Approve".into(),
                    action: "Gate".into(),
                    expires: DateTime::from_timestamp(expires, 0),
                    ..Default::default()
                },
                token: None,
            });
        }
        let status = |t: &Thread| t.notification().map(|n| n.status).unwrap_or_default();
        assert_eq!(status(&t), "WAITING_FOR_APPROVAL");
        // The stall timer set before the approval fires early and moves to the reminder.
        assert_eq!(t.tick(t0 + 3600, &timing), Some(Fired::Early));
        t.plan_wake(&timing);
        assert_eq!(t.wake, Some(asked + 4 * 3600));
        assert_eq!(t.tick(asked + 4 * 3600, &timing), Some(Fired::Reminder));
        let r = t.notification().and_then(|n| n.reminder);
        assert_eq!(r.as_ref().map(|r| r.kind.as_str()), Some("waiting"));
        assert_eq!(r.as_ref().and_then(|r| r.waiting_secs), Some(4 * 3600));
        t.plan_wake(&timing);
        assert_eq!(t.wake, Some(expires - EXPIRY_REMINDER_SECS));
        assert_eq!(
            t.tick(expires - EXPIRY_REMINDER_SECS, &timing),
            Some(Fired::Reminder)
        );
        let r = t.notification().and_then(|n| n.reminder);
        assert_eq!(r.as_ref().map(|r| r.kind.as_str()), Some("expiring"));
        t.plan_wake(&timing);
        assert_eq!(t.wake, None, "told both; nothing left");
        assert!(!t.notification().is_some_and(|n| n.stalled));
    }

    #[test]
    fn a_run_out_claim_is_dropped_by_its_recheck_and_a_failed_delivery_is_tried_again() {
        let timing = Timing::default();
        let t0 = 1_700_000_000;
        let mut t = started_at(t0);
        assert_eq!(t.tick(t0 + 3600, &timing), Some(Fired::Stalled));
        t.lease = Some(Lease {
            owner: "gone".into(),
            until: t0 + 3630,
        });
        t.plan_wake(&timing);
        let recheck = t0 + 3630 + TAKEOVER_GRACE_SECS;
        assert_eq!(t.tick(recheck, &timing), Some(Fired::Recheck));
        assert!(t.lease.is_none(), "the dead claim goes");
        t.plan_wake(&timing);
        assert_eq!(t.wake, None, "not set again at a past claim's end");
        // A delivery that failed: tried again through the thread's own timer.
        t.retry_at = Some(recheck + 60);
        t.plan_wake(&timing);
        assert_eq!(t.wake, Some(recheck + 60));
        assert_eq!(t.tick(recheck + 60, &timing), Some(Fired::Recheck));
        assert_eq!(t.retry_at, None);
        // A retry not yet due is kept when another timer fires first.
        let mut u = started_at(t0);
        u.retry_at = Some(t0 + 7200);
        assert_eq!(u.tick(t0 + 3600, &timing), Some(Fired::Stalled));
        assert_eq!(u.retry_at, Some(t0 + 7200));
    }

    #[test]
    fn events_meanwhile_make_a_timer_fire_early_and_move() {
        let timing = Timing::default();
        let t0 = 1_700_000_000;
        let mut t = started_at(t0);
        // A later event does not move the stored timer (one index write per thread)...
        assert!(t.apply_at(
            &exec_event("STARTED", t0 + 600),
            t0 + 600,
            &Timing::default()
        ));
        t.plan_wake(&timing);
        assert_eq!(t.wake, Some(t0 + 3600));
        // ...so it fires early, says so, and the next write sets it from the last news.
        assert_eq!(t.tick(t0 + 3600, &timing), Some(Fired::Early));
        assert!(t.stalled_since.is_none());
        t.plan_wake(&timing);
        assert_eq!(t.wake, Some(t0 + 600 + 3600));
    }

    #[test]
    fn final_threads_do_not_stall_and_zero_turns_it_off() {
        let t0 = 1_700_000_000;
        let mut t = started_at(t0);
        assert!(t.apply_at(
            &exec_event("SUCCEEDED", t0 + 60),
            t0 + 60,
            &Timing::default()
        ));
        t.refresh(t0 + 60);
        let timing = Timing::default();
        t.plan_wake(&timing);
        assert_eq!(t.wake, Some(t0 + 65), "only its settle window's end");
        assert_eq!(t.tick(t0 + 64, &timing), None);
        assert_eq!(t.tick(t0 + 65, &timing), Some(Fired::Settled));
        t.plan_wake(&timing);
        assert_eq!(t.wake, None, "then a final thread needs no timer");
        // Its delivery claimed by a worker that may die: checked again once the claim ran out.
        t.lease = Some(Lease {
            owner: "w1".into(),
            until: t0 + 95,
        });
        t.plan_wake(&timing);
        assert_eq!(t.wake, Some(t0 + 95 + TAKEOVER_GRACE_SECS));
        assert_eq!(
            t.tick(t0 + 95 + TAKEOVER_GRACE_SECS, &timing),
            Some(Fired::Recheck)
        );
        assert_eq!(t.lease, None, "a run-out claim is dropped");
        t.plan_wake(&timing);
        assert_eq!(t.wake, None);
        // The in-process store has no settle timers.
        let mut u = started_at(t0);
        u.wake = None;
        assert!(u.apply_at(&exec_event("SUCCEEDED", t0 + 60), t0 + 60, &timing));
        u.refresh(t0 + 60);
        u.plan_wake(&Timing {
            settle_secs: None,
            ..timing
        });
        assert_eq!(u.wake, None);
        let off = Timing {
            pipeline_stall_secs: 0,
            ecs_stall_secs: 0,
            approval_remind_secs: 0,
            ..Timing::default()
        };
        let mut t = started_at(t0);
        t.wake = None;
        t.plan_wake(&off);
        assert_eq!(t.wake, None);
    }

    #[test]
    fn a_stalled_thread_whose_delivery_is_claimed_is_checked_again_after_the_claim() {
        let timing = Timing::default();
        let t0 = 1_700_000_000;
        let mut t = started_at(t0);
        assert_eq!(t.tick(t0 + 3600, &timing), Some(Fired::Stalled));
        t.lease = Some(Lease {
            owner: "w1".into(),
            until: t0 + 3630,
        });
        t.plan_wake(&timing);
        assert_eq!(t.wake, Some(t0 + 3630 + TAKEOVER_GRACE_SECS));
        assert_eq!(
            t.tick(t0 + 3630 + TAKEOVER_GRACE_SECS, &timing),
            Some(Fired::Recheck)
        );
    }

    #[test]
    fn thread_keys_name_their_pointer() {
        let ex = pipeline_key("111122223333", "eu-west-1", "web", "a1b2");
        assert_eq!(ex, "ex#111122223333#eu-west-1#web#a1b2");
        assert_eq!(
            pointer_of(&ex).as_deref(),
            Some(pointer_key("111122223333", "eu-west-1", "web").as_str())
        );
        let ecs = ecs_key("1", "us-east-1", "prod", "api", "ecs-svc/123");
        assert_eq!(
            pointer_of(&ecs).as_deref(),
            Some(service_key("1", "us-east-1", "prod", "api").as_str())
        );
        assert_eq!(pointer_of("al#1#us-east-1#cpu-high"), None);
        assert_eq!(pointer_of("cb#1#us-east-1#proj:uuid"), None);
        assert_eq!(pointer_of("ex"), None);
    }

    #[test]
    fn known_names_are_static_and_stored_names_read_back_the_same() {
        assert!(matches!(name("SUCCEEDED"), Name::Borrowed("SUCCEEDED")));
        assert!(matches!(name("CodeBuild"), Name::Borrowed("CodeBuild")));
        assert!(matches!(name("Succeeded"), Name::Owned(ref s) if s == "Succeeded"));
        let reg = |v: Name| Reg {
            value: v,
            time: None,
            rank: 1,
        };
        for r in [
            reg(name("FAILED")),
            reg(Name::Owned("Task stopped: OOM".into())),
        ] {
            let text = serde_json::to_string(&r).unwrap_or_default();
            let back: Option<Reg> = serde_json::from_str(&text).ok();
            assert_eq!(back.as_ref(), Some(&r), "{text}");
        }
        let back: Option<Reg> =
            serde_json::from_str(r#"{"value":"STARTED","time":null,"rank":1}"#).ok();
        assert!(back.is_some_and(|r| matches!(r.value, Name::Borrowed(_))));
    }

    #[test]
    fn the_content_hash_tells_small_differences_apart() {
        use std::hash::Hasher;
        let hash = |parts: &[&[u8]]| {
            let mut h = Fnv::default();
            for p in parts {
                h.write(p);
            }
            h.finish()
        };
        let cases: [&[&[u8]]; 6] = [
            &[b"ab"],
            &[b"ab\0"],
            &[b"abcdefgh"],
            &[b"abcdefgh", b""],
            &[b"abcdefgi"],
            &[b"bbcdefgh"],
        ];
        let all: std::collections::BTreeSet<u64> = cases.iter().map(|c| hash(c)).collect();
        assert_eq!(all.len(), cases.len());
        assert_eq!(hash(&[b"same"]), hash(&[b"same"]), "stable");
        // The lanes: the same words in another order, or one word more, hash differently.
        assert_ne!(
            hash(&[b"a", b"b", b"c", b"d", b"e"]),
            hash(&[b"b", b"a", b"c", b"d", b"e"])
        );
        assert_ne!(
            hash(&[b"a", b"b", b"c", b"d"]),
            hash(&[b"a", b"b", b"c", b"d", b""])
        );
    }
}
