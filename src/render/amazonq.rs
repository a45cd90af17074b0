//! Amazon Q Developer in chat applications (formerly AWS Chatbot): a notification as its custom
//! notification schema, version 1.0, published to SNS. `metadata.threadId` groups every message
//! of one thread into one chat thread; `metadata.additionalContext` carries the thread's keys for
//! custom actions.
//!
//! The schema documents no length limits; the caps below keep each part within what a Slack
//! section shows (Amazon Q renders `description` into one), so nothing is cut by the service.

use super::slack::{esc, fit};
use super::{
    duration, first_line, log_caption, log_fitting, short_sha, status_label, test_lines, who,
};
use super::{status_emoji, truncate};
use crate::notification::{status, Notification};
use serde_json::{json, Map, Value};

pub const TITLE_MAX: usize = 250;
pub const DESCRIPTION_MAX: usize = 3000;
pub const SUMMARY_MAX: usize = 250;
pub const NEXT_STEPS_MAX: usize = 5;
pub const NEXT_STEP_MAX: usize = 300;
pub const KEYWORDS_MAX: usize = 10;
pub const KEYWORD_MAX: usize = 50;
pub const RELATED_MAX: usize = 10;
const LOG_LINE_MAX: usize = 200;
const LOG_TAIL_MAX: usize = 1200;

/// The SNS message body. `thread` is the delivery's thread id: every message of one thread shares
/// it, so Amazon Q posts updates as replies in one chat thread.
pub fn render(n: &Notification, thread: &str) -> Value {
    json!({
        "version": "1.0",
        "source": "custom",
        // Unique per state of the thread: a redelivered publish carries the same id.
        "id": format!("{thread}#{}{}", n.status, if n.is_final { "#final" } else { "" }),
        "content": {
            "textType": "client-markdown",
            "title": truncate(&format!("{} {}", status_emoji(&n.status), n.title), TITLE_MAX),
            "description": description(n),
            "nextSteps": next_steps(n),
            "keywords": keywords(n),
        },
        "metadata": {
            "threadId": thread,
            "summary": truncate(
                &format!("{}: {}", status_label(&n.status), n.title),
                SUMMARY_MAX
            ),
            "eventType": event_type(n),
            "relatedResources": related(n),
            "additionalContext": additional_context(n),
        },
    })
}

/// `pipeline`, `ecs-deployment`, …: custom action notification types allow `[a-zA-Z0-9-]` only.
fn event_type(n: &Notification) -> String {
    n.kind.as_str().replace('_', "-")
}

fn description(n: &Notification) -> String {
    let mut lines = vec![format!(
        "*{}* · {} · {}",
        esc(&status_label(&n.status)),
        esc(&who(n)),
        esc(&n.region)
    )];
    if let Some(d) = n.duration_secs {
        lines.push(format!("*Duration:* {}", duration(d)));
    }
    if let Some(t) = &n.trigger {
        lines.push(format!("*Trigger:* {}", esc(&truncate(t, 200))));
    }
    if !n.stages.is_empty() {
        let s: Vec<String> = n
            .stages
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    status_emoji(&s.status),
                    esc(&truncate(&s.name, 100))
                )
            })
            .collect();
        lines.push(s.join(" → "));
    }
    if let Some(c) = &n.commit {
        let mut l = "*Commit:*".to_string();
        if let Some(id) = &c.id {
            l.push_str(&format!(" `{}`", esc(short_sha(id))));
        }
        if let Some(b) = &c.branch {
            l.push_str(&format!(" on `{}`", esc(&truncate(b, 100))));
        }
        if let Some(a) = &c.author {
            l.push_str(&format!(" by {}", esc(&truncate(a, 100))));
        }
        if let Some(m) = &c.message {
            l.push_str(&format!(" — {}", esc(&truncate(first_line(m), 200))));
        }
        lines.push(l);
    }
    let mut tail = None;
    if let Some(f) = &n.failure {
        if let Some(stage) = &f.stage {
            lines.push(format!(
                "*Failed in stage* `{}`",
                esc(&truncate(stage, 100))
            ));
        }
        if let Some(r) = &f.reason {
            lines.push(format!("*Reason:* {}", esc(&truncate(r, 600))));
        }
        for a in f.actions.iter().take(5) {
            let mut l = format!("❌ *{}*", esc(&truncate(&a.action, 100)));
            if let Some(c) = &a.error_code {
                l.push_str(&format!(" `{}`", esc(&truncate(c, 60))));
            }
            if let Some(r) = &a.reason {
                l.push_str(&format!(": {}", esc(&truncate(r, 300))));
            }
            lines.push(l);
            lines.extend(test_lines(a, 5, 200, esc));
            if tail.is_none() && !a.log_tail.is_empty() {
                tail = Some(a);
            }
        }
        if f.actions.len() > 5 {
            lines.push(format!("…and {} more failed actions", f.actions.len() - 5));
        }
    }
    if let Some(a) = &n.approval {
        let mut l = format!(
            "⏸️ *Approval needed* at `{}` / `{}`",
            esc(&truncate(&a.stage, 100)),
            esc(&truncate(&a.action, 100))
        );
        if let Some(c) = &a.custom_data {
            l.push_str(&format!(": {}", esc(&truncate(c, 300))));
        }
        if let Some(e) = &a.expires {
            l.push_str(&format!(" (expires {})", e.format("%Y-%m-%d %H:%M UTC")));
        }
        lines.push(l);
    }
    if let Some(l) = super::stall_line(n) {
        lines.push(esc(&l));
    }
    if let Some(l) = super::reminder_line(n) {
        lines.push(esc(&l));
    }
    if let Some(l) = super::health_line(n) {
        lines.push(esc(&l));
    }
    for l in super::verdict_lines(n) {
        lines.push(esc(&l));
    }
    for l in super::acted_lines(n, |u| u.to_owned()) {
        lines.push(esc(&l));
    }
    for w in n.warnings.iter().take(5) {
        lines.push(format!("⚠️ {}", esc(&truncate(w, 300))));
    }
    let mut out = fit(&lines.join("\n"), DESCRIPTION_MAX);
    if let Some(a) = tail {
        let estimate = log_caption(a.log_region.as_ref(), a.log_tail.len())
            .map(|c| format!("\n_{c}_"))
            .unwrap_or_default();
        let room = DESCRIPTION_MAX
            .saturating_sub(out.chars().count() + estimate.chars().count() + 40)
            .min(LOG_TAIL_MAX);
        let (kept, note) = log_fitting(
            &a.log_tail,
            a.log_region.as_ref(),
            room,
            LOG_LINE_MAX,
            |l| esc(&l.replace("```", "'''")),
        );
        let caption = log_caption(a.log_region.as_ref(), kept.len())
            .map(|c| format!("\n_{c}_"))
            .unwrap_or_default();
        if !kept.is_empty() {
            let note = note.map(|n| n + "\n").unwrap_or_default();
            out.push_str(&format!("{caption}\n```\n{note}{}\n```", kept.join("\n")));
        }
    }
    out
}

/// What to do next, as links the reader can click (Slack link syntax, which Amazon Q passes on).
fn next_steps(n: &Notification) -> Vec<String> {
    let mut steps = Vec::new();
    if let Some(a) = &n.approval {
        if let Some(u) = &a.review_link {
            steps.push(format!(
                "Review the approval: {}",
                link(u, "approve or reject")
            ));
        }
    }
    if let Some(f) = &n.failure {
        for a in &f.actions {
            if let Some(u) = &a.log_url {
                steps.push(format!(
                    "Read the logs of {}: {}",
                    esc(&truncate(&a.action, 60)),
                    link(u, "logs")
                ));
            }
        }
    }
    if let Some(c) = &n.commit {
        if let (Some(id), Some(u)) = (&c.id, &c.url) {
            steps.push(format!("See the commit: {}", link(u, short_sha(id))));
        }
    }
    for l in &n.links {
        steps.push(format!(
            "{}: {}",
            esc(&truncate(&l.label, 60)),
            link(&l.url, "open")
        ));
    }
    steps
        .into_iter()
        .filter(|s| s.chars().count() <= NEXT_STEP_MAX)
        .take(NEXT_STEPS_MAX)
        .collect()
}

pub(crate) fn link(url: &str, label: &str) -> String {
    let url = url
        .replace('|', "%7C")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace(' ', "%20");
    format!("<{url}|{}>", esc(label))
}

fn keywords(n: &Notification) -> Vec<String> {
    let mut k = vec![n.status.clone(), n.kind.as_str().to_string()];
    k.extend(n.account_alias.clone());
    k.push(n.region.clone());
    for v in [
        &n.pipeline,
        &n.project,
        &n.application,
        &n.service,
        &n.alarm_name,
    ]
    .into_iter()
    .flatten()
    {
        k.push(v.clone());
    }
    k.into_iter()
        .map(|s| truncate(&s, KEYWORD_MAX).into_owned())
        .take(KEYWORDS_MAX)
        .collect()
}

fn related(n: &Notification) -> Vec<String> {
    [
        &n.execution_id,
        &n.build_id,
        &n.deployment_id,
        &n.cluster,
        &n.service,
        &n.alarm_name,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .chain(
        n.failure
            .iter()
            .flat_map(|f| f.actions.iter().filter_map(|a| a.external_id.clone())),
    )
    .take(RELATED_MAX)
    .collect()
}

/// String values only: custom actions read these as variables.
/// Which custom actions fit the thread's state now: `approval` (an approval waiting, with its
/// token), `deploy_ready` (a CodeDeploy deployment READY), `deploy_running` (one in progress).
fn action_group(n: &Notification) -> Option<&'static str> {
    let offered = |id: &str| n.actions.iter().any(|a| a.id == id);
    if offered("approve") && n.approval.as_ref().is_some_and(|a| a.token.is_some()) {
        Some("approval")
    } else if offered("continue_deployment") {
        Some("deploy_ready")
    } else if offered("stop_deployment") {
        Some("deploy_running")
    } else {
        None
    }
}

fn additional_context(n: &Notification) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_string(), json!(v));
        }
    };
    put("account", &Some(n.account.clone()));
    put("accountAlias", &n.account_alias);
    put("region", &Some(n.region.clone()));
    put("kind", &Some(n.kind.as_str().to_string()));
    put("status", &Some(n.status.clone()));
    put("final", &Some(n.is_final.to_string()));
    put("pipeline", &n.pipeline);
    put("executionId", &n.execution_id);
    put("project", &n.project);
    put("buildId", &n.build_id);
    put("application", &n.application);
    put("deploymentGroup", &n.deployment_group);
    put("deploymentId", &n.deployment_id);
    put("cluster", &n.cluster);
    put("service", &n.service);
    put("alarmName", &n.alarm_name);
    if let Some(f) = &n.failure {
        put("failedStage", &f.stage);
    }
    put("verdict", &n.verdict.as_ref().map(|v| v.status.clone()));
    // What people can do, for the custom actions of deploy/cloudformation/amazonq-actions.yaml
    // (their criteria test `actionGroup`; their commands read the ids and the token).
    if !n.actions.is_empty() {
        let ids: Vec<&str> = n.actions.iter().map(|a| a.id.as_str()).collect();
        put("actions", &Some(ids.join(",")));
    }
    put("actionGroup", &action_group(n).map(str::to_owned));
    if let Some(a) = n
        .approval
        .as_ref()
        .filter(|_| n.status == status::WAITING_FOR_APPROVAL)
    {
        put("approvalStage", &Some(a.stage.clone()));
        put("approvalAction", &Some(a.action.clone()));
        put("approvalToken", &a.token);
    }
    if let Some(d) = &n.deployment {
        put("afterDeploymentId", &Some(d.deployment_id.clone()));
        put("afterDeploymentTarget", &Some(d.target.clone()));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{status, FailedActionInfo, Failure, Kind};

    #[test]
    fn schema_fields_and_caps() {
        let n = Notification {
            stalled: false,
            stalled_since: None,
            stalled_for_secs: None,
            reminder: None,
            principal: None,
            invoked_by: None,
            desired_count: None,
            crashes: None,
            last_crash: None,
            health: None,
            verdict: None,
            alarms: Vec::new(),
            deployment: None,
            aws_health: Vec::new(),
            held: None,
            actions: vec![],
            acted: vec![],
            muted: None,
            kind: Kind::EcsDeployment,
            status: status::FAILED.into(),
            is_final: false,
            account: "1".into(),
            account_alias: None,
            region: "r".into(),
            pipeline: None,
            execution_id: None,
            project: None,
            build_id: None,
            application: None,
            deployment_group: None,
            deployment_id: Some("ecs-svc/1".into()),
            cluster: Some("c".into()),
            service: Some("s".into()),
            alarm_name: None,
            title: "x".repeat(1000),
            started_at: None,
            finished_at: None,
            duration_secs: None,
            trigger: None,
            commit: None,
            stages: vec![],
            failure: Some(Failure {
                stage: None,
                reason: Some("<r>".repeat(3000)),
                actions: vec![FailedActionInfo {
                    action: "a".into(),
                    log_tail: vec!["l".repeat(100); 100],
                    ..Default::default()
                }],
            }),
            approval: None,
            warnings: vec![],
            links: vec![],
        };
        let v = render(&n, "t-1");
        assert_eq!(v["metadata"]["threadId"], "t-1");
        assert_eq!(v["metadata"]["eventType"], "ecs-deployment");
        assert_eq!(v["content"]["textType"], "client-markdown");
        assert!(v["content"]["title"].as_str().unwrap().chars().count() <= TITLE_MAX);
        let d = v["content"]["description"].as_str().unwrap();
        assert!(
            d.chars().count() <= DESCRIPTION_MAX,
            "{}",
            d.chars().count()
        );
        assert!(!d.contains("<r>"));
        assert_eq!(v["metadata"]["additionalContext"]["final"], "false");
    }
}
