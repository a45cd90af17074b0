//! `herald run`: where the fleet worker's config comes from (a file, the SSM parameter the
//! deploy template names, or the laptop defaults); [`crate::app::run`] builds and runs it.

use crate::config::Config;

/// The environment variable naming the SSM parameter that holds the TOML config; read when
/// no `--config` (or `HERALD_CONFIG`) is given. The deploy template sets it.
pub const CONFIG_SSM_PARAMETER_ENV: &str = "HERALD_CONFIG_SSM_PARAMETER";

/// The config `herald run` uses, from the first of: the file given (`--config` or
/// `HERALD_CONFIG`); the SSM parameter named by `HERALD_CONFIG_SSM_PARAMETER`; the defaults
/// (laptop mode: local source, memory store, terminal sink). Then the `HERALD_...`
/// environment overrides, validated. Errors name the file or the parameter.
pub async fn load_config(path: Option<&std::path::Path>) -> Result<Config, String> {
    let parameter = std::env::var(CONFIG_SSM_PARAMETER_ENV).ok();
    let (mut cfg, origin) = match (path, parameter) {
        (Some(p), _) => (
            Config::load(p).map_err(|e| e.to_string())?,
            Some(p.display().to_string()),
        ),
        (None, Some(name)) => {
            let origin = format!("SSM parameter {name}");
            let text = config_text_from_ssm(&name).await?;
            (
                Config::from_toml(&text, &origin).map_err(|e| e.to_string())?,
                Some(origin),
            )
        }
        (None, None) => (Config::default(), None),
    };
    cfg.apply_env(|k| std::env::var(k).ok())
        .map_err(|e| match &origin {
            Some(o) => format!("{o}: {e}"),
            None => e.to_string(),
        })?;
    Ok(cfg)
}

/// The text of the config parameter (`GetParameter` with decryption, so a `SecureString`
/// works too), with the SDK's default credential chain and region; `AWS_ENDPOINT_URL` (or
/// `AWS_ENDPOINT_URL_SSM`) points it at an emulator.
async fn config_text_from_ssm(name: &str) -> Result<String, String> {
    let var = CONFIG_SSM_PARAMETER_ENV;
    if name.trim().is_empty() {
        return Err(format!(
            "{var} is set but empty: name the SSM parameter holding the TOML config, or unset it"
        ));
    }
    let sdk = crate::app::parts::aws_config(None).await;
    let out = aws_sdk_ssm::Client::new(&sdk)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found())
            {
                format!(
                    "SSM parameter {name} (named by {var}) does not exist in this account and \
                     region: put Herald's TOML config there, or fix {var}"
                )
            } else {
                format!(
                    "cannot read SSM parameter {name} (named by {var}): {}",
                    aws_sdk_ssm::error::DisplayErrorContext(&e)
                )
            }
        })?;
    out.parameter
        .and_then(|p| p.value)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("SSM parameter {name} (named by {var}) has no value"))
}
