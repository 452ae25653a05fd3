//! Switchboard: a self-hosted support hub. The binary in `main.rs` only calls [`cli::run`].
//!
//! The modules that are `pub` are what the binary, the black-box tests and the benchmark
//! use; everything else is crate-private. ARCHITECTURE.md has the map and the rules.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod actors;
pub mod auth;
pub mod blobs;
mod channels;
pub mod cli;
pub mod config;
mod conversations;
pub mod db;
pub mod domain;
pub mod files;
pub mod hub;
mod inbound;
mod media;
mod metrics;
mod notify;
pub mod realtime;
pub mod reports;
mod routes;
mod secrets;
pub mod sla;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
mod views;
