//! What enrichment learned about one thread ([`Enrichment`], stored with the thread so it is
//! never fetched twice) and how it is added to a notification ([`apply`], pure). The calls that
//! learn it are in [`crate::enrich`]; this model sits by the notification so that the store
//! and the correlator can hold it without depending on them.

use super::{status, Commit, FailedActionInfo, FailedTest, Failure, Kind, LogRegion, Notification};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything enrichment learned about one thread. Stored by the caller in the thread's item;
/// [`Enricher::enrich`](crate::enrich::Enricher::enrich) applies it without calling again when it covers
/// the thread's current failure.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Enrichment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The commit as the APIs and the git provider told it (fills what the events lacked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// `GetPipelineExecution` answered with a revision or a final state: not asked again.
    #[serde(default)]
    pub commit_done: bool,
    /// The git provider answered about this commit id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_done_for: Option<String>,
    /// The failed action executions `ListActionExecutions` gave (latest per action).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionDetail>,
    /// The failure (see [`failure_fingerprint`]) the action list was read for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_for: Option<String>,
    /// By build id (`project:uuid`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub builds: BTreeMap<String, BuildDetail>,
    /// By deployment id (`d-...`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deployments: BTreeMap<String, DeploymentDetail>,
    /// A CodeDeploy deployment's group's alarms (`GetDeploymentGroup`'s `alarmConfiguration`),
    /// once asked: they watch the group (deploy verdicts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_alarms: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ActionDetail {
    pub stage: String,
    pub action: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// When AWS last updated it (Unix seconds): the time of the event a healed thread is
    /// given for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BuildDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_phase: Option<String>,
    /// The failed phase's context: `COMMAND_EXECUTION_ERROR: Error while executing command: …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_region: Option<LogRegion>,
    /// The build's report ARNs (`BatchGetBuilds`): test and coverage reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_arns: Vec<String>,
    /// Its failed test cases (`DescribeTestCases`), at most
    /// [`TESTS_KEPT`](crate::notification::TESTS_KEPT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<FailedTest>,
    /// Failed (FAILED and ERROR) and all test cases of its test reports (`BatchGetReports`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_failed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_total: Option<u64>,
    /// `BatchGetBuilds` answered with the build in a final state.
    #[serde(default)]
    pub fetched: bool,
    /// The log was read (or is known not to exist).
    #[serde(default)]
    pub tail_done: bool,
    /// The test reports were read (or there are none to read).
    #[serde(default)]
    pub reports_done: bool,
}

impl BuildDetail {
    /// Nothing more to learn about it.
    pub fn complete(&self) -> bool {
        self.fetched && self.tail_done && self.reports_done
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeploymentDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_group: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetFailure>,
    #[serde(default)]
    pub fetched: bool,
    #[serde(default)]
    pub targets_done: bool,
}

impl DeploymentDetail {
    /// Nothing more to learn about it.
    pub fn complete(&self) -> bool {
        self.fetched && self.targets_done
    }
}

/// A failed deployment target and its first failed lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TargetFailure {
    pub target_id: String,
    /// `instance`, `ecs`, `lambda` or `cloudformation`.
    pub target_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_region: Option<LogRegion>,
}

impl TargetFailure {
    /// `i-0abc: AfterInstall failed — ScriptFailed in scripts/validate.sh: exit code 1`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{}: {} failed",
            self.target_id,
            self.lifecycle_event.as_deref().unwrap_or("deployment")
        );
        let mut detail = Vec::new();
        if let Some(c) = &self.error_code {
            detail.push(c.clone());
        }
        if let Some(sc) = &self.script_name {
            detail.push(format!("in {sc}"));
        }
        if !detail.is_empty() {
            s.push_str(&format!(" — {}", detail.join(" ")));
        }
        if let Some(m) = &self.message {
            s.push_str(&format!(": {}", first_line(m)));
        }
        s
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// How much of a log is kept.
#[derive(Debug, Clone, Copy)]
pub struct TailLimits {
    pub lines: usize,
    pub line_chars: usize,
    pub total_chars: usize,
}

/// Removes ANSI escape sequences (CSI `ESC [ … letter`, and lone escapes).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for n in chars.by_ref() {
                    if n.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// What identifies a failure for caching: its stage and its failed actions. A retry that fails
/// somewhere else changes it, so the action list is read again.
pub fn failure_fingerprint(note: &Notification) -> Option<String> {
    let f = note.failure.as_ref()?;
    let mut parts: Vec<String> = f
        .actions
        .iter()
        .map(|a| format!("{}={}", a.action, a.external_id.as_deref().unwrap_or("")))
        .collect();
    parts.sort();
    Some(format!(
        "{}|{}",
        f.stage.as_deref().unwrap_or(""),
        parts.join(",")
    ))
}

pub(crate) fn merge_commit(slot: &mut Option<Commit>, new: Commit) {
    match slot {
        None => *slot = Some(new),
        Some(c) => {
            if c.id.is_some() && new.id.is_some() && c.id != new.id {
                *slot = Some(new);
                return;
            }
            fill(&mut c.id, new.id);
            fill(&mut c.message, new.message);
            fill(&mut c.author, new.author);
            fill(&mut c.author_email, new.author_email);
            fill(&mut c.url, new.url);
            fill(&mut c.provider, new.provider);
            fill(&mut c.branch, new.branch);
        }
    }
}

pub(crate) fn fill<T>(slot: &mut Option<T>, v: Option<T>) {
    if slot.is_none() {
        *slot = v;
    }
}

// Applying what was learned

/// Reasons CodePipeline gives that say nothing the build or deployment does not say better.
fn generic_reason(r: &str) -> bool {
    r.starts_with("Build terminated with state")
        || (r.starts_with("Deployment d-") && r.ends_with(" failed"))
        || r.starts_with("Build FAILED")
        || r.starts_with("Build FAULT")
        || r.starts_with("Build TIMED_OUT")
}

/// Adds what `e` knows to `note`, never overwriting what the events said better. Pure.
pub fn apply(e: &Enrichment, note: &mut Notification) {
    if note.account_alias.is_none() {
        note.account_alias = e.alias.clone();
    }
    if let Some(c) = &e.commit {
        let same = note
            .commit
            .as_ref()
            .is_none_or(|n| n.id.is_none() || c.id.is_none() || n.id == c.id);
        if same {
            merge_commit(&mut note.commit, c.clone());
        }
    }
    if note.trigger.is_none() && note.kind == Kind::Pipeline {
        note.trigger = e.trigger.clone();
    }
    let Some(f) = note.failure.as_mut() else {
        return;
    };
    if note.status != status::FAILED {
        return;
    }
    // Failed actions the events never told of.
    if note.kind == Kind::Pipeline {
        for a in &e.actions {
            if f.stage.as_deref().is_some_and(|s| s != a.stage) {
                continue;
            }
            if f.stage.is_none() {
                f.stage = Some(a.stage.clone());
            }
            let reason = a.error_message.clone().or_else(|| a.summary.clone());
            match f.actions.iter_mut().find(|x| x.action == a.action) {
                Some(x) => {
                    fill(&mut x.provider, a.provider.clone());
                    fill(&mut x.external_id, a.external_id.clone());
                    fill(&mut x.url, a.url.clone());
                    fill(&mut x.error_code, a.error_code.clone());
                    if x.reason.as_deref().is_none_or(generic_reason) {
                        if let Some(r) = reason.filter(|r| !generic_reason(r)) {
                            x.reason = Some(r);
                        }
                    }
                    fill(&mut x.reason, a.summary.clone());
                }
                None => f.actions.push(FailedActionInfo {
                    action: a.action.clone(),
                    provider: a.provider.clone(),
                    reason,
                    error_code: a.error_code.clone(),
                    external_id: a.external_id.clone(),
                    url: a.url.clone(),
                    log_url: None,
                    log_tail: Vec::new(),
                    log_region: None,
                    ..Default::default()
                }),
            }
        }
    }
    for a in &mut f.actions {
        let Some(id) = a.external_id.clone() else {
            continue;
        };
        if let Some(b) = e.builds.get(&id) {
            apply_build(b, a);
        }
        if let Some(d) = e.deployments.get(&id) {
            apply_deployment(d, a, note.kind == Kind::Deployment);
        }
    }
    if note.kind == Kind::Deployment {
        if let Some(d) = note
            .deployment_id
            .as_ref()
            .and_then(|id| e.deployments.get(id))
        {
            deployment_targets(d, f, note.deployment_id.as_deref(), &note.region);
        }
    }
}

fn apply_build(b: &BuildDetail, a: &mut FailedActionInfo) {
    // CodeBuild's phase context names the failing command: the best reason there is (the
    // correlator prefers it too when the build's events carry it).
    if let Some(ctx) = &b.context {
        if !a
            .reason
            .as_deref()
            .is_some_and(|r| r.contains(ctx.as_str()))
        {
            a.reason = Some(ctx.clone());
        }
    }
    if a.log_url.is_none() {
        a.log_url = b.log_url.clone();
    }
    if a.url.is_none() {
        a.url = b.console_url.clone();
    }
    if a.log_tail.is_empty() {
        a.log_tail = b.log_tail.clone();
        a.log_region = b.log_region.clone();
    }
    if a.tests.is_empty() && a.tests_failed.is_none() {
        a.tests = b.tests.clone();
        a.tests_failed = b.tests_failed;
        a.tests_total = b.tests_total;
    }
}

fn apply_deployment(d: &DeploymentDetail, a: &mut FailedActionInfo, standalone: bool) {
    if standalone {
        return;
    }
    // The failed targets' diagnostics first (they name the script and the exit code), then the
    // deployment's overall error: chat previews show the first line.
    let mut lines: Vec<String> = d.targets.iter().take(5).map(TargetFailure::line).collect();
    if d.targets.len() > 5 {
        lines.push(format!("…and {} more failed targets", d.targets.len() - 5));
    }
    if let Some(m) = &d.error_message {
        lines.push(match &d.error_code {
            Some(c) => format!("{c}: {m}"),
            None => m.clone(),
        });
    }
    // Like a build's phase context, the diagnostics say more than any pipeline summary.
    if !lines.is_empty() {
        a.reason = Some(lines.join("\n"));
    }
    if a.log_tail.is_empty() {
        if let Some(t) = d.targets.iter().find(|t| !t.log_tail.is_empty()) {
            a.log_tail = t.log_tail.clone();
            a.log_region = t.log_region.clone();
        }
    }
}

/// A deployment outside a pipeline: each failed target becomes a failed "action".
fn deployment_targets(d: &DeploymentDetail, f: &mut Failure, id: Option<&str>, region: &str) {
    if f.reason.is_none() {
        f.reason = d.error_message.clone();
    }
    let url = id.map(|id| {
        format!(
            "https://{region}.console.aws.amazon.com/codesuite/codedeploy/deployments/{id}?region={region}"
        )
    });
    for t in &d.targets {
        if f.actions.iter().any(|a| a.action == t.target_id) {
            continue;
        }
        f.actions.push(FailedActionInfo {
            action: t.target_id.clone(),
            provider: Some("CodeDeploy".into()),
            reason: Some(t.line()),
            error_code: t.error_code.clone(),
            external_id: id.map(str::to_owned),
            url: url.clone(),
            log_url: None,
            log_tail: t.log_tail.clone(),
            log_region: t.log_region.clone(),
            ..Default::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_note(actions: Vec<FailedActionInfo>) -> Notification {
        let mut n: Notification = serde_json::from_value(serde_json::json!({
            "kind": "pipeline", "status": "FAILED", "final": true, "account": "111111111111",
            "region": "eu-west-1", "title": "p", "pipeline": "p", "execution_id": "x"
        }))
        .expect("note");
        n.failure = Some(Failure {
            stage: Some("Build".into()),
            actions,
            reason: None,
        });
        n
    }

    #[test]
    fn a_build_context_replaces_codepipelines_generic_summary() {
        let mut n = failed_note(vec![FailedActionInfo {
            action: "Build".into(),
            provider: Some("CodeBuild".into()),
            reason: Some("Build terminated with state: FAILED".into()),
            external_id: Some("app:u1".into()),
            ..FailedActionInfo::default()
        }]);
        let mut e = Enrichment::default();
        e.builds.insert(
            "app:u1".into(),
            BuildDetail {
                failed_phase: Some("BUILD".into()),
                context: Some(
                    "COMMAND_EXECUTION_ERROR: Error while executing command: npm test. Reason: exit status 1".into(),
                ),
                log_url: Some("https://logs".into()),
                log_tail: vec!["npm ERR! Test failed".into()],
                ..BuildDetail::default()
            },
        );
        apply(&e, &mut n);
        let a = &n.failure.as_ref().expect("failure").actions[0];
        assert_eq!(
            a.reason.as_deref(),
            Some("COMMAND_EXECUTION_ERROR: Error while executing command: npm test. Reason: exit status 1")
        );
        assert_eq!(a.log_tail, ["npm ERR! Test failed"]);
        assert_eq!(a.log_url.as_deref(), Some("https://logs"));
    }

    #[test]
    fn an_action_only_the_list_knows_is_added_to_the_failure() {
        let mut n = failed_note(Vec::new());
        let e = Enrichment {
            actions: vec![ActionDetail {
                stage: "Build".into(),
                action: "UnitTests".into(),
                status: "Failed".into(),
                provider: Some("CodeBuild".into()),
                external_id: Some("app:u2".into()),
                error_code: Some("JobFailed".into()),
                error_message: Some("Build terminated with state: FAILED".into()),
                ..ActionDetail::default()
            }],
            ..Enrichment::default()
        };
        apply(&e, &mut n);
        let f = n.failure.as_ref().expect("failure");
        assert_eq!(f.actions.len(), 1);
        assert_eq!(f.actions[0].action, "UnitTests");
        assert_eq!(f.actions[0].external_id.as_deref(), Some("app:u2"));
    }

    #[test]
    fn deployment_diagnostics_explain_a_pipeline_deploy_action() {
        let mut n = failed_note(vec![FailedActionInfo {
            action: "Deploy".into(),
            provider: Some("CodeDeploy".into()),
            reason: Some("Deployment d-ABCDEF123 failed".into()),
            external_id: Some("d-ABCDEF123".into()),
            ..FailedActionInfo::default()
        }]);
        let mut e = Enrichment::default();
        e.deployments.insert(
            "d-ABCDEF123".into(),
            DeploymentDetail {
                error_code: Some("HEALTH_CONSTRAINTS".into()),
                error_message: Some("Too many instances failed".into()),
                targets: vec![TargetFailure {
                    target_id: "i-0abc".into(),
                    target_type: "instance".into(),
                    lifecycle_event: Some("AfterInstall".into()),
                    script_name: Some("scripts/validate.sh".into()),
                    error_code: Some("ScriptFailed".into()),
                    message: Some("exit code 1".into()),
                    log_tail: vec!["[stderr]curl: (7) Failed to connect".into()],
                    ..TargetFailure::default()
                }],
                ..DeploymentDetail::default()
            },
        );
        apply(&e, &mut n);
        let a = &n.failure.as_ref().expect("failure").actions[0];
        assert_eq!(
            a.reason.as_deref(),
            Some("i-0abc: AfterInstall failed — ScriptFailed in scripts/validate.sh: exit code 1\nHEALTH_CONSTRAINTS: Too many instances failed")
        );
        assert_eq!(a.log_tail, ["[stderr]curl: (7) Failed to connect"]);
    }

    #[test]
    fn the_commit_fills_only_what_the_event_lacked() {
        let mut n = failed_note(Vec::new());
        n.commit = Some(Commit {
            id: Some("abc1234".into()),
            message: Some("from the event".into()),
            ..Commit::default()
        });
        let e = Enrichment {
            commit: Some(Commit {
                id: Some("abc1234".into()),
                message: Some("from the API".into()),
                author: Some("Mary Major".into()),
                ..Commit::default()
            }),
            alias: Some("prod".into()),
            ..Enrichment::default()
        };
        apply(&e, &mut n);
        let c = n.commit.as_ref().expect("commit");
        assert_eq!(c.message.as_deref(), Some("from the event"));
        assert_eq!(c.author.as_deref(), Some("Mary Major"));
        assert_eq!(n.account_alias.as_deref(), Some("prod"));
    }
}
