//! CodeBuild and CloudWatch Logs: the failed phase and its context (which names the failing
//! command), the log group and stream, a console link (`BatchGetBuilds`), the failed test cases
//! of its test reports (`BatchGetReports`, `DescribeTestCases`), and the lines of the build's
//! log that explain the failure (`GetLogEvents`), trimmed so chat messages stay within their
//! limits.

use super::accounts::Clients;
use super::{Api, BuildDetail, CallError, Ctx, Outcome, TailLimits};
use crate::notification::{FailedTest, LogRegion, TESTS_KEPT};
use std::collections::BTreeMap;

/// Log events read per failed build: GetLogEvents' largest page.
const LOG_READ_EVENTS: i32 = 10_000;

/// `BatchGetBuilds` takes at most 100 ids.
const BATCH_MAX: usize = 100;

/// A build to learn about, and where its log probably is before `BatchGetBuilds` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildWant {
    pub build_id: String,
    pub log_group: Option<String>,
    pub log_stream: Option<String>,
}

impl BuildWant {
    /// The log group and stream: the event's, else CodeBuild's defaults
    /// (`/aws/codebuild/PROJECT`, stream named by the build's UUID).
    pub fn log_location(&self) -> Option<(String, String)> {
        let (project, uuid) = self.build_id.split_once(':')?;
        Some((
            self.log_group
                .clone()
                .unwrap_or_else(|| format!("/aws/codebuild/{project}")),
            self.log_stream.clone().unwrap_or_else(|| uuid.to_owned()),
        ))
    }
}

/// Build states after which nothing changes.
fn terminal(status: &str) -> bool {
    matches!(
        status,
        "SUCCEEDED" | "FAILED" | "FAULT" | "TIMED_OUT" | "STOPPED"
    )
}

/// Learns what `known` lacks about each wanted build: the build (unless already fetched in a
/// final state) and its log tail (unless already read), concurrently. Returns the updated
/// details of the builds it learned something about.
pub async fn fetch(
    ctx: &Ctx,
    c: &Clients,
    region: &str,
    account: &str,
    wants: &[BuildWant],
    known: &BTreeMap<String, BuildDetail>,
    limits: &TailLimits,
) -> BTreeMap<String, BuildDetail> {
    let mut out: BTreeMap<String, BuildDetail> = wants
        .iter()
        .map(|w| {
            (
                w.build_id.clone(),
                known.get(&w.build_id).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let need_build: Vec<String> = out
        .iter()
        .filter(|(_, d)| !d.fetched)
        .map(|(id, _)| id.clone())
        .collect();
    // Tail where the event (or CodeBuild's defaults) says the log is, while asking for the
    // build; a build with its own log settings is tailed again below once its location is known.
    let first_tails: Vec<(String, String, String)> = wants
        .iter()
        .filter(|w| out.get(&w.build_id).is_some_and(|d| !d.tail_done))
        .filter_map(|w| {
            let known = out.get(&w.build_id)?;
            let (g, s) = match (&known.log_group, &known.log_stream) {
                (Some(g), Some(s)) => (g.clone(), s.clone()),
                _ => w.log_location()?,
            };
            Some((w.build_id.clone(), g, s))
        })
        .collect();
    let builds_fut = async {
        let mut all = Vec::new();
        for chunk in need_build.chunks(BATCH_MAX) {
            all.push(batch_get_builds(ctx, c, chunk).await);
        }
        all
    };
    let tails_fut = futures::future::join_all(
        first_tails
            .iter()
            .map(|(_, g, s)| tail(ctx, c, g, s, limits)),
    );
    let (batches, tails) = tokio::join!(builds_fut, tails_fut);

    for (found, missing) in batches.into_iter().flatten() {
        // Unknown here (another account, or expired): asking again will not find it.
        for id in missing {
            if let Some(d) = out.get_mut(&id) {
                d.fetched = true;
            }
        }
        for b in found {
            let Some(d) = out.get_mut(&b.id) else {
                continue;
            };
            d.status = b.status.clone().or(d.status.take());
            d.fetched = b.status.as_deref().is_some_and(terminal);
            d.failed_phase = b.failed_phase.or(d.failed_phase.take());
            d.context = b.context.or(d.context.take());
            if b.log_group.is_some() {
                d.log_group = b.log_group;
            }
            if b.log_stream.is_some() {
                d.log_stream = b.log_stream;
            }
            d.report_arns = b.report_arns;
            // Only a failed build's reports say why; a build without reports has none to read.
            let failed = d
                .status
                .as_deref()
                .is_some_and(|s| terminal(s) && s != "SUCCEEDED");
            if d.fetched && (!failed || d.report_arns.is_empty()) {
                d.reports_done = true;
            }
            d.log_url = b.log_url.or(d.log_url.take());
            d.console_url = Some(console_url(region, account, &b.id));
        }
    }
    let mut tailed: BTreeMap<String, (String, String)> = BTreeMap::new();
    for ((id, g, s), res) in first_tails.into_iter().zip(tails) {
        let Some(d) = out.get_mut(&id) else {
            continue;
        };
        let moved = match (&d.log_group, &d.log_stream) {
            (Some(ag), Some(as_)) => *ag != g || *as_ != s,
            _ => false,
        };
        match res {
            Ok((lines, region)) if !lines.is_empty() || !moved => {
                d.log_tail = lines;
                d.log_region = region;
                d.tail_done = true;
                if d.log_group.is_none() || d.log_stream.is_none() {
                    d.log_group = Some(g.clone());
                    d.log_stream = Some(s.clone());
                }
            }
            // No such stream: settled, unless the build said it logs elsewhere.
            Err(e) if e.outcome == Outcome::NotFound && !moved => d.tail_done = true,
            _ => {}
        }
        tailed.insert(id, (g, s));
    }
    // Builds whose log is somewhere the first round did not look: tail it there.
    let retail: Vec<String> = out
        .iter()
        .filter(|(id, d)| {
            !d.tail_done
                && match (&d.log_group, &d.log_stream) {
                    (Some(g), Some(s)) => tailed.get(*id) != Some(&(g.clone(), s.clone())),
                    _ => false,
                }
        })
        .map(|(id, _)| id.clone())
        .collect();
    let again = futures::future::join_all(retail.iter().filter_map(|id| {
        let d = out.get(id)?;
        let (g, s) = (d.log_group.clone()?, d.log_stream.clone()?);
        Some(async move { (id.clone(), tail(ctx, c, &g, &s, limits).await) })
    }))
    .await;
    for (id, res) in again {
        if let Some(d) = out.get_mut(&id) {
            match res {
                Ok((lines, region)) => {
                    d.log_tail = lines;
                    d.log_region = region;
                    d.tail_done = true;
                }
                Err(e) if e.outcome == Outcome::NotFound => d.tail_done = true,
                Err(_) => {}
            }
        }
    }
    // A build known without report ARNs (also one stored before Herald read reports) has none.
    for d in out.values_mut() {
        if d.fetched && d.report_arns.is_empty() {
            d.reports_done = true;
        }
    }
    // The failed tests, from the failed builds' test reports.
    let reading: Vec<(String, Vec<String>)> = out
        .iter()
        .filter(|(_, d)| d.fetched && !d.reports_done && !d.report_arns.is_empty())
        .map(|(id, d)| (id.clone(), d.report_arns.clone()))
        .collect();
    let read = futures::future::join_all(
        reading
            .iter()
            .map(|(_, arns)| failed_tests(ctx, c, arns, limits)),
    )
    .await;
    for ((id, _), res) in reading.into_iter().zip(read) {
        let Some(d) = out.get_mut(&id) else {
            continue;
        };
        match res {
            Ok(t) => {
                d.tests = t.tests;
                d.tests_failed = Some(t.failed);
                d.tests_total = Some(t.total);
                d.reports_done = true;
            }
            // Expired or deleted reports will not come back, and a reader role without the
            // grant (a member stack not updated yet) will not have it next time either.
            Err(e) if matches!(e.outcome, Outcome::NotFound | Outcome::Denied) => {
                d.reports_done = true
            }
            Err(_) => {}
        }
    }
    for d in out.values_mut() {
        if d.log_url.is_none() {
            if let (Some(g), Some(s)) = (&d.log_group, &d.log_stream) {
                d.log_url = Some(logs_console_url(region, g, s));
            }
        }
    }
    out
}

/// One build as `BatchGetBuilds` tells it.
#[derive(Debug, Clone, Default)]
struct BuildFacts {
    id: String,
    status: Option<String>,
    failed_phase: Option<String>,
    context: Option<String>,
    log_group: Option<String>,
    log_stream: Option<String>,
    log_url: Option<String>,
    report_arns: Vec<String>,
}

/// The builds found, and the ids CodeBuild does not know.
async fn batch_get_builds(
    ctx: &Ctx,
    c: &Clients,
    ids: &[String],
) -> Result<(Vec<BuildFacts>, Vec<String>), CallError> {
    let req = c.codebuild.batch_get_builds().set_ids(Some(ids.to_vec()));
    let out = ctx
        .call(Api::BatchGetBuilds, async {
            req.send().await.map_err(|e| CallError::from_sdk(&e))
        })
        .await?;
    let missing = out.builds_not_found().to_vec();
    let found = out
        .builds()
        .iter()
        .filter_map(|b| {
            let id = b.id()?.to_owned();
            // The first phase that did not succeed, and what CodeBuild said about it.
            let failed = b.phases().iter().find(|p| {
                p.phase_status()
                    .is_some_and(|s| !matches!(s.as_str(), "SUCCEEDED" | "IN_PROGRESS"))
            });
            let context = failed.and_then(|p| {
                let parts: Vec<String> = p
                    .contexts()
                    .iter()
                    .filter_map(|c| {
                        let msg = c.message().map(str::trim).filter(|m| !m.is_empty());
                        match (c.status_code().filter(|s| !s.is_empty()), msg) {
                            (Some(code), Some(m)) => Some(format!("{code}: {m}")),
                            (None, Some(m)) => Some(m.to_owned()),
                            (Some(code), None) => Some(code.to_owned()),
                            (None, None) => None,
                        }
                    })
                    .collect();
                (!parts.is_empty()).then(|| parts.join("; "))
            });
            let logs = b.logs();
            // Emulators and builds without CloudWatch logging give `null` names.
            let real = |s: Option<&str>| {
                s.map(str::trim)
                    .filter(|s| !s.is_empty() && *s != "null")
                    .map(str::to_owned)
            };
            let log_url = logs
                .and_then(|l| l.deep_link())
                .filter(|u| u.starts_with("https://") && !u.contains("group=null"))
                .map(str::to_owned);
            Some(BuildFacts {
                id,
                status: b.build_status().map(|s| s.as_str().to_owned()),
                failed_phase: failed
                    .and_then(|p| p.phase_type())
                    .map(|t| t.as_str().to_owned()),
                context,
                log_group: real(logs.and_then(|l| l.group_name())),
                log_stream: real(logs.and_then(|l| l.stream_name())),
                log_url,
                report_arns: b.report_arns().to_vec(),
            })
        })
        .collect();
    Ok((found, missing))
}

/// The lines of a log stream that explain the failure ([`excerpt`](super::excerpt::excerpt)),
/// oldest first, within `limits`, and where they are in what was read.
pub async fn tail(
    ctx: &Ctx,
    c: &Clients,
    group: &str,
    stream: &str,
    limits: &TailLimits,
) -> Result<(Vec<String>, Option<LogRegion>), CallError> {
    // The end of the log, as much as one call returns (10,000 events or 1 MB): the first error
    // is often far above the last lines (a test run prints on after its one failure).
    let req = c
        .logs
        .get_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .start_from_head(false)
        .limit(LOG_READ_EVENTS);
    let out = ctx
        .call(Api::GetLogEvents, async {
            req.send().await.map_err(|e| CallError::from_sdk(&e))
        })
        .await?;
    let messages: Vec<&str> = out.events().iter().filter_map(|e| e.message()).collect();
    Ok(super::excerpt::excerpt(&messages, limits))
}

/// What a build's test reports say about its failed tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportTests {
    /// The first failed cases, FAILED before ERROR, at most [`TESTS_KEPT`].
    pub tests: Vec<FailedTest>,
    /// FAILED and ERROR cases, all test reports together.
    pub failed: u64,
    pub total: u64,
}

/// `DescribeTestCases` page size (its maximum).
const TEST_CASES_PAGE: i32 = 100;

/// The failed test cases of `arns` (a build's reports; coverage reports are skipped): the
/// counts from each test report's summary (`BatchGetReports`), and the first failed cases
/// (`DescribeTestCases` filtered to FAILED, then ERROR, paginated until [`TESTS_KEPT`]).
pub async fn failed_tests(
    ctx: &Ctx,
    c: &Clients,
    arns: &[String],
    limits: &TailLimits,
) -> Result<ReportTests, CallError> {
    let mut out = ReportTests::default();
    let mut failing: Vec<String> = Vec::new();
    // BatchGetReports takes at most 100 ARNs.
    for chunk in arns.chunks(BATCH_MAX) {
        let req = c
            .codebuild
            .batch_get_reports()
            .set_report_arns(Some(chunk.to_vec()));
        let got = ctx
            .call(Api::BatchGetReports, async {
                req.send().await.map_err(|e| CallError::from_sdk(&e))
            })
            .await?;
        for r in got.reports() {
            if r.r#type().is_some_and(|t| t.as_str() != "TEST") {
                continue;
            }
            let Some(summary) = r.test_summary() else {
                continue;
            };
            let count = |status: &str| {
                summary
                    .status_counts()
                    .get(status)
                    .map_or(0, |n| u64::try_from(*n).unwrap_or(0))
            };
            let failed = count("FAILED") + count("ERROR");
            out.failed += failed;
            out.total += u64::try_from(summary.total()).unwrap_or(0);
            if failed > 0 {
                if let Some(arn) = r.arn() {
                    failing.push(arn.to_owned());
                }
            }
        }
        if got.reports().is_empty() && !got.reports_not_found().is_empty() {
            return Err(CallError {
                outcome: Outcome::NotFound,
                message: "no such report".into(),
            });
        }
    }
    // A failed page keeps what was read: the counts and the cases so far.
    let _ = read_cases(ctx, c, &failing, limits, &mut out.tests).await;
    Ok(out)
}

/// The first failed cases of `failing` (FAILED, then ERROR), into `tests`, up to [`TESTS_KEPT`].
async fn read_cases(
    ctx: &Ctx,
    c: &Clients,
    failing: &[String],
    limits: &TailLimits,
    tests: &mut Vec<FailedTest>,
) -> Result<(), CallError> {
    'statuses: for status in ["FAILED", "ERROR"] {
        for arn in failing {
            if tests.len() >= TESTS_KEPT {
                break 'statuses;
            }
            let mut token: Option<String> = None;
            loop {
                let room = TESTS_KEPT - tests.len();
                let filter = aws_sdk_codebuild::types::TestCaseFilter::builder()
                    .status(status)
                    .build();
                let req = c
                    .codebuild
                    .describe_test_cases()
                    .report_arn(arn)
                    .filter(filter)
                    .max_results(TEST_CASES_PAGE.min(i32::try_from(room).unwrap_or(1)).max(1))
                    .set_next_token(token.take());
                let page = ctx
                    .call(Api::DescribeTestCases, async {
                        req.send().await.map_err(|e| CallError::from_sdk(&e))
                    })
                    .await?;
                for t in page.test_cases() {
                    if tests.len() >= TESTS_KEPT {
                        break 'statuses;
                    }
                    tests.push(FailedTest {
                        name: t.name().unwrap_or("(unnamed test)").to_owned(),
                        suite: t
                            .test_suite_name()
                            .or(t.prefix())
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                        file: t
                            .test_raw_data_path()
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                        status: t.status().unwrap_or(status).to_owned(),
                        message: t.message().and_then(|m| first_lines(m, limits)),
                    });
                }
                match page.next_token() {
                    Some(n) if !n.is_empty() && tests.len() < TESTS_KEPT => {
                        token = Some(n.to_owned());
                    }
                    _ => break,
                }
            }
        }
    }
    Ok(())
}

/// A test's failure message as chat shows it: its first three non-blank lines, ANSI codes
/// removed, each cut to the log line limit.
fn first_lines(m: &str, limits: &TailLimits) -> Option<String> {
    let lines: Vec<String> = m
        .lines()
        .map(|l| crate::notification::enrichment::strip_ansi(l.trim_end()))
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .map(|l| crate::render::truncate(&l, limits.line_chars).into_owned())
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The CodeBuild console page of a build.
pub fn console_url(region: &str, account: &str, build_id: &str) -> String {
    let project = build_id.split(':').next().unwrap_or(build_id);
    format!(
        "https://{region}.console.aws.amazon.com/codesuite/codebuild/{account}/projects/{project}/build/{}/?region={region}",
        build_id.replace(':', "%3A")
    )
}

/// The CloudWatch console page of a log stream (its path segments are encoded twice, `/` as
/// `$252F`, as the console expects).
pub fn logs_console_url(region: &str, group: &str, stream: &str) -> String {
    fn enc(s: &str) -> String {
        const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'_')
            .remove(b'.');
        // Percent-encoded once, then its `%` encoded again as the console wants: `$25`.
        percent_encoding::utf8_percent_encode(s, KEEP)
            .to_string()
            .replace('%', "$25")
    }
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}",
        enc(group),
        enc(stream)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_log_location_is_project_group_and_uuid_stream() {
        let w = BuildWant {
            build_id: "app:1e81d092-63ae".into(),
            log_group: None,
            log_stream: None,
        };
        assert_eq!(
            w.log_location(),
            Some(("/aws/codebuild/app".into(), "1e81d092-63ae".into()))
        );
    }

    #[test]
    fn console_links_encode_what_the_console_expects() {
        assert_eq!(
            logs_console_url("us-west-2", "/aws/codebuild/app", "1e81"),
            "https://us-west-2.console.aws.amazon.com/cloudwatch/home?region=us-west-2#logsV2:log-groups/log-group/$252Faws$252Fcodebuild$252Fapp/log-events/1e81"
        );
        assert!(console_url("eu-west-1", "123456789012", "app:u-1").contains("/build/app%3Au-1/"));
    }
}
