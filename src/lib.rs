//! Herald turns the CI/CD and operations events of an AWS organization into one living chat
//! message per thing that happened.
//!
//! # Layout
//!
//! One line per module, in the order a message meets them:
//!
//! - [`source`]: SQS, Kinesis (leases, checkpoints) and the in-process queue; acks.
//! - [`event`]: bytes to typed [`event::Event`]s; `decode/` one file per AWS source and envelope.
//! - [`pipeline`]: the [`pipeline::Runner`] (process, delivery protocol, edit in place) and the
//!   worker's loop (affinity, processors, settle ticker, held acks).
//! - [`correlate`]: thread keys and pure state machines per thread kind; the engine in front of
//!   the store (LRU, conditional writes, claims).
//! - [`store`]: the `Store` trait; in memory or DynamoDB. Nothing above the engine asks which.
//! - [`enrich`]: the AWS and git calls that explain a failure, in the event's own account.
//! - [`notification`]: the notification model, and what enrichment adds to it (`enrichment`).
//! - [`route`]: the expression grammar, rules and Meerkat aliases.
//! - [`render`]: the notification as Slack, Discord, Teams, Amazon Q and text messages.
//! - [`deliver`]: the `Sink` trait, the sinks, and their stages (count, digest, pace, retry);
//!   `fence`: no provider attempt after the thread's delivery lease ran out.
//! - [`chatops`]: people's actions from messages: Slack's signed requests, who may, the claim,
//!   the AWS call with the operator role, and the message edited to say who did what.
//! - [`server`]: `/metrics`, `/healthz`, `/readyz`, `POST /events`, `POST /slack/interactions`
//!   and the status page.
//! - [`app`]: the topology every command builds from the config; `run`'s wiring.
//! - [`config`]: the typed config, its environment overrides and validation.
//! - [`secret`]: secrets that never print themselves, and where they come from.
//! - [`shutdown`]: the one signal every task of `herald run` listens to.
//! - [`telemetry`]: metric names and the registry; [`clock`]: the wall clock, read at the edges,
//!   and the `Clock` the worker's loop reads (tokio's in tests on a paused clock).
//! - [`cli`]: argument handling for `run`, `replay`, `demo`, `inspect` and `route-test`.
//!
//! Module dependencies have no cycle (`scripts/module_cycles.py`, run by CI).

pub mod app;
pub mod chatops;
pub mod cli;
pub mod clock;
pub mod config;
pub mod correlate;
pub mod deliver;
pub mod enrich;
pub mod event;
pub mod notification;
pub mod pipeline;
pub mod render;
pub mod route;
pub mod secret;
pub mod server;
pub mod shutdown;
pub mod source;
pub mod store;
pub mod telemetry;
