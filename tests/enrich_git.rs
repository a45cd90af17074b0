//! Git providers: the commit author from GitHub, GitLab and Bitbucket when events and pipeline
//! APIs lack it, against a local server speaking each provider's commit API (their paths, auth
//! headers and response shapes); tokens come from secret references; a slow provider is cut off
//! by its timeout and the enrichment deadline.

mod aws_test_server;

use aws_credential_types::Credentials;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use herald::correlate::pipeline::PipelineExec;
use herald::correlate::{Body, Thread};
use herald::enrich::git::{GitConfig, ProviderConfig};
use herald::enrich::{Api, EnrichConfig, Enricher, Outcome};
use herald::notification::Notification;
use herald::secret::SecretRef;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SHA: &str = "8e0c6fb80e09020556d271d4cf0bacdab3614fbd";
const UNKNOWN: &str = "0000000000000000000000000000000000000000";

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

fn authorized(h: &HeaderMap, name: &str, want: &str) -> bool {
    h.get(name).and_then(|v| v.to_str().ok()) == Some(want)
}

async fn github(
    State(seen): State<Arc<Seen>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    seen.0
        .lock()
        .expect("lock")
        .push(format!("github {owner}/{repo}"));
    if !authorized(&h, "authorization", "Bearer gh-secret") {
        return (StatusCode::UNAUTHORIZED, "{}").into_response();
    }
    if sha == UNKNOWN {
        return (
            StatusCode::NOT_FOUND,
            r#"{"message":"No commit found for SHA"}"#,
        )
            .into_response();
    }
    axum::Json(json!({
        "sha": sha,
        "commit": {
            "author": {"name": "Mona Lisa", "email": "mona@example.com", "date": "2026-01-01T00:00:00Z"},
            "committer": {"name": "GitHub", "email": "noreply@github.com"},
            "message": "Fix the flaky test",
        },
        "author": {"login": "octocat"},
        "html_url": format!("https://github.com/{owner}/{repo}/commit/{sha}"),
    }))
    .into_response()
}

async fn gitlab(
    State(seen): State<Arc<Seen>>,
    Path((project, sha)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    seen.0
        .lock()
        .expect("lock")
        .push(format!("gitlab {project}"));
    if !authorized(&h, "private-token", "gl-secret") {
        return (StatusCode::UNAUTHORIZED, "{}").into_response();
    }
    axum::Json(json!({
        "id": sha, "short_id": &sha[..8], "title": "Update file README.md",
        "author_name": "Mary Major", "author_email": "mary@example.com",
        "message": "Update file README.md",
    }))
    .into_response()
}

async fn bitbucket(
    State(seen): State<Arc<Seen>>,
    Path((ws, repo, sha)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    seen.0
        .lock()
        .expect("lock")
        .push(format!("bitbucket {ws}/{repo}"));
    if !authorized(&h, "authorization", "Bearer bb-secret") {
        return (StatusCode::UNAUTHORIZED, "{}").into_response();
    }
    axum::Json(json!({
        "hash": sha, "type": "commit",
        "author": {"raw": "Jo Bloggs <jo@example.com>", "type": "author", "user": {"display_name": "Jo Bloggs", "type": "user"}},
        "message": "Try to break a deployment.",
    }))
    .into_response()
}

async fn slow() -> Response {
    tokio::time::sleep(Duration::from_secs(30)).await;
    StatusCode::OK.into_response()
}

async fn start() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = axum::Router::new()
        .route("/repos/{owner}/{repo}/commits/{sha}", get(github))
        .route(
            "/api/v4/projects/{project}/repository/commits/{sha}",
            get(gitlab),
        )
        .route("/2.0/repositories/{ws}/{repo}/commit/{sha}", get(bitbucket))
        .route("/slow/repos/{owner}/{repo}/commits/{sha}", get(slow))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

/// A pipeline notification whose commit lacks its author (as CodeStar connection events do).
fn pipeline(account: &str, provider: &str, url: &str, sha: &str) -> (Thread, Notification) {
    let p = PipelineExec::new(account, "eu-west-1", "web", "exec-1");
    let mut note = p.notification();
    note.trigger = Some("Webhook".into());
    note.commit = Some(herald::notification::Commit {
        id: Some(sha.into()),
        message: Some("a change".into()),
        provider: Some(provider.into()),
        url: Some(url.into()),
        ..Default::default()
    });
    (Thread::new(Body::Pipeline(Box::new(p))), note)
}

async fn enricher(git: GitConfig, deadline_ms: u64) -> Enricher {
    // No AWS call is needed for these notifications; the base config still reaches only loopback.
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(Credentials::new("testing", "testing", None, None, "static"))
        .load()
        .await;
    Enricher::new(
        EnrichConfig {
            enabled: true,
            deadline_ms,
            role_arn_template: String::new(),
            git,
            ..EnrichConfig::default()
        },
        &base,
    )
    .expect("enricher")
}

fn provider(url: &str, env: &str, token: &str) -> Option<ProviderConfig> {
    std::env::set_var(env, token);
    Some(ProviderConfig {
        api_url: Some(url.to_owned()),
        token: Some(SecretRef::Env(env.to_owned())),
    })
}

#[tokio::test]
async fn authors_from_github_gitlab_and_bitbucket() {
    let (url, seen) = start().await;
    let e = enricher(
        GitConfig {
            github: provider(&url, "HERALD_TEST_GH_TOKEN", "gh-secret"),
            gitlab: provider(&url, "HERALD_TEST_GL_TOKEN", "gl-secret"),
            bitbucket: provider(&url, "HERALD_TEST_BB_TOKEN", "bb-secret"),
            timeout_ms: 5_000,
        },
        10_000,
    )
    .await;
    let account = aws_test_server::unique_account();
    let connection = |repo: &str| {
        format!("https://eu-west-1.console.aws.amazon.com/codesuite/settings/connections/redirect?connectionArn=arn:aws:codestar-connections:eu-west-1:{account}:connection/x&referenceType=COMMIT&FullRepositoryId={repo}&Commit={SHA}")
    };
    for (prov, url, name, email) in [
        (
            "GitHub",
            format!("https://github.com/acme/web/commit/{SHA}"),
            "Mona Lisa",
            "mona@example.com",
        ),
        (
            "GitLab",
            connection("group/web"),
            "Mary Major",
            "mary@example.com",
        ),
        (
            "Bitbucket",
            connection("project/meerkat"),
            "Jo Bloggs",
            "jo@example.com",
        ),
    ] {
        let (thread, mut note) = pipeline(&account, prov, &url, SHA);
        let learned = e
            .enrich("ex#1", &thread, &mut note, None)
            .await
            .expect("learned");
        let c = note.commit.as_ref().expect("commit");
        assert_eq!(c.author.as_deref(), Some(name), "{prov}");
        assert_eq!(c.author_email.as_deref(), Some(email), "{prov}");
        assert_eq!(
            c.message.as_deref(),
            Some("a change"),
            "the event's message stays"
        );
        // Stored, the author is applied without asking again.
        let calls = e.stats().total();
        let (_, mut again) = pipeline(&account, prov, &url, SHA);
        assert_eq!(
            e.enrich("ex#1", &thread, &mut again, Some(&learned)).await,
            None
        );
        assert_eq!(again.commit, note.commit);
        assert_eq!(e.stats().total(), calls);
    }
    assert_eq!(
        seen.0.lock().expect("lock").clone(),
        [
            "github acme/web",
            "gitlab group/web",
            "bitbucket project/meerkat"
        ]
    );
    for api in [Api::GitHub, Api::GitLab, Api::Bitbucket] {
        assert_eq!(e.stats().count(api, Outcome::Ok), 1);
    }

    // An unknown commit is settled (not asked again); the message goes out without an author.
    let (thread, mut note) = pipeline(
        &account,
        "GitHub",
        &format!("https://github.com/acme/web/commit/{UNKNOWN}"),
        UNKNOWN,
    );
    let learned = e
        .enrich("ex#2", &thread, &mut note, None)
        .await
        .expect("learned");
    assert_eq!(learned.author_done_for.as_deref(), Some(UNKNOWN));
    assert_eq!(note.commit.as_ref().and_then(|c| c.author.clone()), None);
}

#[tokio::test]
async fn a_wrong_token_is_counted_as_denied_and_never_printed() {
    let (url, _) = start().await;
    let e = enricher(
        GitConfig {
            github: provider(&url, "HERALD_TEST_GH_WRONG", "not-the-token"),
            ..GitConfig::default()
        },
        10_000,
    )
    .await;
    let account = aws_test_server::unique_account();
    let (thread, mut note) = pipeline(
        &account,
        "GitHub",
        &format!("https://github.com/acme/web/commit/{SHA}"),
        SHA,
    );
    let learned = e.enrich("ex#1", &thread, &mut note, None).await;
    assert_eq!(e.stats().count(Api::GitHub, Outcome::Denied), 1);
    assert!(
        learned.is_none_or(|l| l.author_done_for.is_none()),
        "asked again next time"
    );
    assert!(!format!("{:?}", e.config()).contains("not-the-token"));
}

#[tokio::test]
async fn a_slow_provider_is_cut_off() {
    let (url, _) = start().await;
    let e = enricher(
        GitConfig {
            github: Some(ProviderConfig {
                api_url: Some(format!("{url}/slow")),
                token: None,
            }),
            timeout_ms: 300,
            ..GitConfig::default()
        },
        3_000,
    )
    .await;
    let account = aws_test_server::unique_account();
    let (thread, mut note) = pipeline(
        &account,
        "GitHub",
        &format!("https://github.com/acme/web/commit/{SHA}"),
        SHA,
    );
    let t = Instant::now();
    e.enrich("ex#1", &thread, &mut note, None).await;
    assert!(
        t.elapsed() < Duration::from_millis(1_500),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(e.stats().count(Api::GitHub, Outcome::Timeout), 1);
}
