//! Subcommand bodies, kept in the library so tests drive them exactly as the binary does.

pub mod input;
pub mod inspect;
pub mod replay;
pub mod route_test;
pub mod run;
