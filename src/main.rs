//! The `herald` command line: run, inspect, replay, demo, check-config, healthcheck.

use clap::{Parser, Subcommand, ValueEnum};
use herald::cli::replay::{self, ReplayOptions};
use herald::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "One living chat message per CI/CD or ops story across an AWS organization"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum StoreKind {
    Memory,
    Dynamodb,
}

#[derive(Subcommand)]
enum Command {
    /// Decode event files (JSON, JSON arrays or JSON Lines; `-` for stdin) and print one JSON
    /// object per event. Exits 2 if any input could not be decoded, after decoding the rest.
    Inspect {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Feed event files through decode, correlate, route and deliver, then flush the settle
    /// windows and exit.
    Replay {
        /// Write deliveries as JSON Lines to this file instead of the terminal.
        #[arg(long)]
        jsonl: Option<PathBuf>,
        /// Destinations, rules and correlation settings (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where thread state lives.
        #[arg(long, value_enum, default_value = "memory")]
        store: StoreKind,
        /// DynamoDB endpoint (e.g. DynamoDB Local) for `--store dynamodb`.
        #[arg(long, env = "HERALD_DYNAMODB_ENDPOINT")]
        dynamodb_endpoint: Option<String>,
        /// DynamoDB table for `--store dynamodb` (created if missing).
        #[arg(long, env = "HERALD_DYNAMODB_TABLE", default_value = "herald")]
        table: String,
        /// After the last event, run the events' clock this much further, firing every timer
        /// due on the way (stall alerts): seconds, or with a unit (`90s`, `30m`, `24h`, `2d`).
        #[arg(long, default_value = "24h", value_parser = herald::cli::replay::parse_duration)]
        drain: i64,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Replay a bundled realistic stream (several accounts, successes, failures, an approval,
    /// an ECS rollback, an alarm) and print the notifications as they would read in chat.
    Demo {
        /// Exit after the replay instead of waiting for Ctrl-C.
        #[arg(long)]
        no_serve: bool,
        /// Write deliveries as JSON Lines to this file instead of the terminal.
        #[arg(long)]
        jsonl: Option<PathBuf>,
        /// After the last event, run the events' clock this much further, firing every timer
        /// due on the way (stall alerts): seconds, or with a unit (`90s`, `30m`, `24h`, `2d`).
        #[arg(long, default_value = "24h", value_parser = herald::cli::replay::parse_duration)]
        drain: i64,
    },
    /// Show, for each notification the event files produce, which routing rules matched and
    /// the message each chosen destination would receive. Sends nothing.
    RouteTest {
        /// Destinations, rules and correlation settings (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Print one JSON object per notification, with each destination's provider body.
        #[arg(long)]
        json: bool,
        /// After the last event, run the events' clock this much further, firing every timer
        /// due on the way (stall alerts): seconds, or with a unit (`90s`, `30m`, `24h`, `2d`).
        #[arg(long, default_value = "24h", value_parser = herald::cli::replay::parse_duration)]
        drain: i64,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Validate a config file (with the `HERALD_...` environment overrides `run` applies);
    /// prints every problem and exits 1 if there is any.
    CheckConfig { file: PathBuf },
    /// The fleet worker: consume SQS, Kinesis or the local source (`POST /events`), serve
    /// `/metrics`, `/healthz`, `/readyz`; stop cleanly on SIGTERM or Ctrl-C. Without --config
    /// the TOML config comes from the SSM parameter named by HERALD_CONFIG_SSM_PARAMETER; with
    /// neither it runs on the embedded source and store and prints notifications.
    Run {
        /// TOML config file; `HERALD_...` environment variables override it.
        #[arg(long, env = "HERALD_CONFIG")]
        config: Option<PathBuf>,
    },
    /// GET http://127.0.0.1:PORT/healthz (PORT from HERALD_LISTEN, default 8080); exit 0 if it
    /// answers 200, 1 otherwise. For container health checks in images without curl.
    Healthcheck {
        #[arg(long)]
        url: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect { files } => herald::cli::inspect::run(&files),
        Command::Run { config } => runtime(async move {
            match herald::cli::run::load_config(config.as_deref()).await {
                Ok(cfg) => {
                    herald::telemetry::init_logging();
                    ExitCode::from(herald::app::run(cfg).await)
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }),
        Command::Healthcheck { url } => runtime(async move { healthcheck(url).await }),
        Command::RouteTest {
            config,
            json,
            drain,
            files,
        } => match Config::load(&config) {
            Ok(cfg) => runtime(async move { route_test(&cfg, &files, json, drain).await }),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Command::CheckConfig { file } => runtime(async move {
            match herald::cli::run::load_config(Some(&file)).await {
                Ok(_) => {
                    println!("{}: ok", file.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }),
        Command::Replay {
            jsonl,
            config,
            store,
            dynamodb_endpoint,
            table,
            drain,
            files,
        } => {
            let mut config = match config.map(|p| Config::load(&p)).transpose() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            runtime(async move {
                if let Some(c) = config.as_mut() {
                    if let Err(e) = c.resolve_secrets(None).await {
                        eprintln!("{e}");
                        return ExitCode::from(1);
                    }
                }
                let store = match store {
                    StoreKind::Memory => replay::memory_store(),
                    StoreKind::Dynamodb => {
                        match herald::store::dynamo_from_env(dynamodb_endpoint.as_deref(), &table)
                            .await
                        {
                            Ok(s) => s,
                            Err(e) => {
                                eprintln!("dynamodb: {e}");
                                return ExitCode::from(1);
                            }
                        }
                    }
                };
                let opts = ReplayOptions {
                    jsonl,
                    config,
                    store,
                };
                let runner = match replay::runner(&opts) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(1);
                    }
                };
                let bad = match replay::replay_files(&runner, &files, drain).await {
                    Ok(bad) => bad,
                    Err(e) => {
                        eprintln!("replay: {e}");
                        return ExitCode::from(1);
                    }
                };
                // The process ends here, and every sink has written and flushed each message as
                // it went: freeing the threads one by one would only cost time (a replay's
                // threads are many small blocks), the OS takes the memory back at once.
                std::mem::forget(runner);
                if bad {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                }
            })
        }
        Command::Demo {
            no_serve,
            jsonl,
            drain,
        } => runtime(async move {
            let opts = ReplayOptions {
                jsonl,
                config: None,
                store: replay::memory_store(),
            };
            let runner = match replay::runner(&opts) {
                Ok(r) => Arc::new(r),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            let events = replay::demo_events();
            eprintln!("herald demo: replaying {} bundled events", events.len());
            if let Err(e) = replay::replay_events(&runner, &events, drain).await {
                eprintln!("demo: {e}");
                return ExitCode::from(1);
            }
            if !no_serve {
                let addr =
                    std::env::var("HERALD_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
                eprintln!("herald demo: status page on http://{addr}/ (also /api/pipelines, /healthz); Ctrl-C to stop");
                if let Err(e) = herald::server::serve(&addr, runner.engine.clone()).await {
                    eprintln!("server: {e}");
                    return ExitCode::from(1);
                }
            }
            ExitCode::SUCCESS
        }),
    }
}

async fn healthcheck(url: Option<String>) -> ExitCode {
    let url = url.unwrap_or_else(|| {
        let port = std::env::var("HERALD_LISTEN")
            .ok()
            .and_then(|l| l.rsplit_once(':').map(|(_, p)| p.to_owned()))
            .unwrap_or_else(|| "8080".into());
        format!("http://127.0.0.1:{port}/healthz")
    });
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return ExitCode::from(1);
        }
    };
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("healthcheck: {url}: {}", r.status());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("healthcheck: {url}: {e}");
            ExitCode::from(1)
        }
    }
}

async fn route_test(cfg: &Config, files: &[PathBuf], json: bool, drain: i64) -> ExitCode {
    use herald::cli::route_test;
    let (events, bad) = replay::read_events(files);
    match route_test::reports(cfg, &events, drain).await {
        Ok(reports) => {
            for r in &reports {
                if json {
                    println!("{}", serde_json::to_string(r).unwrap_or_default());
                } else {
                    println!("{}", route_test::to_text(r));
                }
            }
            ExitCode::from(if bad { 2 } else { 0 })
        }
        Err(e) => {
            eprintln!("route-test: {e}");
            ExitCode::from(1)
        }
    }
}

fn runtime(f: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}
