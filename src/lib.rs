//! Switchboard: a self-hosted support hub. The binary in `main.rs` only calls [`cli::run`].

pub mod actors;
pub mod auth;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod files;
pub mod intake;
pub mod media;
pub mod metrics;
pub mod realtime;
pub mod routes;
pub mod secrets;
pub mod startup;
pub mod store;
pub mod telegram;
pub mod telemetry;
pub mod views;
pub mod widget;
