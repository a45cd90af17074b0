//! Deploy verdicts (issue 16): which alarms watch which target (an ECS service, a pipeline, a
//! CodeDeploy deployment group), what they say of each deployment of it (the watch window after
//! it, the alarms it ran into), and what an alarm's own message says of the deployment it fired
//! after. Pure: times are the events' own.
//!
//! The target's pointer (`svc#...`, `pl#...`, `dg#...`) is where the two streams meet: an alarm
//! linked to a target is sent through it to the target's deployments (as the alarm's own event,
//! which each deployment keeps as an [`AlarmObs`]) and a [`DeployLink`] of those deployments is
//! sent back to the alarm's thread. Both sides keep what they were told and judge from the
//! times alone, so the arrival order does not change the outcome.

use super::AlarmMark;
use crate::event::{AlarmState, DeployLink, Event, LinkedDeploy, Meta};
use crate::notification::{self as n, verdict_status};
use chrono::DateTime;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// What an alarm watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchTarget {
    /// An ECS service.
    Service { cluster: String, service: String },
    /// A pipeline (its executions that deploy).
    Pipeline(String),
    /// A CodeDeploy deployment group.
    Group { application: String, group: String },
}

impl WatchTarget {
    /// The pointer item that follows the target's deployments in `account`/`region`.
    pub fn pointer(&self, account: &str, region: &str) -> String {
        match self {
            WatchTarget::Service { cluster, service } => {
                super::service_key(account, region, cluster, service)
            }
            WatchTarget::Pipeline(p) => super::pointer_key(account, region, p),
            WatchTarget::Group { application, group } => {
                super::group_key(account, region, application, group)
            }
        }
    }
}

/// `[[verdicts.watch]]`: alarms whose name matches `alarm` (and, when `account` is given, that
/// live in that account) watch `target` in the alarm's own account and region.
#[derive(Debug, Clone)]
pub struct WatchRule {
    pub alarm: Regex,
    pub account: Option<String>,
    pub target: WatchTarget,
}

/// What an alarm watches: the ECS service its metrics' `ClusterName` and `ServiceName`
/// dimensions name, and every watch rule's target whose pattern matches its name or, for a
/// composite alarm, the name of an alarm its rule reads.
pub fn targets_watched(a: &AlarmState, rules: &[WatchRule]) -> Vec<WatchTarget> {
    let mut out: Vec<WatchTarget> = Vec::new();
    if let (Some(c), Some(s)) = (
        a.dimensions.get("ClusterName"),
        a.dimensions.get("ServiceName"),
    ) {
        out.push(WatchTarget::Service {
            cluster: c.clone(),
            service: s.clone(),
        });
    }
    let children = a.alarm_rule.as_deref().map(rule_alarms).unwrap_or_default();
    for r in rules {
        if r.account.as_ref().is_some_and(|x| *x != a.meta.account) {
            continue;
        }
        let hit = r.alarm.is_match(&a.alarm_name) || children.iter().any(|c| r.alarm.is_match(c));
        if hit && !out.contains(&r.target) {
            out.push(r.target.clone());
        }
    }
    out
}

/// The alarms a composite alarm's rule reads: the arguments of `ALARM(...)`, `OK(...)` and
/// `INSUFFICIENT_DATA(...)`, by name (quotes dropped; an ARN's last part).
pub fn rule_alarms(rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = rule;
    while let Some(open) = rest.find('(') {
        let head = rest[..open].trim_end();
        let func = head
            .rsplit(|c: char| !(c.is_ascii_alphabetic() || c == '_'))
            .next()
            .unwrap_or_default();
        rest = &rest[open + 1..];
        if !matches!(func, "ALARM" | "OK" | "INSUFFICIENT_DATA") {
            continue;
        }
        let Some(close) = rest.find(')') else {
            break;
        };
        let arg = rest[..close].trim().trim_matches('"').trim();
        let name = arg.rsplit_once(":alarm:").map_or(arg, |(_, n)| n);
        if !name.is_empty() && !out.iter().any(|o| o == name) {
            out.push(name.to_owned());
        }
        rest = &rest[close + 1..];
    }
    out
}

/// An alarm's state change as a deployment keeps it (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AlarmObs {
    pub at: i64,
    pub name: String,
    pub state: String,
}

/// What a deployment's thread keeps for its verdict: the state changes of the alarms watching
/// its target, its watch window, and whether that window's timer fired.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Watch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmObs>,
    /// `[verdicts] watch_secs` when an event was applied; `None`: not watched (a pipeline no
    /// `[[verdicts.watch]]` rule names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_secs: Option<i64>,
    /// The window's timer fired: a quiet window is a HEALTHY verdict.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub watched: bool,
}

impl Watch {
    pub fn is_empty(&self) -> bool {
        self.alarms.is_empty() && self.watch_secs.is_none() && !self.watched
    }

    /// When the window's timer fires, while it is not over: `watch_secs` after the deployment
    /// was known to have succeeded (`final_since`, processing time, as other timers: a backlog
    /// of old events does not end a window before its alarms are read). Which alarms are
    /// blamed is decided on the events' own times.
    pub fn due(&self, final_since: Option<i64>, succeeded: bool) -> Option<i64> {
        let w = self.watch_secs.filter(|w| *w > 0)?;
        if self.watched || !succeeded {
            return None;
        }
        final_since.map(|f| f.saturating_add(w))
    }

    /// [`judge`] of what is kept.
    pub fn judge(
        &self,
        start: Option<i64>,
        end: Option<i64>,
        succeeded: bool,
    ) -> (Vec<n::DeployAlarm>, Option<n::Verdict>) {
        judge(
            &self.alarms,
            start,
            end,
            succeeded,
            self.watch_secs.unwrap_or(0),
            self.watched,
        )
    }
}

/// State changes a deployment keeps at most (the oldest go first).
pub const OBS_KEPT: usize = 32;

/// Keeps `o` in time order; true if it was new.
pub fn observe(obs: &mut Vec<AlarmObs>, a: &AlarmState) -> bool {
    let Some(at) = a.meta.time.map(|t| t.timestamp()) else {
        return false;
    };
    let o = AlarmObs {
        at,
        name: a.alarm_name.clone(),
        state: a.state.clone(),
    };
    match obs.binary_search(&o) {
        Ok(_) => false,
        Err(i) => {
            obs.insert(i, o);
            if obs.len() > OBS_KEPT {
                obs.remove(0);
            }
            true
        }
    }
}

/// What a deployment's message says of the alarms watching its target, and its verdict.
/// `start`/`end`: the deployment's times; `succeeded`: it completed without failing;
/// `watched`: its watch window's timer fired.
pub fn judge(
    obs: &[AlarmObs],
    start: Option<i64>,
    end: Option<i64>,
    succeeded: bool,
    watch_secs: i64,
    watched: bool,
) -> (Vec<n::DeployAlarm>, Option<n::Verdict>) {
    let mut names: Vec<&str> = obs.iter().map(|o| o.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let horizon = end.map(|e| e.saturating_add(watch_secs.max(0)));
    let mut alarms = Vec::new();
    // (fired, name, after_secs) of what the deployment is blamed for.
    let mut blamed: Vec<(i64, String, i64)> = Vec::new();
    for name in names {
        let mine = obs.iter().filter(|o| o.name == name);
        // Firings: an ALARM after anything else (or first), until the next state that is not.
        let mut firings: Vec<(i64, Option<i64>)> = Vec::new();
        let mut alarming = false;
        for o in mine {
            let is_alarm = o.state == "ALARM";
            if is_alarm && !alarming {
                firings.push((o.at, None));
            } else if !is_alarm && alarming {
                if let Some(f) = firings.last_mut() {
                    f.1 = Some(o.at);
                }
            }
            alarming = is_alarm;
        }
        for (fired, cleared) in firings {
            let phase = match (start, end) {
                (Some(s), _) if fired < s => {
                    if cleared.is_some_and(|c| c <= s) {
                        continue;
                    }
                    "before"
                }
                (_, Some(e)) if fired >= e => {
                    if horizon.is_some_and(|h| fired > h) {
                        continue;
                    }
                    "after"
                }
                _ => "during",
            };
            let after_secs = end.filter(|_| phase == "after").map(|e| fired - e);
            let still_on_at_end = end.is_some_and(|e| cleared.is_none_or(|c| c > e));
            if phase == "after" || (phase == "during" && still_on_at_end) {
                blamed.push((fired, name.to_owned(), after_secs.unwrap_or(0)));
            }
            alarms.push(n::DeployAlarm {
                name: name.to_owned(),
                phase: phase.into(),
                fired_at: DateTime::from_timestamp(fired, 0),
                cleared_at: cleared.and_then(|c| DateTime::from_timestamp(c, 0)),
                after_secs,
            });
        }
    }
    alarms.sort_by(|a, b| (a.fired_at, &a.name).cmp(&(b.fired_at, &b.name)));
    let verdict = match end {
        Some(e) if succeeded && watch_secs > 0 => Some(if !blamed.is_empty() {
            blamed.sort();
            let mut names: Vec<String> = Vec::new();
            for (_, n, _) in &blamed {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
            n::Verdict {
                status: verdict_status::UNHEALTHY.into(),
                alarms: names,
                after_secs: blamed.iter().map(|(_, _, a)| *a).min(),
                watched_secs: None,
                aws_health: Vec::new(),
                until: None,
            }
        } else if watched {
            n::Verdict {
                status: verdict_status::HEALTHY.into(),
                alarms: Vec::new(),
                after_secs: None,
                watched_secs: Some(watch_secs),
                aws_health: Vec::new(),
                until: None,
            }
        } else {
            n::Verdict {
                status: verdict_status::WATCHING.into(),
                alarms: Vec::new(),
                after_secs: None,
                watched_secs: None,
                aws_health: Vec::new(),
                until: DateTime::from_timestamp(e.saturating_add(watch_secs), 0),
            }
        }),
        _ => None,
    };
    (alarms, verdict)
}

/// Where a pointer sends what concerns an alarm or a deployment: a deployment of its target
/// (by id: its thread is the pointer's member) or an alarm's thread (by key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Deploy(String),
    Alarm(String),
}

/// Alarm state changes a pointer keeps (the oldest are let go).
const MAX_ALARM_MARKS: usize = 32;

/// Whether an alarm state change at `t` concerns deployment `d`: from
/// `OPEN_DEPLOYMENT_SECS` before it started to `watch_secs` after it ended (or, not ended,
/// that long after it started). A clearing (`alarm_on` false) is sent `OPEN_DEPLOYMENT_SECS`
/// longer, so an alarm that fired in the window is seen to clear after it.
fn concerns(d: &LinkedDeploy, t: i64, watch_secs: i64, alarm_on: bool) -> bool {
    // A deployment whose start was not heard of is placed by its end.
    let Some(s) = d.started.or(d.ended) else {
        return false;
    };
    let until = match d.ended {
        Some(e) => e.saturating_add(watch_secs.max(0)),
        None => s.saturating_add(OPEN_SECS),
    };
    let until = if alarm_on {
        until
    } else {
        until.saturating_add(OPEN_SECS)
    };
    t >= s.saturating_sub(OPEN_SECS) && t <= until
}

/// The deployments an alarm whose latest change was at `t` is told of (the newest few): as for
/// a clearing, so an alarm that cleared after a deployment's window still learns how the
/// deployment it fired during ended.
fn linked(deploys: &[LinkedDeploy], t: i64, watch_secs: i64) -> Vec<LinkedDeploy> {
    let mut out: Vec<LinkedDeploy> = deploys
        .iter()
        .filter(|d| concerns(d, t, watch_secs, false))
        .cloned()
        .collect();
    out.sort_by_key(|d| std::cmp::Reverse(d.started));
    out.truncate(LINKED_KEPT);
    out
}

fn link_event(deploys: &[LinkedDeploy], name: &str, t: i64, watch_secs: i64) -> Event {
    Event::DeployLink(DeployLink {
        meta: Meta::default(),
        alarm_name: name.to_owned(),
        watch_secs,
        deployments: linked(deploys, t, watch_secs),
    })
}

/// An alarm watching a pointer's target changed state (`ev`, its event; `key`, its thread):
/// kept in `marks`, sent to every deployment its time concerns, and those deployments are told
/// to the alarm's thread. True (second) if `marks` changed.
pub fn route_alarm(
    marks: &mut Vec<AlarmMark>,
    deploys: &[LinkedDeploy],
    a: &AlarmState,
    ev: &Event,
    key: &str,
    watch_secs: i64,
) -> (Vec<(Link, Event)>, bool) {
    let Some(t) = a.meta.time.map(|t| t.timestamp()) else {
        return (Vec::new(), false);
    };
    let mark = AlarmMark {
        at: t,
        key: key.to_owned(),
        name: a.alarm_name.clone(),
        state: a.state.clone(),
    };
    let changed = match marks.binary_search(&mark) {
        Ok(_) => false,
        Err(i) => {
            marks.insert(i, mark);
            if marks.len() > MAX_ALARM_MARKS {
                marks.remove(0);
            }
            true
        }
    };
    let mut out: Vec<(Link, Event)> = deploys
        .iter()
        .filter(|d| concerns(d, t, watch_secs, a.state == "ALARM"))
        .map(|d| (Link::Deploy(d.deployment_id.clone()), ev.clone()))
        .collect();
    out.push((
        Link::Alarm(key.to_owned()),
        link_event(deploys, &a.alarm_name, t, watch_secs),
    ));
    (out, changed)
}

/// After news of a pointer's deployments: every deployment in `new` (heard of just now) is
/// given the alarm state changes kept, and every alarm kept is told of the deployments again
/// (one ending releases an alarm held while it ran).
pub fn alarm_news(
    marks: &[AlarmMark],
    deploys: &[LinkedDeploy],
    new: &[String],
    account: &str,
    region: &str,
    watch_secs: i64,
) -> Vec<(Link, Event)> {
    let mut out = Vec::new();
    if marks.is_empty() {
        return out;
    }
    for d in new {
        for m in marks {
            out.push((
                Link::Deploy(d.clone()),
                Event::AlarmState(AlarmState {
                    meta: Meta {
                        id: None,
                        account: account.to_owned(),
                        region: region.to_owned(),
                        time: DateTime::from_timestamp(m.at, 0),
                    },
                    alarm_name: m.name.clone(),
                    state: m.state.clone(),
                    previous_state: None,
                    reason: None,
                    description: None,
                    alarm_arn: None,
                    dimensions: Default::default(),
                    alarm_rule: None,
                }),
            ));
        }
    }
    // Each alarm's latest change (marks are in time order).
    let mut latest: Vec<&AlarmMark> = Vec::new();
    for m in marks.iter().rev() {
        if !latest.iter().any(|l| l.key == m.key) {
            latest.push(m);
        }
    }
    for m in latest {
        out.push((
            Link::Alarm(m.key.clone()),
            link_event(deploys, &m.name, m.at, watch_secs),
        ));
    }
    out
}

/// `dg#account#region#application#group`: a CodeDeploy deployment group's recent deployments,
/// for the alarms that watch it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupPointer {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deploys: Vec<LinkedDeploy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmMark>,
}

/// Deployments a group pointer follows (the oldest are let go).
const GROUP_DEPLOYS_KEPT: usize = 20;

impl GroupPointer {
    /// Learns a deployment's start and end from its state change; true if anything changed.
    pub fn observe(&mut self, d: &crate::event::DeploymentState) -> bool {
        let at = d.meta.time.map(|t| t.timestamp());
        let i = match self
            .deploys
            .iter()
            .position(|k| k.deployment_id == d.deployment_id)
        {
            Some(i) => i,
            None => {
                self.deploys.push(LinkedDeploy {
                    kind: n::Kind::Deployment.as_str().to_owned(),
                    target: format!("{}/{}", d.application, d.deployment_group),
                    deployment_id: d.deployment_id.clone(),
                    started: None,
                    ended: None,
                    failed: false,
                    by: None,
                });
                self.deploys.len() - 1
            }
        };
        let k = &mut self.deploys[i];
        let before = k.clone();
        match d.state.as_str() {
            "START" | "CREATED" if at.is_some() && (k.started.is_none() || at < k.started) => {
                k.started = at;
            }
            "SUCCESS" | "FAILURE" | "STOP" if at.is_some() => {
                k.ended = at;
                k.failed = d.state != "SUCCESS";
            }
            _ => {}
        }
        let changed = *k != before || before.started.is_none() && before.ended.is_none();
        if self.deploys.len() > GROUP_DEPLOYS_KEPT {
            self.deploys.sort_by_key(|k| std::cmp::Reverse(k.started));
            self.deploys.truncate(GROUP_DEPLOYS_KEPT);
        }
        changed
    }
}

/// Deployments an alarm thread keeps at most (the oldest go first).
pub const LINKED_KEPT: usize = 8;

/// Merges what a service pointer says of deployments into what an alarm thread knows; true if
/// anything changed. Starts keep the earliest, ends the latest (a rollback's completion comes
/// after the failure), `failed` and `by` once known stay.
pub fn merge_links(known: &mut Vec<LinkedDeploy>, watch: &mut i64, link: &DeployLink) -> bool {
    let mut changed = false;
    if *watch != link.watch_secs {
        *watch = link.watch_secs;
        changed = true;
    }
    for d in &link.deployments {
        let same = |k: &&mut LinkedDeploy| {
            k.deployment_id == d.deployment_id && k.kind == d.kind && k.target == d.target
        };
        match known.iter_mut().find(same) {
            Some(k) => {
                let before = k.clone();
                if d.started.is_some() && (k.started.is_none() || d.started < k.started) {
                    k.started = d.started;
                }
                if d.ended.is_some() && d.ended > k.ended {
                    k.ended = d.ended;
                }
                k.failed |= d.failed;
                if k.by.is_none() {
                    k.by = d.by.clone();
                }
                changed |= *k != before;
            }
            None => {
                known.push(d.clone());
                changed = true;
            }
        }
    }
    if known.len() > LINKED_KEPT {
        known.sort_by_key(|k| std::cmp::Reverse(k.started));
        known.truncate(LINKED_KEPT);
    }
    changed
}

/// A deployment that has not ended this long after it started is taken as over (see
/// `pointer::OPEN_DEPLOYMENT_SECS`).
const OPEN_SECS: i64 = super::pointer::OPEN_DEPLOYMENT_SECS;

/// The deployment an alarm episode that opened at `opened` names, and whether the alarm is
/// held: the newest linked deployment that started by then and either ran then or ended at
/// most `watch_secs` before. Held while that deployment runs, and for good when the alarm
/// cleared (at `closed`) before it ended.
pub fn deployment_of(
    known: &[LinkedDeploy],
    watch_secs: i64,
    opened: Option<i64>,
    closed: Option<i64>,
) -> (Option<n::DeploymentRef>, Option<n::Held>) {
    let Some(at) = opened.or(closed) else {
        return (None, None);
    };
    let running = |d: &LinkedDeploy| {
        d.started.is_some_and(|s| s <= at && at - s <= OPEN_SECS) && d.ended.is_none_or(|e| at < e)
    };
    let recent = |d: &LinkedDeploy| {
        d.started.is_some_and(|s| s <= at)
            && d.ended
                .is_some_and(|e| e <= at && at - e <= watch_secs.max(0))
    };
    let Some(d) = known
        .iter()
        .filter(|d| running(d) || recent(d))
        .max_by_key(|d| (d.started, &d.deployment_id))
    else {
        return (None, None);
    };
    let during = running(d);
    let status = match (d.ended, d.failed) {
        (None, _) => n::status::IN_PROGRESS,
        (Some(_), true) => n::status::FAILED,
        (Some(_), false) => n::status::SUCCEEDED,
    };
    let after_secs = match (during, d.started, d.ended) {
        (true, Some(s), _) => Some(at - s),
        (false, _, Some(e)) => Some(at - e),
        _ => None,
    };
    // A pipeline runs long before it deploys (source, build, approvals): its alarms are not
    // held for it, only named.
    let holds = d.kind != n::Kind::Pipeline.as_str();
    let held = match (during && holds, d.ended) {
        (true, None) => Some("deploying"),
        (true, Some(e)) if closed.is_some_and(|c| c <= e) => Some("cleared_while_deploying"),
        _ => None,
    }
    .map(|reason| n::Held {
        reason: reason.into(),
        deployment_id: d.deployment_id.clone(),
    });
    let r = n::DeploymentRef {
        kind: d.kind.clone(),
        target: d.target.clone(),
        deployment_id: d.deployment_id.clone(),
        status: status.into(),
        by: d.by.clone(),
        started_at: d.started.and_then(|s| DateTime::from_timestamp(s, 0)),
        finished_at: d.ended.and_then(|e| DateTime::from_timestamp(e, 0)),
        after_secs,
        during,
    };
    (Some(r), held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Meta;

    fn obs(at: i64, name: &str, state: &str) -> AlarmObs {
        AlarmObs {
            at,
            name: name.into(),
            state: state.into(),
        }
    }

    #[test]
    fn a_composite_rule_names_the_alarms_it_reads() {
        assert_eq!(
            rule_alarms(
                r#"ALARM("api-5xx") OR (OK(arn:aws:cloudwatch:eu-west-1:1:alarm:cpu) AND NOT INSUFFICIENT_DATA(mem))"#
            ),
            vec!["api-5xx", "cpu", "mem"]
        );
        assert_eq!(rule_alarms("TRUE"), Vec::<String>::new());
        assert_eq!(rule_alarms("ALARM(unclosed"), Vec::<String>::new());
    }

    #[test]
    fn dimensions_and_rules_link_an_alarm_to_services() {
        let mut a = AlarmState {
            meta: Meta {
                account: "111".into(),
                ..Meta::default()
            },
            alarm_name: "gw-5xx".into(),
            state: "ALARM".into(),
            previous_state: None,
            reason: None,
            description: None,
            alarm_arn: None,
            dimensions: [
                ("ClusterName".to_string(), "prod".to_string()),
                ("ServiceName".to_string(), "gateway".to_string()),
            ]
            .into(),
            alarm_rule: None,
        };
        let svc = |s: &str| WatchTarget::Service {
            cluster: "prod".into(),
            service: s.into(),
        };
        let rule = |re: &str, account: Option<&str>, s: &str| WatchRule {
            alarm: Regex::new(re).expect("a valid pattern"),
            account: account.map(str::to_owned),
            target: svc(s),
        };
        let rules = [
            rule("^gw-", None, "gateway"),
            rule("^gw-", Some("222"), "edge"),
            rule("5xx$", Some("111"), "api"),
        ];
        assert_eq!(
            targets_watched(&a, &rules),
            vec![svc("gateway"), svc("api")]
        );
        a.dimensions.clear();
        a.alarm_name = "composite".into();
        a.alarm_rule = Some("ALARM(gw-latency)".into());
        assert_eq!(targets_watched(&a, &rules), vec![svc("gateway")]);
    }

    #[test]
    fn the_verdict_blames_what_fires_in_the_window_and_not_what_was_firing_before() {
        // Deployment 1000..1200, window 900 s.
        let o = [
            obs(500, "old", "ALARM"),
            obs(1100, "blip", "ALARM"),
            obs(1150, "blip", "OK"),
            obs(1500, "5xx", "ALARM"),
            obs(3000, "late", "ALARM"),
        ];
        let (alarms, v) = judge(&o, Some(1000), Some(1200), true, 900, false);
        let phases: Vec<(&str, &str)> = alarms
            .iter()
            .map(|a| (a.name.as_str(), a.phase.as_str()))
            .collect();
        assert_eq!(
            phases,
            vec![("old", "before"), ("blip", "during"), ("5xx", "after")]
        );
        let v = v.unwrap_or_else(|| panic!("no verdict"));
        assert_eq!(v.status, "UNHEALTHY");
        assert_eq!(v.alarms, vec!["5xx"]);
        assert_eq!(v.after_secs, Some(300));

        // Quiet: watching, then healthy once the timer fired.
        let quiet = [obs(500, "old", "ALARM"), obs(600, "old", "OK")];
        let (alarms, v) = judge(&quiet, Some(1000), Some(1200), true, 900, false);
        assert!(alarms.is_empty());
        assert_eq!(v.as_ref().map(|v| v.status.as_str()), Some("WATCHING"));
        let (_, v) = judge(&quiet, Some(1000), Some(1200), true, 900, true);
        assert_eq!(v.as_ref().map(|v| v.status.as_str()), Some("HEALTHY"));
        assert_eq!(v.and_then(|v| v.watched_secs), Some(900));

        // Fired during the deployment and still in ALARM at its end: blamed, 0 s after.
        let on = [obs(1100, "5xx", "ALARM")];
        let (_, v) = judge(&on, Some(1000), Some(1200), true, 900, false);
        assert_eq!(v.as_ref().map(|v| v.after_secs), Some(Some(0)));
        // A failed deployment, or one still running, has no verdict.
        assert!(judge(&on, Some(1000), Some(1200), false, 900, true)
            .1
            .is_none());
        assert!(judge(&on, Some(1000), None, true, 900, true).1.is_none());
        // Verdicts off.
        assert!(judge(&on, Some(1000), Some(1200), true, 0, true)
            .1
            .is_none());
    }

    #[test]
    fn an_alarm_is_held_while_its_target_deploys_and_told_if_still_on_at_the_end() {
        let d = |ended: Option<i64>| LinkedDeploy {
            kind: "ecs_deployment".into(),
            target: "prod/gw".into(),
            deployment_id: "ecs-svc/1".into(),
            started: Some(1000),
            ended,
            failed: false,
            by: Some("bob".into()),
        };
        let (r, held) = deployment_of(&[d(None)], 900, Some(1100), None);
        assert_eq!(held.map(|h| h.reason), Some("deploying".into()));
        assert_eq!(r.as_ref().map(|r| r.during), Some(true));
        let (_, held) = deployment_of(&[d(Some(1200))], 900, Some(1100), Some(1150));
        assert_eq!(
            held.map(|h| h.reason),
            Some("cleared_while_deploying".into())
        );
        let (r, held) = deployment_of(&[d(Some(1200))], 900, Some(1100), None);
        assert!(held.is_none());
        assert_eq!(r.map(|r| r.status), Some("SUCCEEDED".into()));
        let (r, held) = deployment_of(&[d(Some(1200))], 900, Some(1380), None);
        assert!(held.is_none());
        let r = r.unwrap_or_else(|| panic!("no deployment named"));
        assert_eq!(
            (r.after_secs, r.during, r.by),
            (Some(180), false, Some("bob".into()))
        );
        // A CodeDeploy deployment holds its alarms too; a pipeline execution only is named.
        let kind = |k: &str| LinkedDeploy {
            kind: k.into(),
            ..d(None)
        };
        let (_, held) = deployment_of(&[kind("deployment")], 900, Some(1100), None);
        assert_eq!(held.map(|h| h.reason), Some("deploying".into()));
        let (r, held) = deployment_of(&[kind("pipeline")], 900, Some(1100), None);
        assert!(held.is_none());
        assert_eq!(r.map(|r| r.during), Some(true));
        // Past the window, or before the deployment: none.
        assert!(deployment_of(&[d(Some(1200))], 900, Some(2200), None)
            .0
            .is_none());
        assert!(deployment_of(&[d(Some(1200))], 900, Some(900), None)
            .0
            .is_none());
    }
}
