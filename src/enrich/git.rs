//! Git providers: the commit author's name and email from GitHub, GitLab or Bitbucket, for
//! commits whose events and pipeline APIs name no author (CodeStar connections never do).
//! Optional (a provider is asked only when its section is configured), with a token from a
//! secret reference (as destinations take them: a value, `{ env = … }`, `{ ssm = … }` or
//! `{ secrets_manager = …, key = … }`) and a timeout; base URLs are configurable for GitHub
//! Enterprise, self-managed GitLab, and tests.

use super::{Api, CallError, Ctx, EnrichError, Outcome};
use crate::secret::AwsSecrets;
use crate::secret::Secret;
use crate::secret::SecretRef;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitConfig {
    pub github: Option<ProviderConfig>,
    pub gitlab: Option<ProviderConfig>,
    pub bitbucket: Option<ProviderConfig>,
    /// Per request, and never past the enrichment deadline.
    pub timeout_ms: u64,
}

impl Default for GitConfig {
    fn default() -> Self {
        Self {
            github: None,
            gitlab: None,
            bitbucket: None,
            timeout_ms: 1_500,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// The API base: `https://api.github.com`, `https://gitlab.com`, `https://api.bitbucket.org`
    /// unless set (GitHub Enterprise: `https://HOST/api/v3`).
    pub api_url: Option<String>,
    /// The API token, as a secret reference. Without one, only public repositories answer.
    pub token: Option<SecretRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
    Bitbucket,
}

impl Provider {
    fn api(self) -> Api {
        match self {
            Provider::GitHub => Api::GitHub,
            Provider::GitLab => Api::GitLab,
            Provider::Bitbucket => Api::Bitbucket,
        }
    }

    fn default_base(self) -> &'static str {
        match self {
            Provider::GitHub => "https://api.github.com",
            Provider::GitLab => "https://gitlab.com",
            Provider::Bitbucket => "https://api.bitbucket.org",
        }
    }

    /// CodePipeline's and CodeStar's provider names.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "GitHub" | "GitHubEnterpriseServer" | "github" => Some(Provider::GitHub),
            "GitLab" | "GitLabSelfManaged" | "gitlab" => Some(Provider::GitLab),
            "Bitbucket" | "bitbucket" => Some(Provider::Bitbucket),
            _ => None,
        }
    }

    fn from_host(host: &str) -> Option<Self> {
        match host {
            "github.com" | "www.github.com" => Some(Provider::GitHub),
            "gitlab.com" | "www.gitlab.com" => Some(Provider::GitLab),
            "bitbucket.org" | "www.bitbucket.org" => Some(Provider::Bitbucket),
            _ => None,
        }
    }
}

/// One commit to ask a provider about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub provider: Provider,
    /// `owner/repo` (GitLab: the full project path).
    pub repository: String,
    pub sha: String,
}

impl Lookup {
    /// Works out provider and repository from what the event and the pipeline APIs gave: the
    /// provider name, the repository, and the commit URL (a CodeStar connection redirect carries
    /// `FullRepositoryId`; github.com, gitlab.com and bitbucket.org commit URLs carry the path).
    pub fn find(
        provider: Option<&str>,
        repository: Option<&str>,
        url: Option<&str>,
        sha: &str,
    ) -> Option<Lookup> {
        if !valid_sha(sha) {
            return None;
        }
        let from_url = url.and_then(parse_commit_url);
        let provider = provider
            .and_then(Provider::from_name)
            .or(from_url.as_ref().and_then(|(p, _)| *p))?;
        let repository = repository
            .map(str::to_owned)
            .or_else(|| from_url.and_then(|(_, r)| r))?;
        valid_repo(&repository).then(|| Lookup {
            provider,
            repository,
            sha: sha.to_owned(),
        })
    }
}

fn valid_sha(s: &str) -> bool {
    (7..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn valid_repo(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

/// (provider by host, repository) from a commit URL.
fn parse_commit_url(url: &str) -> Option<(Option<Provider>, Option<String>)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let from_query = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("FullRepositoryId="))
        .map(percent_decode);
    if from_query.is_some() {
        return Some((None, from_query));
    }
    let provider = Provider::from_host(host)?;
    let marker = match provider {
        Provider::GitHub => "/commit/",
        Provider::GitLab => "/-/commit/",
        Provider::Bitbucket => "/commits/",
    };
    let path = format!("/{path}");
    let repo = path
        .find(marker)
        .and_then(|i| path.get(1..i))
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    Some((Some(provider), repo))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Percent-encodes everything but unreserved characters (a GitLab project path is one segment).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a provider says about a commit's author.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Author {
    pub name: Option<String>,
    pub email: Option<String>,
}

struct Endpoint {
    base: String,
    token: Option<SecretRef>,
    /// The token's value, resolved once (SSM and Secrets Manager references on first use).
    resolved: tokio::sync::OnceCell<Option<Secret>>,
}

impl Endpoint {
    async fn token(&self, aws: &AwsSecrets) -> Result<Option<Secret>, String> {
        self.resolved
            .get_or_try_init(|| async {
                match &self.token {
                    None => Ok(None),
                    Some(r) => r.resolve(aws).await.map(Some),
                }
            })
            .await
            .cloned()
    }
}

pub struct Git {
    http: reqwest::Client,
    aws: AwsSecrets,
    github: Option<Endpoint>,
    gitlab: Option<Endpoint>,
    bitbucket: Option<Endpoint>,
}

impl Git {
    /// `None` when no provider is configured. Tokens in the config or the environment are
    /// resolved now (a missing one is a config error); SSM and Secrets Manager ones on first
    /// use, with `base`'s credentials.
    pub fn new(cfg: &GitConfig, base: &aws_config::SdkConfig) -> Result<Option<Git>, EnrichError> {
        if cfg.github.is_none() && cfg.gitlab.is_none() && cfg.bitbucket.is_none() {
            return Ok(None);
        }
        let endpoint = |p: &Option<ProviderConfig>, provider: Provider| {
            p.as_ref()
                .map(|c| {
                    let resolved = tokio::sync::OnceCell::new();
                    if let Some(r) = &c.token {
                        let local = r.resolve_local().map_err(|e| {
                            EnrichError::Config(format!("git token ({}): {e}", r.describe()))
                        })?;
                        if let Some(s) = local {
                            // Cannot fail: the cell is new.
                            let _ = resolved.set(Some(s));
                        }
                    } else {
                        let _ = resolved.set(None);
                    }
                    Ok::<_, EnrichError>(Endpoint {
                        base: c
                            .api_url
                            .clone()
                            .unwrap_or_else(|| provider.default_base().to_owned())
                            .trim_end_matches('/')
                            .to_owned(),
                        token: c.token.clone(),
                        resolved,
                    })
                })
                .transpose()
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .connect_timeout(Duration::from_millis(cfg.timeout_ms))
            // A token must never follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EnrichError::Config(format!("git http client: {e}")))?;
        Ok(Some(Git {
            http,
            aws: AwsSecrets::new(Some(base.clone())),
            github: endpoint(&cfg.github, Provider::GitHub)?,
            gitlab: endpoint(&cfg.gitlab, Provider::GitLab)?,
            bitbucket: endpoint(&cfg.bitbucket, Provider::Bitbucket)?,
        }))
    }

    pub fn serves(&self, p: Provider) -> bool {
        self.endpoint(p).is_some()
    }

    fn endpoint(&self, p: Provider) -> Option<&Endpoint> {
        match p {
            Provider::GitHub => self.github.as_ref(),
            Provider::GitLab => self.gitlab.as_ref(),
            Provider::Bitbucket => self.bitbucket.as_ref(),
        }
    }

    /// The commit's author; `Ok(None)` when the provider does not know the commit.
    pub async fn author(&self, ctx: &Ctx, l: &Lookup) -> Result<Option<Author>, CallError> {
        let Some(ep) = self.endpoint(l.provider) else {
            return Ok(None);
        };
        let token = match ep.token(&self.aws).await {
            Ok(t) => t,
            Err(e) => {
                ctx.stats.record(l.provider.api(), Outcome::Error);
                return Err(CallError {
                    outcome: Outcome::Error,
                    message: format!("git token: {e}"),
                });
            }
        };
        let (url, auth) = match l.provider {
            Provider::GitHub => (
                format!("{}/repos/{}/commits/{}", ep.base, l.repository, l.sha),
                token
                    .as_ref()
                    .map(|t| ("authorization", format!("Bearer {}", t.expose()))),
            ),
            Provider::GitLab => (
                format!(
                    "{}/api/v4/projects/{}/repository/commits/{}",
                    ep.base,
                    encode_segment(&l.repository),
                    l.sha
                ),
                token
                    .as_ref()
                    .map(|t| ("private-token", t.expose().to_owned())),
            ),
            Provider::Bitbucket => (
                format!(
                    "{}/2.0/repositories/{}/commit/{}",
                    ep.base, l.repository, l.sha
                ),
                token
                    .as_ref()
                    .map(|t| ("authorization", format!("Bearer {}", t.expose()))),
            ),
        };
        let mut req = self.http.get(&url).header("accept", "application/json");
        if l.provider == Provider::GitHub {
            req = req
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28");
        }
        if let Some((h, v)) = auth {
            req = req.header(h, v);
        }
        let redact = |s: String| match &token {
            Some(t) => t.redact(&s),
            None => s,
        };
        let provider = l.provider;
        let res = ctx
            .call(provider.api(), async move {
                let resp = req.send().await.map_err(|e| CallError {
                    outcome: if e.is_timeout() {
                        Outcome::Timeout
                    } else {
                        Outcome::Error
                    },
                    message: redact(e.to_string()),
                })?;
                let status = resp.status().as_u16();
                let outcome = match status {
                    200..=299 => None,
                    404 => return Ok(None),
                    401 | 403 => Some(Outcome::Denied),
                    429 => Some(Outcome::Throttled),
                    _ => Some(Outcome::Error),
                };
                if let Some(outcome) = outcome {
                    return Err(CallError {
                        outcome,
                        message: format!("HTTP {status}"),
                    });
                }
                let body: serde_json::Value = resp.json().await.map_err(|e| CallError {
                    outcome: Outcome::Error,
                    message: redact(e.to_string()),
                })?;
                Ok(Some(body))
            })
            .await?;
        Ok(res.map(|b| parse_author(provider, &b)))
    }
}

fn text(v: &serde_json::Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn parse_author(p: Provider, b: &serde_json::Value) -> Author {
    match p {
        Provider::GitHub => Author {
            name: text(b, &["commit", "author", "name"]),
            email: text(b, &["commit", "author", "email"]),
        },
        Provider::GitLab => Author {
            name: text(b, &["author_name"]),
            email: text(b, &["author_email"]),
        },
        Provider::Bitbucket => {
            // `raw` is "Name <email>"; the linked user's display name is better when present.
            let raw = text(b, &["author", "raw"]).unwrap_or_default();
            let (raw_name, raw_email) = match raw.split_once('<') {
                Some((n, e)) => (
                    Some(n.trim().to_owned()).filter(|s| !s.is_empty()),
                    Some(e.trim_end_matches('>').trim().to_owned()).filter(|s| !s.is_empty()),
                ),
                None => (Some(raw.trim().to_owned()).filter(|s| !s.is_empty()), None),
            };
            Author {
                name: text(b, &["author", "user", "display_name"]).or(raw_name),
                email: raw_email,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_repository_of_a_codestar_connection_commit() {
        let url = "https://ap-southeast-2.console.aws.amazon.com/codesuite/settings/connections/redirect?connectionArn=arn:aws:codestar-connections:ap-southeast-2:000000000000:connection/0defde9e&referenceType=COMMIT&FullRepositoryId=project/meerkat&Commit=eaa7f28a89218fbfa7faa63dab80e7d859689c33";
        let l = Lookup::find(
            Some("Bitbucket"),
            None,
            Some(url),
            "eaa7f28a89218fbfa7faa63dab80e7d859689c33",
        )
        .expect("lookup");
        assert_eq!(l.provider, Provider::Bitbucket);
        assert_eq!(l.repository, "project/meerkat");
    }

    #[test]
    fn finds_provider_and_repository_in_plain_commit_urls() {
        let sha = "1a104adf6a84de18fa3e3c4cb42b5024fe450ed5";
        let gh = Lookup::find(
            None,
            None,
            Some(&format!("https://github.com/acme/app/commit/{sha}")),
            sha,
        )
        .expect("github");
        assert_eq!(
            (gh.provider, gh.repository.as_str()),
            (Provider::GitHub, "acme/app")
        );
        let gl = Lookup::find(
            None,
            None,
            Some(&format!("https://gitlab.com/group/sub/app/-/commit/{sha}")),
            sha,
        )
        .expect("gitlab");
        assert_eq!(
            (gl.provider, gl.repository.as_str()),
            (Provider::GitLab, "group/sub/app")
        );
        let bb = Lookup::find(
            None,
            None,
            Some(&format!("https://bitbucket.org/ws/repo/commits/{sha}")),
            sha,
        )
        .expect("bitbucket");
        assert_eq!(
            (bb.provider, bb.repository.as_str()),
            (Provider::Bitbucket, "ws/repo")
        );
    }

    #[test]
    fn odd_urls_find_nothing_and_never_panic() {
        let sha = "1a104adf6a84de18fa3e3c4cb42b5024fe450ed5";
        for url in [
            "https://github.com/commit/x",
            "https://github.com",
            "https://gitlab.com/-/commit/",
            "https://bitbucket.org/commits/",
            "https://x/?FullRepositoryId=%E2%82",
            "not a url",
        ] {
            assert!(Lookup::find(None, None, Some(url), sha).is_none(), "{url}");
        }
    }

    #[test]
    fn refuses_what_could_escape_the_path() {
        let sha = "1a104adf6a84de18fa3e3c4cb42b5024fe450ed5";
        assert!(Lookup::find(Some("GitHub"), Some("../../x"), None, sha).is_none());
        assert!(Lookup::find(Some("GitHub"), Some("a/b?c"), None, sha).is_none());
        assert!(Lookup::find(Some("GitHub"), Some("a/b"), None, "HEAD/../x").is_none());
        assert!(Lookup::find(Some("CodeCommit"), Some("a/b"), None, sha).is_none());
    }

    #[test]
    fn bitbucket_raw_author_splits_into_name_and_email() {
        let b = serde_json::json!({"author": {"raw": "Mary Major <mary@example.com>"}});
        assert_eq!(
            parse_author(Provider::Bitbucket, &b),
            Author {
                name: Some("Mary Major".into()),
                email: Some("mary@example.com".into())
            }
        );
    }
}
