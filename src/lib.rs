//! Herald turns the CI/CD and operations events of an AWS organization into one living chat
//! message per thing that happened.
//!
//! # Layout
//!
//! The flow of one message, and where each stage lives:
//!
//! - [`event`]: bytes from a source become typed [`event::Event`]s (`decode`).
pub mod cli;
pub mod event;
pub mod route;
