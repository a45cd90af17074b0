//! Routing: which destinations a notification goes to, by ordered rules over its fields.

pub mod expr;
