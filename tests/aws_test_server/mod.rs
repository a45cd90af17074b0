//! A small AWS test server speaking AWS JSON 1.1 (`POST /`, `X-Amz-Target: Service_Version.Op`)
//! for what moto cannot do: CodePipeline `ListActionExecutions`, CodeDeploy
//! `ListDeploymentTargets` and `BatchGetDeploymentTargets` (moto answers HTTP 500), CodeBuild
//! test reports (`BatchGetReports`, `DescribeTestCases` with its status filter and pages), and the
//! failed builds, failed deployments and executions with source revisions that moto's models
//! cannot represent (its builds always succeed, its deployments never fail, its executions carry
//! no revisions). Request and response shapes, pagination tokens, the 25-target limit and the
//! error types follow the services' API models.
//!
//! The write calls people's actions make (moto implements none of them): CodePipeline
//! `GetPipelineState` (an approval's token), `PutApprovalResult` (token checked, answered once:
//! `ApprovalAlreadyCompletedException` after), `RetryStageExecution`, `StopPipelineExecution`
//! (`PipelineExecutionNotStoppableException` the second time), CodeDeploy `ContinueDeployment`
//! (`DeploymentIsNotInReadyStateException` unless seeded READY) and `StopDeployment`; and
//! `ListPipelineExecutions` (seeded executions, newest `startTime` first) and `RollbackStage`
//! (to a seeded execution that succeeded); CodeDeploy `GetDeploymentGroup` with its alarm
//! configuration (moto answers it without one).
//!
//! Everything else, and any id it was not seeded with, is proxied unchanged to moto, so one SDK
//! endpoint per service serves both. Every request is recorded (target, access key, region) so
//! tests can prove which account's credentials and which region a call used. An operation can
//! be made to hang, for deadline tests.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `X-Amz-Target`, e.g. `CodeDeploy_20141006.ListDeploymentTargets`.
    pub target: String,
    /// The access key id of the signature (`Credential=AKID/date/region/service/...`).
    pub access_key: String,
    pub region: String,
    pub body: Value,
    /// Answered here (true) or proxied to moto (false).
    pub local: bool,
}

#[derive(Default)]
pub struct Data {
    /// (pipeline, execution id) -> `PipelineExecution`.
    pub executions: BTreeMap<(String, String), Value>,
    /// pipeline -> `ActionExecutionDetail`s.
    pub action_executions: BTreeMap<String, Vec<Value>>,
    /// build id -> `Build`.
    pub builds: BTreeMap<String, Value>,
    /// report ARN -> `Report` (CodeBuild test reports).
    pub reports: BTreeMap<String, Value>,
    /// report ARN -> its `TestCase`s, in listing order.
    pub test_cases: BTreeMap<String, Vec<Value>>,
    /// deployment id -> `DeploymentInfo`.
    pub deployments: BTreeMap<String, Value>,
    /// deployment id -> `DeploymentTarget`s, in listing order.
    pub targets: BTreeMap<String, Vec<Value>>,
    /// Operations (the part after the dot) that never answer.
    pub hang: BTreeSet<String>,
    /// (pipeline, stage, action) -> (token, answered status once `PutApprovalResult` came).
    pub approvals: BTreeMap<(String, String, String), (String, Option<String>)>,
    /// (pipeline, stage) -> the pipeline execution the stage's latest execution belongs to.
    pub stage_executions: BTreeMap<(String, String), String>,
    /// Pipeline executions stopped (`StopPipelineExecution`).
    pub stopped: BTreeSet<String>,
    /// CodeDeploy deployments waiting at READY_WAIT (`ContinueDeployment` answers them once),
    /// then at TERMINATION_WAIT (the original fleet kept until a second `ContinueDeployment`).
    pub ready: BTreeSet<String>,
    pub terminating: BTreeSet<String>,
    /// (application, group) -> `DeploymentGroupInfo` (moto keeps no `alarmConfiguration`).
    pub groups: BTreeMap<(String, String), Value>,
}

pub struct Shared {
    pub data: Mutex<Data>,
    pub seen: Mutex<Vec<Seen>>,
    upstream: Option<String>,
    /// `ListDeploymentTargets` page size (AWS does not document one; small to exercise paging).
    pub target_page: usize,
    /// `DescribeTestCases` page size, below the 100 a caller may ask for, to exercise paging.
    pub test_page: usize,
    http: reqwest::Client,
}

pub struct TestServer {
    pub url: String,
    pub shared: Arc<Shared>,
}

impl TestServer {
    /// Starts on a free loopback port; `upstream` (moto) gets what is not answered here.
    pub async fn start(upstream: Option<String>) -> TestServer {
        let shared = Arc::new(Shared {
            data: Mutex::new(Data::default()),
            seen: Mutex::new(Vec::new()),
            upstream,
            target_page: 10,
            test_page: 7,
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .route("/", axum::routing::post(handle))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind test server");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer {
            url: format!("http://{addr}"),
            shared,
        }
    }

    pub fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.shared.data.lock().expect("data lock")
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("seen lock").clone()
    }

    /// Requests for one operation (`ListDeploymentTargets`).
    pub fn seen_op(&self, op: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.target.rsplit('.').next() == Some(op))
            .collect()
    }

    pub fn hang(&self, op: &str) {
        self.data().hang.insert(op.to_owned());
    }

    pub fn add_execution(&self, pipeline: &str, execution: Value) {
        let id = execution["pipelineExecutionId"]
            .as_str()
            .expect("pipelineExecutionId")
            .to_owned();
        self.data()
            .executions
            .insert((pipeline.to_owned(), id), execution);
    }

    pub fn add_action_execution(&self, pipeline: &str, detail: Value) {
        self.data()
            .action_executions
            .entry(pipeline.to_owned())
            .or_default()
            .push(detail);
    }

    /// A test report and its cases; the summary's counts are the cases' own.
    pub fn add_report(&self, arn: &str, cases: Vec<Value>) {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for c in &cases {
            *counts
                .entry(c["status"].as_str().unwrap_or("UNKNOWN").to_owned())
                .or_default() += 1;
        }
        let report = json!({
            "arn": arn,
            "type": "TEST",
            "name": arn.rsplit('/').next().unwrap_or(arn),
            "status": if counts.contains_key("FAILED") || counts.contains_key("ERROR") { "FAILED" } else { "SUCCEEDED" },
            "testSummary": {"total": cases.len(), "statusCounts": counts, "durationInNanoSeconds": 1_000_000},
        });
        let mut d = self.data();
        d.reports.insert(arn.to_owned(), report);
        d.test_cases.insert(arn.to_owned(), cases);
    }

    /// A Manual approval waiting at `stage`/`action` of `pipeline`, with its token.
    pub fn add_approval(
        &self,
        pipeline: &str,
        execution: &str,
        stage: &str,
        action: &str,
        token: &str,
    ) {
        self.data().stage_executions.insert(
            (pipeline.to_owned(), stage.to_owned()),
            execution.to_owned(),
        );
        self.data().approvals.insert(
            (pipeline.to_owned(), stage.to_owned(), action.to_owned()),
            (token.to_owned(), None),
        );
    }

    /// A deployment group whose alarm configuration names `alarms`.
    pub fn add_group(&self, application: &str, group: &str, alarms: &[&str]) {
        let alarms: Vec<Value> = alarms.iter().map(|a| json!({"name": a})).collect();
        self.data().groups.insert(
            (application.to_owned(), group.to_owned()),
            json!({
                "applicationName": application,
                "deploymentGroupName": group,
                "deploymentGroupId": format!("{application}-{group}-id"),
                "alarmConfiguration": {"enabled": true, "ignorePollAlarmFailure": false, "alarms": alarms},
            }),
        );
    }

    /// A blue/green deployment waiting for `ContinueDeployment` (READY_WAIT).
    pub fn add_ready(&self, deployment_id: &str) {
        self.data().ready.insert(deployment_id.to_owned());
    }

    pub fn add_build(&self, build: Value) {
        let id = build["id"].as_str().expect("build id").to_owned();
        self.data().builds.insert(id, build);
    }

    pub fn add_deployment(&self, info: Value, targets: Vec<Value>) {
        let id = info["deploymentId"]
            .as_str()
            .expect("deploymentId")
            .to_owned();
        let mut d = self.data();
        d.deployments.insert(id.clone(), info);
        d.targets.insert(id, targets);
    }
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// (access key, region) from a SigV4 `Authorization` header.
fn credential_scope(auth: &str) -> (String, String) {
    let Some(rest) = auth.split("Credential=").nth(1) else {
        return (String::new(), String::new());
    };
    let scope = rest.split([',', ' ']).next().unwrap_or("");
    let parts: Vec<&str> = scope.split('/').collect();
    (
        parts.first().copied().unwrap_or("").to_owned(),
        parts.get(2).copied().unwrap_or("").to_owned(),
    )
}

fn error(kind: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amzn-errortype", kind),
        ],
        json!({"__type": kind, "message": message}).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

enum Answer {
    Here(Response),
    Proxy,
}

async fn handle(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = header(&headers, "x-amz-target");
    let (access_key, region) = credential_scope(&header(&headers, "authorization"));
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let op = target.rsplit('.').next().unwrap_or("").to_owned();
    let hang = s.data.lock().expect("data lock").hang.contains(&op);
    let answer = if hang {
        Answer::Here(StatusCode::OK.into_response())
    } else {
        answer(&s, &target, &input)
    };
    s.seen.lock().expect("seen lock").push(Seen {
        target: target.clone(),
        access_key,
        region,
        body: input,
        local: matches!(answer, Answer::Here(_)),
    });
    if hang {
        // Never answers; the client gives up (or the test ends).
        std::future::pending::<()>().await;
    }
    match answer {
        Answer::Here(r) => r,
        Answer::Proxy => proxy(&s, headers, body).await,
    }
}

async fn proxy(s: &Shared, headers: HeaderMap, body: Bytes) -> Response {
    let Some(up) = &s.upstream else {
        return error("UnknownOperationException", "not served by the test server");
    };
    let mut req = s.http.post(format!("{up}/"));
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    match req.body(body).send().await {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/x-amz-json-1.1")
                .to_owned();
            let et = r
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = r.bytes().await.unwrap_or_default();
            let mut resp = (status, bytes).into_response();
            if let Ok(v) = ct.parse() {
                resp.headers_mut().insert("content-type", v);
            }
            if let Some(Ok(v)) = et.map(|e| e.parse()) {
                resp.headers_mut().insert("x-amzn-errortype", v);
            }
            resp
        }
        Err(e) => error("InternalFailure", &format!("proxy to moto: {e}")),
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// `n<offset>` tokens; anything else is invalid.
fn parse_token(t: Option<&str>) -> Result<usize, ()> {
    match t {
        None => Ok(0),
        Some(t) => t.strip_prefix('n').and_then(|n| n.parse().ok()).ok_or(()),
    }
}

fn target_status(t: &Value) -> Option<&str> {
    [
        "instanceTarget",
        "ecsTarget",
        "lambdaTarget",
        "cloudFormationTarget",
    ]
    .iter()
    .find_map(|k| t.get(*k))
    .and_then(|x| str_of(x, "status"))
}

fn target_id(t: &Value) -> Option<&str> {
    [
        "instanceTarget",
        "ecsTarget",
        "lambdaTarget",
        "cloudFormationTarget",
    ]
    .iter()
    .find_map(|k| t.get(*k))
    .and_then(|x| str_of(x, "targetId"))
}

/// One page of `items` as `{field: [...], "nextToken"?}`: up to the request's `maxResults`
/// (1 to 100, default 100) and at most `cap`, from its `nextToken`. None for a bad token.
fn page(items: &[&Value], input: &Value, cap: usize, field: &str) -> Option<Value> {
    let max = input
        .get("maxResults")
        .and_then(Value::as_u64)
        .map_or(100, |m| m.clamp(1, 100) as usize)
        .min(cap);
    let from = parse_token(str_of(input, "nextToken")).ok()?;
    let page: Vec<&Value> = items.iter().skip(from).take(max).copied().collect();
    let mut out = json!({ field: page });
    if from + max < items.len() {
        out["nextToken"] = json!(format!("n{}", from + max));
    }
    Some(out)
}

fn answer(s: &Shared, target: &str, input: &Value) -> Answer {
    let mut d = s.data.lock().expect("data lock");
    match target {
        "CodePipeline_20150709.ListActionExecutions" => {
            let Some(p) = str_of(input, "pipelineName") else {
                return Answer::Here(error("ValidationException", "pipelineName is required"));
            };
            let Some(all) = d.action_executions.get(p) else {
                return Answer::Here(error(
                    "PipelineNotFoundException",
                    &format!("Account does not have a pipeline with name '{p}'"),
                ));
            };
            let want = input
                .get("filter")
                .and_then(|f| str_of(f, "pipelineExecutionId"));
            let matching: Vec<&Value> = all
                .iter()
                .filter(|a| want.is_none_or(|w| str_of(a, "pipelineExecutionId") == Some(w)))
                .collect();
            match page(&matching, input, 100, "actionExecutionDetails") {
                Some(out) => Answer::Here(ok(out)),
                None => Answer::Here(error(
                    "InvalidNextTokenException",
                    "The next token was specified in an invalid format.",
                )),
            }
        }
        "CodePipeline_20150709.GetPipelineExecution" => {
            let key = (
                str_of(input, "pipelineName").unwrap_or("").to_owned(),
                str_of(input, "pipelineExecutionId")
                    .unwrap_or("")
                    .to_owned(),
            );
            match d.executions.get(&key) {
                Some(x) => Answer::Here(ok(json!({"pipelineExecution": x}))),
                None => Answer::Proxy,
            }
        }
        "CodeBuild_20161006.BatchGetBuilds" => {
            let ids: Vec<&str> = input
                .get("ids")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if ids.len() > 100 {
                return Answer::Here(error("InvalidInputException", "At most 100 build ids"));
            }
            if !ids.iter().any(|i| d.builds.contains_key(*i)) {
                return Answer::Proxy;
            }
            let (found, missing): (Vec<&str>, Vec<&str>) =
                ids.iter().partition(|i| d.builds.contains_key(**i));
            let builds: Vec<&Value> = found.iter().filter_map(|i| d.builds.get(*i)).collect();
            Answer::Here(ok(json!({"builds": builds, "buildsNotFound": missing})))
        }
        "CodeBuild_20161006.BatchGetReports" => {
            let arns: Vec<&str> = input
                .get("reportArns")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if arns.is_empty() || arns.len() > 100 {
                return Answer::Here(error(
                    "InvalidInputException",
                    "reportArns must hold 1 to 100 ARNs",
                ));
            }
            let (found, missing): (Vec<&str>, Vec<&str>) =
                arns.iter().partition(|a| d.reports.contains_key(**a));
            let reports: Vec<&Value> = found.iter().filter_map(|a| d.reports.get(*a)).collect();
            Answer::Here(ok(json!({"reports": reports, "reportsNotFound": missing})))
        }
        "CodeBuild_20161006.DescribeTestCases" => {
            let Some(arn) = str_of(input, "reportArn") else {
                return Answer::Here(error("InvalidInputException", "reportArn is required"));
            };
            let Some(all) = d.test_cases.get(arn) else {
                return Answer::Here(error(
                    "ResourceNotFoundException",
                    &format!("Report {arn} does not exist"),
                ));
            };
            let status = input.get("filter").and_then(|f| str_of(f, "status"));
            let matching: Vec<&Value> = all
                .iter()
                .filter(|t| status.is_none_or(|s| str_of(t, "status") == Some(s)))
                .collect();
            match page(&matching, input, s.test_page, "testCases") {
                Some(out) => Answer::Here(ok(out)),
                None => Answer::Here(error("InvalidInputException", "Invalid next token")),
            }
        }
        "CodeDeploy_20141006.GetDeployment" => {
            match str_of(input, "deploymentId").and_then(|i| d.deployments.get(i)) {
                Some(info) => Answer::Here(ok(json!({"deploymentInfo": info}))),
                None => Answer::Proxy,
            }
        }
        "CodeDeploy_20141006.ListDeploymentTargets" => {
            let Some(id) = str_of(input, "deploymentId") else {
                return Answer::Here(error(
                    "DeploymentIdRequiredException",
                    "At least one deployment ID must be specified.",
                ));
            };
            let Some(all) = d.targets.get(id) else {
                return Answer::Here(error(
                    "DeploymentDoesNotExistException",
                    &format!("The deployment {id} could not be found."),
                ));
            };
            let statuses: Option<Vec<&str>> = input
                .get("targetFilters")
                .and_then(|f| f.get("TargetStatus"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect());
            let ids: Vec<&str> = all
                .iter()
                .filter(|t| {
                    statuses
                        .as_ref()
                        .is_none_or(|st| target_status(t).is_some_and(|x| st.contains(&x)))
                })
                .filter_map(target_id)
                .collect();
            let Ok(from) = parse_token(str_of(input, "nextToken")) else {
                return Answer::Here(error(
                    "InvalidNextTokenException",
                    "The next token was specified in an invalid format.",
                ));
            };
            let page: Vec<&str> = ids.iter().skip(from).take(s.target_page).copied().collect();
            let mut out = json!({"targetIds": page});
            if from + s.target_page < ids.len() {
                out["nextToken"] = json!(format!("n{}", from + s.target_page));
            }
            Answer::Here(ok(out))
        }
        "CodeDeploy_20141006.BatchGetDeploymentTargets" => {
            let Some(id) = str_of(input, "deploymentId") else {
                return Answer::Here(error(
                    "DeploymentIdRequiredException",
                    "At least one deployment ID must be specified.",
                ));
            };
            let ids: Vec<&str> = input
                .get("targetIds")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if ids.is_empty() {
                return Answer::Here(error(
                    "DeploymentTargetIdRequiredException",
                    "A deployment target ID was not provided.",
                ));
            }
            if ids.len() > 25 {
                return Answer::Here(error(
                    "DeploymentTargetListSizeExceededException",
                    "The maximum number of targets that can be associated with a deployment was exceeded: at most 25 target IDs.",
                ));
            }
            let Some(all) = d.targets.get(id) else {
                return Answer::Here(error(
                    "DeploymentDoesNotExistException",
                    &format!("The deployment {id} could not be found."),
                ));
            };
            let mut out = Vec::new();
            for want in ids {
                match all.iter().find(|t| target_id(t) == Some(want)) {
                    Some(t) => out.push(t.clone()),
                    None => {
                        return Answer::Here(error(
                            "DeploymentTargetDoesNotExistException",
                            &format!(
                            "The provided target ID {want} does not belong to the deployment {id}."
                        ),
                        ))
                    }
                }
            }
            Answer::Here(ok(json!({"deploymentTargets": out})))
        }
        "CodePipeline_20150709.GetPipelineState" => {
            let name = str_of(input, "name").unwrap_or_default();
            let mut stages: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
            for ((p, stage, action), (token, answered)) in &d.approvals {
                if p == name {
                    stages.entry(stage).or_default().push(json!({
                        "actionName": action,
                        "latestExecution": match answered {
                            None => json!({"status": "InProgress", "token": token}),
                            Some(_) => json!({"status": "Succeeded"}),
                        },
                    }));
                }
            }
            if stages.is_empty() {
                return Answer::Here(error(
                    "PipelineNotFoundException",
                    &format!("Account does not have a pipeline with name '{name}'"),
                ));
            }
            let stage_states: Vec<Value> = stages
                .into_iter()
                .map(|(st, actions)| {
                    let x = d
                        .stage_executions
                        .get(&(name.to_owned(), st.to_owned()))
                        .cloned()
                        .unwrap_or_default();
                    json!({"stageName": st, "actionStates": actions,
                           "latestExecution": {"pipelineExecutionId": x, "status": "InProgress"}})
                })
                .collect();
            Answer::Here(ok(
                json!({"pipelineName": name, "stageStates": stage_states}),
            ))
        }
        "CodePipeline_20150709.ListPipelineExecutions" => {
            let name = str_of(input, "pipelineName").unwrap_or_default();
            let mut list: Vec<&Value> = d
                .executions
                .iter()
                .filter(|((p, _), _)| p == name)
                .map(|(_, x)| x)
                .collect();
            if list.is_empty() {
                return Answer::Proxy;
            }
            // Newest first, as AWS lists them.
            list.sort_by_key(|x| std::cmp::Reverse(x["startTime"].as_i64().unwrap_or(0)));
            let summaries: Vec<Value> = list
                .into_iter()
                .map(|x| {
                    json!({
                        "pipelineExecutionId": x["pipelineExecutionId"],
                        "status": x["status"],
                        "startTime": x["startTime"],
                    })
                })
                .collect();
            Answer::Here(ok(json!({"pipelineExecutionSummaries": summaries})))
        }
        "CodePipeline_20150709.RollbackStage" => {
            let name = str_of(input, "pipelineName").unwrap_or_default().to_owned();
            let target = str_of(input, "targetPipelineExecutionId")
                .unwrap_or_default()
                .to_owned();
            if str_of(input, "stageName").is_none_or(str::is_empty) {
                return Answer::Here(error("ValidationException", "stageName is required"));
            }
            match d.executions.get(&(name, target.clone())) {
                Some(x) if x["status"] == "Succeeded" => Answer::Here(ok(
                    json!({"pipelineExecutionId": format!("rollback-of-{target}")}),
                )),
                Some(_) => Answer::Here(error(
                    "UnableToRollbackStageException",
                    "The target execution did not succeed",
                )),
                None => Answer::Here(error(
                    "PipelineExecutionNotFoundException",
                    &format!("No execution {target}"),
                )),
            }
        }
        "CodePipeline_20150709.PutApprovalResult" => {
            let key = (
                str_of(input, "pipelineName").unwrap_or_default().to_owned(),
                str_of(input, "stageName").unwrap_or_default().to_owned(),
                str_of(input, "actionName").unwrap_or_default().to_owned(),
            );
            let status = input["result"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if status != "Approved" && status != "Rejected" {
                return Answer::Here(error(
                    "ValidationException",
                    "result.status must be Approved or Rejected",
                ));
            }
            match d.approvals.get_mut(&key) {
                None => Answer::Here(error("ActionNotFoundException", "no such approval action")),
                Some((token, _)) if Some(token.as_str()) != str_of(input, "token") => Answer::Here(
                    error("InvalidApprovalTokenException", "The token is not valid"),
                ),
                Some((_, Some(_))) => Answer::Here(error(
                    "ApprovalAlreadyCompletedException",
                    "This approval request has already been completed",
                )),
                Some((_, answered)) => {
                    *answered = Some(status);
                    Answer::Here(ok(json!({"approvedAt": 1_700_000_000})))
                }
            }
        }
        "CodePipeline_20150709.RetryStageExecution" => {
            match (
                str_of(input, "pipelineExecutionId"),
                input["retryMode"].as_str(),
            ) {
                (Some(id), Some("FAILED_ACTIONS" | "ALL_ACTIONS")) => {
                    Answer::Here(ok(json!({"pipelineExecutionId": id})))
                }
                _ => Answer::Here(error(
                    "ValidationException",
                    "pipelineExecutionId and retryMode are required",
                )),
            }
        }
        "CodePipeline_20150709.StopPipelineExecution" => {
            let id = str_of(input, "pipelineExecutionId")
                .unwrap_or_default()
                .to_owned();
            if !d.stopped.insert(id.clone()) {
                return Answer::Here(error(
                    "PipelineExecutionNotStoppableException",
                    "Pipeline execution is already in a Stopping state",
                ));
            }
            Answer::Here(ok(json!({"pipelineExecutionId": id})))
        }
        "CodeDeploy_20141006.GetDeploymentGroup" => {
            let key = (
                str_of(input, "applicationName")
                    .unwrap_or_default()
                    .to_owned(),
                str_of(input, "deploymentGroupName")
                    .unwrap_or_default()
                    .to_owned(),
            );
            match d.groups.get(&key) {
                Some(g) => Answer::Here(ok(json!({"deploymentGroupInfo": g}))),
                None => Answer::Here(error(
                    "DeploymentGroupDoesNotExistException",
                    &format!("No Deployment Group found for name: {}", key.1),
                )),
            }
        }
        "CodeDeploy_20141006.ContinueDeployment" => {
            let id = str_of(input, "deploymentId").unwrap_or_default().to_owned();
            let wait = input["deploymentWaitType"].as_str().unwrap_or("READY_WAIT");
            let waiting = match wait {
                "TERMINATION_WAIT" => d.terminating.remove(&id),
                _ => d.ready.remove(&id) && d.terminating.insert(id.clone()),
            };
            if waiting {
                Answer::Here(ok(json!({})))
            } else {
                Answer::Here(error(
                    "DeploymentIsNotInReadyStateException",
                    &format!("The deployment {id} is not in a ready state"),
                ))
            }
        }
        "CodeDeploy_20141006.StopDeployment" => match str_of(input, "deploymentId") {
            Some(_) => Answer::Here(ok(
                json!({"status": "Pending", "statusMessage": "Stop requested"}),
            )),
            None => Answer::Here(error(
                "DeploymentIdRequiredException",
                "deploymentId is required",
            )),
        },
        _ => Answer::Proxy,
    }
}

// ---------------------------------------------------------------------------------------------
// Documented shapes, for seeding

/// Epoch seconds, as AWS JSON 1.1 encodes timestamps.
pub fn ts(secs: i64) -> Value {
    json!(secs)
}

/// A failed CodeBuild build: every phase before `failed_phase` succeeded, that one failed with
/// `(status_code, message)` as its context, logging to `group`/`stream`.
pub fn failed_build(
    id: &str,
    account: &str,
    region: &str,
    failed_phase: &str,
    context: (&str, &str),
    group: &str,
    stream: &str,
) -> Value {
    let project = id.split(':').next().unwrap_or(id);
    let order = [
        "SUBMITTED",
        "QUEUED",
        "PROVISIONING",
        "DOWNLOAD_SOURCE",
        "INSTALL",
        "PRE_BUILD",
        "BUILD",
        "POST_BUILD",
        "UPLOAD_ARTIFACTS",
        "FINALIZING",
        "COMPLETED",
    ];
    let mut phases = Vec::new();
    let mut failed = false;
    for p in order {
        if p == "COMPLETED" {
            phases.push(json!({"phaseType": p, "startTime": ts(1_700_000_100)}));
            break;
        }
        if failed && !matches!(p, "FINALIZING" | "UPLOAD_ARTIFACTS") {
            continue;
        }
        let mut ph = json!({
            "phaseType": p, "phaseStatus": "SUCCEEDED",
            "startTime": ts(1_700_000_000), "endTime": ts(1_700_000_010), "durationInSeconds": 10,
            "contexts": [{"statusCode": "", "message": ""}],
        });
        if p == failed_phase {
            ph["phaseStatus"] = json!("FAILED");
            ph["contexts"] = json!([{"statusCode": context.0, "message": context.1}]);
            failed = true;
        }
        phases.push(ph);
    }
    let enc = |s: &str| s.replace('/', "$252F");
    json!({
        "id": id,
        "arn": format!("arn:aws:codebuild:{region}:{account}:build/{id}"),
        "buildNumber": 7,
        "startTime": ts(1_700_000_000),
        "endTime": ts(1_700_000_100),
        "currentPhase": "COMPLETED",
        "buildStatus": "FAILED",
        "projectName": project,
        "phases": phases,
        "logs": {
            "groupName": group,
            "streamName": stream,
            "deepLink": format!("https://console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}", enc(group), enc(stream)),
            "cloudWatchLogsArn": format!("arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}"),
            "cloudWatchLogs": {"status": "ENABLED"},
            "s3Logs": {"status": "DISABLED", "encryptionDisabled": false},
        },
        "buildComplete": true,
        "initiator": "codepipeline/p",
        "timeoutInMinutes": 60,
        "queuedTimeoutInMinutes": 480,
    })
}

/// A failed CodeDeploy deployment's `DeploymentInfo`.
pub fn failed_deployment(id: &str, app: &str, group: &str, code: &str, message: &str) -> Value {
    json!({
        "applicationName": app,
        "deploymentGroupName": group,
        "deploymentConfigName": "CodeDeployDefault.OneAtATime",
        "deploymentId": id,
        "status": "Failed",
        "errorInformation": {"code": code, "message": message},
        "createTime": ts(1_700_000_000),
        "startTime": ts(1_700_000_001),
        "completeTime": ts(1_700_000_300),
        "deploymentOverview": {"Pending": 0, "InProgress": 0, "Succeeded": 1, "Failed": 1, "Skipped": 0, "Ready": 0},
        "creator": "CodeDeploy",
        "ignoreApplicationStopFailures": false,
        "updateOutdatedInstancesOnly": false,
        "instanceTerminationWaitTimeStarted": false,
        "computePlatform": "Server",
    })
}

/// A lifecycle event; `diag` = (error code, script name, message, log tail) when it failed.
pub fn lifecycle(name: &str, status: &str, diag: Option<(&str, &str, &str, &str)>) -> Value {
    let mut e = json!({
        "lifecycleEventName": name,
        "startTime": ts(1_700_000_010),
        "endTime": ts(1_700_000_020),
        "status": status,
    });
    if let Some((code, script, message, tail)) = diag {
        e["diagnostics"] = json!({
            "errorCode": code, "scriptName": script, "message": message, "logTail": tail,
        });
    }
    e
}

/// A deployment target of one kind (`instance`, `ecs`, `lambda`, `cloudformation`).
pub fn deployment_target(
    kind: &str,
    deployment: &str,
    id: &str,
    status: &str,
    events: Vec<Value>,
) -> Value {
    let mut t = json!({
        "deploymentId": deployment,
        "targetId": id,
        "lastUpdatedAt": ts(1_700_000_100),
        "lifecycleEvents": events,
        "status": status,
    });
    match kind {
        "instance" => {
            t["targetArn"] = json!(format!("arn:aws:ec2:us-east-1:111111111111:instance/{id}"));
            t["instanceLabel"] = json!("Blue");
            json!({"deploymentTargetType": "InstanceTarget", "instanceTarget": t})
        }
        "ecs" => {
            t["targetArn"] = json!(format!("arn:aws:ecs:us-east-1:111111111111:service/{id}"));
            t["taskSetsInfo"] = json!([{
                "identifer": "ecs-svc/123", "desiredCount": 2, "pendingCount": 0, "runningCount": 0,
                "status": "ACTIVE", "trafficWeight": 0.0, "targetGroup": {"name": "tg-green"},
                "taskSetLabel": "Green",
            }]);
            json!({"deploymentTargetType": "ECSTarget", "ecsTarget": t})
        }
        "lambda" => {
            t["targetArn"] = json!(format!(
                "arn:aws:lambda:us-east-1:111111111111:function:{id}"
            ));
            t["lambdaFunctionInfo"] = json!({
                "functionName": id, "functionAlias": "live", "currentVersion": "1",
                "targetVersion": "2", "targetVersionWeight": 0.1,
            });
            json!({"deploymentTargetType": "LambdaTarget", "lambdaTarget": t})
        }
        _ => {
            t["resourceType"] = json!("AWS::ECS::Service");
            t["targetVersionWeight"] = json!(0.0);
            json!({"deploymentTargetType": "CloudFormationTarget", "cloudFormationTarget": t})
        }
    }
}

/// A `PipelineExecution` with one source revision.
pub fn execution(
    id: &str,
    pipeline: &str,
    status: &str,
    revision: Option<(&str, &str, &str)>,
    trigger: &str,
) -> Value {
    let revisions: Vec<Value> = revision
        .into_iter()
        .map(|(rev, summary, url)| {
            json!({
                "name": "SourceArtifact", "revisionId": rev, "revisionSummary": summary,
                "revisionUrl": url, "created": ts(1_700_000_000),
            })
        })
        .collect();
    json!({
        "pipelineName": pipeline,
        "pipelineVersion": 3,
        "pipelineExecutionId": id,
        "status": status,
        "artifactRevisions": revisions,
        "trigger": {"triggerType": trigger, "triggerDetail": "arn:aws:codestar-connections:eu-west-1:111111111111:connection/x"},
        "executionMode": "SUPERSEDED",
    })
}

/// An `ActionExecutionDetail`.
#[allow(clippy::too_many_arguments)]
pub fn action_execution(
    region: &str,
    execution: &str,
    stage: &str,
    action: &str,
    provider: &str,
    status: &str,
    started: i64,
    external_id: Option<&str>,
    error: Option<(&str, &str)>,
) -> Value {
    let category = match provider {
        "CodeBuild" => "Build",
        "CodeDeploy" | "CodeDeployToECS" | "ECS" => "Deploy",
        "Manual" => "Approval",
        _ => "Source",
    };
    let mut result = json!({});
    if let Some(id) = external_id {
        result["externalExecutionId"] = json!(id);
        result["externalExecutionSummary"] = json!(if id.starts_with("d-") {
            format!("Deployment {id} failed")
        } else {
            "Build terminated with state: FAILED".to_owned()
        });
        // As CodePipeline links them (the region comes from the action's input).
        result["externalExecutionUrl"] = json!(if id.starts_with("d-") {
            format!(
                "https://console.aws.amazon.com/codedeploy/home?region={region}#/deployments/{id}"
            )
        } else {
            format!("https://console.aws.amazon.com/codebuild/home?region={region}#/builds/{id}/view/new")
        });
    }
    if let Some((code, message)) = error {
        result["errorDetails"] = json!({"code": code, "message": message});
    }
    json!({
        "pipelineExecutionId": execution,
        "actionExecutionId": format!("{execution}-{stage}-{action}-{started}"),
        "pipelineVersion": 3,
        "stageName": stage,
        "actionName": action,
        "startTime": ts(started),
        "lastUpdateTime": ts(started + 60),
        "status": status,
        "input": {
            "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
            "configuration": {"ProjectName": "app"},
            "resolvedConfiguration": {},
            "region": region,
            "inputArtifacts": [],
        },
        "output": {
            "outputArtifacts": [],
            "executionResult": result,
            "outputVariables": {},
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Seeding moto

/// Adds `x-moto-account-id` to every request: moto keeps each account's resources apart, so
/// tests on one shared moto do not see each other's.
#[derive(Debug)]
pub struct MotoAccount(pub String);

impl aws_sdk_codebuild::config::Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_codebuild::config::interceptors::BeforeTransmitInterceptorContextMut<
            '_,
        >,
        _rc: &aws_sdk_codebuild::config::RuntimeComponents,
        _cfg: &mut aws_sdk_codebuild::config::ConfigBag,
    ) -> Result<(), aws_sdk_codebuild::error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// A 12-digit account id no other test uses.
pub fn unique_account() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mix = (nanos as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(u64::from(std::process::id()) << 20)
        .wrapping_add(N.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9));
    format!("{:012}", 100_000_000_000 + mix % 899_999_999_999)
}

/// Log lines put into a (new) log group and stream of `account` in moto.
pub async fn put_log_lines(
    base: &aws_config::SdkConfig,
    account: &str,
    region: &str,
    group: &str,
    stream: &str,
    lines: &[String],
) {
    let conf = aws_sdk_cloudwatchlogs::config::Builder::from(base)
        .region(aws_config::Region::new(region.to_owned()))
        .interceptor(MotoAccount(account.to_owned()))
        .build();
    let logs = aws_sdk_cloudwatchlogs::Client::from_conf(conf);
    let _ = logs.create_log_group().log_group_name(group).send().await;
    let _ = logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let events: Vec<aws_sdk_cloudwatchlogs::types::InputLogEvent> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now - 60_000 + i as i64)
                .message(l)
                .build()
                .expect("log event")
        })
        .collect();
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .expect("put log events");
}

/// Creates an IAM role in moto (`Query` protocol: the SDK has no IAM crate in this project).
pub async fn create_role(moto: &str, account: &str, name: &str, service: &str) {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    })
    .to_string();
    let form = [
        ("Action", "CreateRole"),
        ("Version", "2010-05-08"),
        ("RoleName", name),
        ("AssumeRolePolicyDocument", policy.as_str()),
    ];
    let resp = reqwest::Client::new()
        .post(format!("{moto}/"))
        .header("x-moto-account-id", account)
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form.iter()
                .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                .collect::<Vec<_>>()
                .join("&"),
        )
        .send()
        .await
        .expect("create role");
    assert!(resp.status().is_success(), "CreateRole: {}", resp.status());
}

/// One AWS JSON 1.1 call to moto as `account` (for resources this project has no SDK crate
/// for, or whose builders would bury the test: CreatePipeline, CreateProject, Organizations).
pub async fn moto_json(
    moto: &str,
    account: &str,
    region: &str,
    service: &str,
    target: &str,
    body: Value,
) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{moto}/"))
        .header("x-moto-account-id", account)
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(body.to_string())
        .send()
        .await
        .expect("moto call");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{target}: {status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Every string in a JSON value, one per line: what a rendered chat message says.
pub fn all_text(v: &Value) -> String {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out.join("\n")
}

fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
