//! Herald turns the CI/CD and operations events of an AWS organization into one living chat
//! message per thing that happened.
//!
//! # Layout
//!
//! The flow of one message, and where each stage lives:
//!
//! - [`event`]: bytes from a source become typed [`event::Event`]s (`decode`).
//! - `correlate`: events become thread state and notification decisions (pure state machines).
//! - [`store`]: thread state in memory or DynamoDB, conditional writes only.
//! - [`route`]: rules pick destinations.
//! - [`render`]: the [`notification::Notification`] model becomes each provider's message.
//! - [`deliver`]: sinks post and edit messages.

pub mod app;
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
