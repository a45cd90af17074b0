//! Accounts: every enrichment call runs in the event's own account and region, with credentials
//! from assuming that account's reader role. Owns the role ARN template and its overrides, the
//! allow-list, the assumed-credentials cache (one `AssumeRole` per account until shortly before
//! the credentials expire, not one per event), the SDK clients per account and region, and the
//! account aliases shown in messages (config map, or AWS Organizations `ListAccounts`).

use super::{Api, CallError, Ctx, EnrichConfig, Outcome, Stats};
use aws_config::SdkConfig;
use aws_credential_types::provider::{self, error::CredentialsError, ProvideCredentials};
use aws_credential_types::Credentials;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// At most this many (account, region) client sets are kept; past it the cache starts over
/// (an organization has far fewer, so this only bounds memory against odd input).
const MAX_CLIENT_SETS: usize = 2_000;

/// The SDK clients of one account and region.
#[derive(Clone)]
pub struct Clients {
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub codebuild: aws_sdk_codebuild::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

/// Why an account gets no calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not on `allowed_accounts`.
    NotAllowed,
    /// Not a 12-digit account id (masked samples, missing fields).
    BadAccount,
}

pub struct Accounts {
    base: SdkConfig,
    cfg: EnrichConfig,
    stats: Arc<Stats>,
    sts: aws_sdk_sts::Client,
    roles: Mutex<HashMap<String, Arc<RoleCredentials>>>,
    clients: Mutex<HashMap<(String, String), Arc<Clients>>>,
    aliases: Aliases,
}

impl Accounts {
    pub fn new(cfg: &EnrichConfig, base: &SdkConfig, stats: Arc<Stats>) -> Self {
        let mut sts = aws_sdk_sts::config::Builder::from(base)
            .timeout_config(cfg.timeouts())
            .retry_config(cfg.retries());
        if let Some(e) = cfg.endpoints.get("sts") {
            sts = sts.endpoint_url(e);
        }
        let org = cfg.organizations.then(|| {
            let mut b = aws_sdk_organizations::config::Builder::from(base)
                .timeout_config(cfg.timeouts())
                .retry_config(cfg.retries());
            if let Some(e) = cfg.endpoints.get("organizations") {
                b = b.endpoint_url(e);
            }
            aws_sdk_organizations::Client::from_conf(b.build())
        });
        Self {
            base: base.clone(),
            cfg: cfg.clone(),
            stats,
            sts: aws_sdk_sts::Client::from_conf(sts.build()),
            roles: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            aliases: Aliases {
                fixed: cfg.aliases.clone(),
                org,
                refresh: Duration::from_secs(cfg.aliases_refresh_secs),
                state: tokio::sync::Mutex::new(OrgAliases::default()),
            },
        }
    }

    /// Whether calls may be made in `account` at all.
    pub fn check(&self, account: &str) -> Result<(), Refusal> {
        if account.len() != 12
            || !account.bytes().all(|b| b.is_ascii_digit())
            || account == "000000000000"
        {
            return Err(Refusal::BadAccount);
        }
        if !self.cfg.allowed_accounts.is_empty()
            && !self.cfg.allowed_accounts.iter().any(|a| a == account)
        {
            return Err(Refusal::NotAllowed);
        }
        Ok(())
    }

    /// The role assumed in `account`, or `None` to use the base credentials there.
    pub fn role_arn(&self, account: &str) -> Option<String> {
        let arn = match self.cfg.role_overrides.get(account) {
            Some(a) => a.clone(),
            None => self.cfg.role_arn_template.replace("{account}", account),
        };
        (!arn.is_empty()).then_some(arn)
    }

    /// The clients of one account and region, built once and kept.
    pub fn clients(&self, account: &str, region: &str) -> Arc<Clients> {
        let key = (account.to_owned(), region.to_owned());
        let mut map = lock(&self.clients);
        if let Some(c) = map.get(&key) {
            return c.clone();
        }
        if map.len() >= MAX_CLIENT_SETS {
            map.clear();
        }
        let creds = self.role_arn(account).map(|arn| {
            aws_credential_types::provider::SharedCredentialsProvider::new(RoleProvider(
                self.role(account, &arn),
            ))
        });
        let c = Arc::new(self.build_clients(region, creds));
        map.insert(key, c.clone());
        c
    }

    fn role(&self, account: &str, arn: &str) -> Arc<RoleCredentials> {
        lock(&self.roles)
            .entry(account.to_owned())
            .or_insert_with(|| {
                Arc::new(RoleCredentials {
                    role_arn: arn.to_owned(),
                    session_name: self.cfg.session_name.clone(),
                    external_id: self.cfg.external_id.clone(),
                    duration_secs: self.cfg.session_duration_secs,
                    refresh_before: Duration::from_secs(self.cfg.refresh_before_secs),
                    sts: self.sts.clone(),
                    stats: self.stats.clone(),
                    cached: tokio::sync::Mutex::new(None),
                })
            })
            .clone()
    }

    fn build_clients(
        &self,
        region: &str,
        creds: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    ) -> Clients {
        let region = aws_config::Region::new(region.to_owned());
        let ep = |svc: &str| self.cfg.endpoints.get(svc).cloned();
        macro_rules! client {
            ($krate:ident, $svc:literal) => {{
                let mut b = $krate::config::Builder::from(&self.base)
                    .region(region.clone())
                    .timeout_config(self.cfg.timeouts())
                    .retry_config(self.cfg.retries());
                if let Some(c) = &creds {
                    // The role's own cache decides when to renew (`refresh_before_secs`); an SDK
                    // cache in front of it would hold credentials until 10 s before expiry.
                    b = b
                        .credentials_provider(c.clone())
                        .identity_cache($krate::config::IdentityCache::no_cache());
                }
                if let Some(e) = ep($svc) {
                    b = b.endpoint_url(e);
                }
                $krate::Client::from_conf(b.build())
            }};
        }
        Clients {
            codepipeline: client!(aws_sdk_codepipeline, "codepipeline"),
            codebuild: client!(aws_sdk_codebuild, "codebuild"),
            codedeploy: client!(aws_sdk_codedeploy, "codedeploy"),
            logs: client!(aws_sdk_cloudwatchlogs, "logs"),
        }
    }

    /// The alias of `account`: the config map first, then Organizations when enabled.
    pub async fn alias(&self, account: &str, ctx: &Ctx) -> Option<String> {
        self.aliases.get(account, ctx).await
    }

    /// The alias from the config map only (no calls).
    pub fn fixed_alias(&self, account: &str) -> Option<String> {
        self.aliases.fixed.get(account).cloned()
    }

    /// How many `AssumeRole` calls were made (all outcomes).
    pub fn assume_role_calls(&self) -> u64 {
        self.stats.api_total(Api::AssumeRole)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these maps leaves them consistent (single inserts), so a poisoned
    // lock is still safe to use.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Assumed-role credentials for one account, cached until `refresh_before` ahead of their
/// expiry. The async mutex makes concurrent callers wait for one `AssumeRole` instead of each
/// making their own.
pub struct RoleCredentials {
    role_arn: String,
    session_name: String,
    external_id: Option<String>,
    duration_secs: i32,
    refresh_before: Duration,
    sts: aws_sdk_sts::Client,
    stats: Arc<Stats>,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl std::fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleCredentials")
            .field("role_arn", &self.role_arn)
            .finish_non_exhaustive()
    }
}

impl RoleCredentials {
    fn fresh(&self, c: &Credentials) -> bool {
        match c.expiry() {
            Some(exp) => exp
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > self.refresh_before),
            None => true,
        }
    }

    async fn get(&self) -> Result<Credentials, CredentialsError> {
        let mut slot = self.cached.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| self.fresh(c)) {
            return Ok(c.clone());
        }
        let guard = self.stats.pending(Api::AssumeRole);
        let mut req = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .duration_seconds(self.duration_secs);
        if let Some(x) = &self.external_id {
            req = req.external_id(x);
        }
        let out = match req.send().await {
            Ok(o) => o,
            Err(e) => {
                let err = CallError::from_sdk(&e);
                guard.done(err.outcome);
                return Err(CredentialsError::provider_error(format!(
                    "AssumeRole {}: {}",
                    self.role_arn, err.message
                )));
            }
        };
        let Some(c) = out.credentials() else {
            guard.done(Outcome::Error);
            return Err(CredentialsError::provider_error(format!(
                "AssumeRole {}: no credentials in the response",
                self.role_arn
            )));
        };
        guard.done(Outcome::Ok);
        let expiry = SystemTime::UNIX_EPOCH
            + Duration::from_secs(u64::try_from(c.expiration().secs()).unwrap_or(0));
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            Some(expiry),
            "herald-assume-role",
        );
        *slot = Some(creds.clone());
        Ok(creds)
    }
}

/// The SDK's handle on one account's [`RoleCredentials`] (shared by that account's clients in
/// every region).
#[derive(Debug, Clone)]
struct RoleProvider(Arc<RoleCredentials>);

impl ProvideCredentials for RoleProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.0.get())
    }
}

#[derive(Default)]
struct OrgAliases {
    names: BTreeMap<String, String>,
    /// When the names were last fetched (or a fetch last failed).
    fetched: Option<Instant>,
    failed: bool,
}

struct Aliases {
    fixed: BTreeMap<String, String>,
    org: Option<aws_sdk_organizations::Client>,
    refresh: Duration,
    state: tokio::sync::Mutex<OrgAliases>,
}

/// After a failed `ListAccounts`, wait this long before asking again.
const ORG_RETRY: Duration = Duration::from_secs(300);
/// `ListAccounts` pages per refresh (20 accounts a page): 10,000 accounts.
const ORG_MAX_PAGES: usize = 500;

impl Aliases {
    async fn get(&self, account: &str, ctx: &Ctx) -> Option<String> {
        if let Some(a) = self.fixed.get(account) {
            return Some(a.clone());
        }
        let org = self.org.as_ref()?;
        let mut st = tokio::time::timeout_at(ctx.deadline, self.state.lock())
            .await
            .ok()?;
        let wait = if st.failed { ORG_RETRY } else { self.refresh };
        let stale = st.fetched.is_none_or(|t| t.elapsed() >= wait);
        if stale {
            match list_accounts(org, ctx).await {
                Ok(names) => {
                    st.names = names;
                    st.failed = false;
                }
                Err(_) => st.failed = true,
            }
            st.fetched = Some(Instant::now());
        }
        st.names.get(account).cloned()
    }
}

async fn list_accounts(
    org: &aws_sdk_organizations::Client,
    ctx: &Ctx,
) -> Result<BTreeMap<String, String>, CallError> {
    let mut names = BTreeMap::new();
    let mut token: Option<String> = None;
    for _ in 0..ORG_MAX_PAGES {
        let req = org.list_accounts().set_next_token(token.take());
        let out = ctx
            .call(Api::ListAccounts, async {
                req.send().await.map_err(|e| CallError::from_sdk(&e))
            })
            .await?;
        for a in out.accounts() {
            if let (Some(id), Some(name)) = (a.id(), a.name()) {
                names.insert(id.to_owned(), name.to_owned());
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(names)
}
