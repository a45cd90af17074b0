//! The ECS service thread (`ecs_service`): a service's tasks crashing outside a deployment, one
//! episode at a time. A crash opens an episode (RECOVERING); `crash_loop_count` crashes within
//! `crash_loop_window_secs` make it a CRASH_LOOP; a SERVICE_STEADY_STATE newer than the last
//! crash, with no crash for `recovered_after_secs` after it (a timer: see
//! [`super::Thread::tick`]), ends it RECOVERED. The next crash opens the next episode, a new
//! chat message.
//!
//! Crashes during a deployment of the service are told on the deployment's message instead:
//! the service pointer decides where a crash goes (see `engine`).

use super::ecs::{crash_of, Crashes};
use super::Timing;
use crate::event::Event;
use crate::notification::{self as n, status, Notification};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EcsService {
    pub account: String,
    pub region: String,
    pub cluster: String,
    pub service: String,
    /// Counts episodes: each is its own chat message.
    pub episode: u32,
    /// This episode's crashes.
    pub crashes: Crashes,
    /// The episode's first crash.
    pub started_at: Option<DateTime<Utc>>,
    /// Reached `crash_loop_count` crashes within the window (stays for the episode).
    #[serde(default)]
    pub looping: bool,
    /// The newest SERVICE_STEADY_STATE of the episode.
    pub steady: Option<DateTime<Utc>>,
    /// Set by the recovery timer: the steady state the service recovered at. The episode is
    /// over.
    pub recovered: Option<DateTime<Utc>>,
    /// When the previous episode recovered: crashes and steady states up to then are old news
    /// (a duplicate delivered late), never the next episode's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

impl EcsService {
    pub fn new(account: &str, region: &str, cluster: &str, service: &str) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            cluster: cluster.into(),
            service: service.into(),
            ..Self::default()
        }
    }

    /// Applies a crash or a steady state; true if the episode changed. A crash after the
    /// episode recovered opens the next one; a crash from before its recovery is old news.
    pub fn apply(&mut self, ev: &Event, timing: &Timing) -> bool {
        match ev {
            Event::EcsTask(t) => {
                let Some(c) = crash_of(t) else {
                    return false;
                };
                if self
                    .closed_at
                    .is_some_and(|closed| c.at.is_none_or(|at| at <= closed))
                {
                    return false;
                }
                if let Some(rec) = self.recovered {
                    if c.at.is_none_or(|at| at <= rec) {
                        return false;
                    }
                    *self = Self {
                        episode: self.episode.saturating_add(1),
                        closed_at: Some(rec),
                        ..Self::new(&self.account, &self.region, &self.cluster, &self.service)
                    };
                }
                let at = c.at;
                if !self.crashes.add(c) {
                    return false;
                }
                if at.is_some() && self.started_at.is_none_or(|s| at < Some(s)) {
                    self.started_at = at;
                }
                if !self.looping {
                    self.looping = self
                        .crashes
                        .looping(timing.crash_loop_count, timing.crash_loop_window_secs);
                }
                true
            }
            Event::EcsServiceAction(a) if a.event_name == "SERVICE_STEADY_STATE" => {
                let at = a.meta.time;
                let old = self.closed_at.is_some_and(|closed| at <= Some(closed));
                if self.recovered.is_some() || at.is_none() || at <= self.steady || old {
                    return false;
                }
                self.steady = at;
                true
            }
            _ => false,
        }
    }

    /// A steady state newer than the last crash, not yet taken as recovery.
    pub fn recovering(&self) -> bool {
        self.recovered.is_none()
            && self
                .steady
                .is_some_and(|s| self.crashes.latest().is_none_or(|c| s.timestamp() > c))
    }

    /// The recovery timer fired: the episode is over.
    pub fn recover(&mut self) -> bool {
        if !self.recovering() {
            return false;
        }
        self.recovered = self.steady;
        true
    }

    pub fn notification(&self) -> Notification {
        let (st, is_final) = match (self.recovered, self.looping) {
            (Some(_), _) => (status::RECOVERED, true),
            (None, true) => (status::CRASH_LOOP, false),
            (None, false) => (status::RECOVERING, false),
        };
        let region = &self.region;
        Notification {
            cluster: Some(self.cluster.clone()),
            service: Some(self.service.clone()),
            title: format!("{}/{} service", self.cluster, self.service),
            started_at: self.started_at,
            finished_at: self.recovered,
            duration_secs: match (self.started_at, self.recovered) {
                (Some(a), Some(b)) if b >= a => Some((b - a).num_seconds()),
                _ => None,
            },
            failure: self.crashes.last().map(|c| n::Failure {
                stage: None,
                actions: Vec::new(),
                reason: Some(c.line()),
            }),
            // How many crashed, said in every sink (the last one is the failure's reason).
            warnings: vec![format!(
                "{} {} crashed{}",
                self.crashes.count,
                if self.crashes.count == 1 { "task" } else { "tasks" },
                self.started_at
                    .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M UTC")))
                    .unwrap_or_default()
            )],
            crashes: Some(self.crashes.count),
            last_crash: self.crashes.last().cloned(),
            links: vec![n::Link {
                label: "service".into(),
                url: format!(
                    "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{}/services/{}/health?region={region}",
                    self.cluster, self.service
                ),
            }],
            ..Notification::new(n::Kind::EcsService, st, is_final, &self.account, region, String::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ContainerExit, EcsServiceAction, EcsTask, Meta};

    fn meta(t: i64) -> Meta {
        Meta {
            account: "1".into(),
            region: "eu-west-1".into(),
            time: DateTime::from_timestamp(t, 0),
            ..Meta::default()
        }
    }

    fn crash(task: &str, t: i64) -> Event {
        Event::EcsTask(EcsTask {
            meta: meta(t),
            cluster: "prod".into(),
            task_arn: format!("arn:aws:ecs:eu-west-1:1:task/prod/{task}"),
            group: Some("service:sync".into()),
            started_by: None,
            last_status: "STOPPED".into(),
            desired_status: "STOPPED".into(),
            stopped_reason: Some("Essential container in task exited".into()),
            stop_code: Some("EssentialContainerExited".into()),
            containers: vec![ContainerExit {
                name: "sync".into(),
                exit_code: Some(137),
                reason: Some("OutOfMemoryError: Container killed due to memory usage".into()),
            }],
        })
    }

    fn steady(t: i64) -> Event {
        Event::EcsServiceAction(EcsServiceAction {
            meta: meta(t),
            cluster: "prod".into(),
            service: "sync".into(),
            event_name: "SERVICE_STEADY_STATE".into(),
            event_type: Some("INFO".into()),
            reason: None,
        })
    }

    #[test]
    fn an_episode_recovers_only_from_a_steady_state_after_its_last_crash() {
        let timing = Timing::default();
        let mut s = EcsService::new("1", "eu-west-1", "prod", "sync");
        assert!(s.apply(&crash("a", 1000), &timing));
        assert_eq!(s.notification().status, "RECOVERING");
        assert!(s.apply(&steady(900), &timing), "noted");
        assert!(
            !s.recovering(),
            "a steady state before the crash is no recovery"
        );
        assert!(!s.recover());
        assert!(s.apply(&crash("b", 1100), &timing));
        assert!(s.apply(&crash("c", 1200), &timing));
        let n = s.notification();
        assert_eq!((n.status.as_str(), n.crashes), ("CRASH_LOOP", Some(3)));
        let rule: crate::route::expr::Expr =
            "kind:ecs_service & status:CRASH_LOOP & last_crash.exit_code:137"
                .parse()
                .expect("rule");
        assert!(rule.matches(&n.to_value()), "routable: {}", n.to_value());
        assert!(s.apply(&steady(1300), &timing));
        assert!(s.recovering());
        assert!(s.recover());
        let n = s.notification();
        assert_eq!((n.status.as_str(), n.is_final), ("RECOVERED", true));
        assert_eq!(n.duration_secs, Some(300));
        // Old news changes nothing; a new crash is the next episode.
        assert!(!s.apply(&crash("d", 1250), &timing));
        assert!(!s.apply(&steady(1400), &timing));
        assert!(s.apply(&crash("e", 5000), &timing));
        assert_eq!((s.episode, s.crashes.count), (1, 1));
        assert_eq!(s.notification().status, "RECOVERING");
        // The last episode's crashes and steady state, delivered again: not this episode's.
        for old in [crash("a", 1000), crash("b", 1100), steady(1300)] {
            assert!(!s.apply(&old, &timing), "{old:?}");
        }
        assert_eq!(
            (s.crashes.count, s.started_at.map(|t| t.timestamp())),
            (1, Some(5000))
        );
    }
}
