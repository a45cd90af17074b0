//! Where a secret comes from ([`SecretRef`]: the value itself, an environment variable, an SSM
//! parameter or a Secrets Manager secret, as the config writes it) and how it is read
//! ([`SecretRef::resolve`], with the AWS clients of [`AwsSecrets`]).

use super::Secret;
use aws_config::SdkConfig;
use serde::Deserialize;

/// Where a secret comes from. `Debug` shows references (names are not secret) and `***` for
/// values.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// Written in the config, or already resolved.
    Value(Secret),
    /// An environment variable.
    Env(String),
    /// An SSM Parameter Store parameter (decrypted).
    Ssm(String),
    /// A Secrets Manager secret's string, or one field of it when it is JSON.
    SecretsManager { id: String, key: Option<String> },
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRef {
    Value(String),
    Table(RefTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefTable {
    env: Option<String>,
    ssm: Option<String>,
    secrets_manager: Option<String>,
    key: Option<String>,
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawRef::deserialize(d).map_err(|e| {
            // A required secret left out says so (its setting is named by the caller).
            if e.to_string().starts_with("missing field") {
                return e;
            }
            D::Error::custom(
                "expected a string, or a table with one of `env`, `ssm` or `secrets_manager` (and, for secrets_manager, an optional `key`)",
            )
        })?;
        let t = match raw {
            RawRef::Value(v) => return Ok(SecretRef::Value(Secret::new(v))),
            RawRef::Table(t) => t,
        };
        match (t.env, t.ssm, t.secrets_manager, t.key) {
            (Some(v), None, None, None) => Ok(SecretRef::Env(v)),
            (None, Some(p), None, None) => Ok(SecretRef::Ssm(p)),
            (None, None, Some(id), key) => Ok(SecretRef::SecretsManager { id, key }),
            (None, None, None, _) => Err(D::Error::custom(
                "a secret reference needs one of `env`, `ssm` or `secrets_manager`",
            )),
            _ => Err(D::Error::custom(
                "a secret reference takes exactly one of `env`, `ssm` or `secrets_manager` (`key` only with secrets_manager)",
            )),
        }
    }
}

impl SecretRef {
    pub fn literal(&self) -> Option<&Secret> {
        match self {
            SecretRef::Value(s) => Some(s),
            _ => None,
        }
    }

    /// The reference in words, for errors: never the value.
    pub fn describe(&self) -> String {
        match self {
            SecretRef::Value(_) => "***".into(),
            SecretRef::Env(v) => format!("environment variable {v}"),
            SecretRef::Ssm(p) => format!("SSM parameter {p}"),
            SecretRef::SecretsManager { id, key: None } => format!("Secrets Manager secret {id}"),
            SecretRef::SecretsManager { id, key: Some(k) } => {
                format!("field {k:?} of Secrets Manager secret {id}")
            }
        }
    }

    pub(crate) fn problems(&self, at: &str) -> Vec<String> {
        let empty = match self {
            SecretRef::Value(s) => s.expose().is_empty(),
            SecretRef::Env(v) | SecretRef::Ssm(v) => v.trim().is_empty(),
            SecretRef::SecretsManager { id, key } => {
                id.trim().is_empty() || key.as_ref().is_some_and(|k| k.is_empty())
            }
        };
        if empty {
            vec![format!("{at}: empty")]
        } else {
            Vec::new()
        }
    }

    /// The value, when it needs no AWS call (a value or an environment variable).
    pub fn resolve_local(&self) -> Result<Option<Secret>, String> {
        match self {
            SecretRef::Value(s) => Ok(Some(s.clone())),
            SecretRef::Env(v) => match std::env::var(v) {
                Ok(s) if !s.is_empty() => Ok(Some(Secret::new(s))),
                _ => Err(format!("environment variable {v} is not set")),
            },
            _ => Ok(None),
        }
    }

    /// The value, from wherever it lives.
    pub async fn resolve(&self, aws: &AwsSecrets) -> Result<Secret, String> {
        if let Some(s) = self.resolve_local()? {
            return Ok(s);
        }
        match self {
            SecretRef::Ssm(name) => {
                let out = aws
                    .ssm()
                    .await
                    .get_parameter()
                    .name(name)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "SSM parameter {name}: {}",
                            aws_sdk_ssm::error::DisplayErrorContext(&e)
                        )
                    })?;
                out.parameter
                    .and_then(|p| p.value)
                    .filter(|v| !v.is_empty())
                    .map(Secret::new)
                    .ok_or_else(|| format!("SSM parameter {name} has no value"))
            }
            SecretRef::SecretsManager { id, key } => {
                let out = aws
                    .secrets_manager()
                    .await
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "Secrets Manager secret {id}: {}",
                            aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                        )
                    })?;
                let Some(text) = out.secret_string else {
                    return Err(format!("Secrets Manager secret {id} has no string value"));
                };
                match key {
                    None => Ok(Secret::new(text)),
                    Some(k) => {
                        // The parse error could quote the secret: say only what is wrong.
                        let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
                            format!(
                                "Secrets Manager secret {id} is not JSON, so it has no field {k:?}"
                            )
                        })?;
                        v.get(k)
                            .and_then(|f| f.as_str())
                            .filter(|f| !f.is_empty())
                            .map(Secret::new)
                            .ok_or_else(|| {
                                format!("Secrets Manager secret {id} has no string field {k:?}")
                            })
                    }
                }
            }
            SecretRef::Value(_) | SecretRef::Env(_) => Err("unreachable: resolved locally".into()),
        }
    }
}

/// AWS clients for secret references, made on first use from the given SDK config or the
/// default chain (`AWS_ENDPOINT_URL_SSM` / `AWS_ENDPOINT_URL_SECRETS_MANAGER` point them at an
/// emulator).
pub struct AwsSecrets {
    given: Option<SdkConfig>,
    loaded: tokio::sync::OnceCell<SdkConfig>,
}

impl AwsSecrets {
    pub fn new(given: Option<SdkConfig>) -> Self {
        Self {
            given,
            loaded: tokio::sync::OnceCell::new(),
        }
    }

    async fn config(&self) -> &SdkConfig {
        if let Some(c) = &self.given {
            return c;
        }
        self.loaded
            .get_or_init(|| aws_config::load_defaults(aws_config::BehaviorVersion::latest()))
            .await
    }

    async fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(self.config().await)
    }

    async fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(self.config().await)
    }
}
