//! Black-box tests of the hub through its HTTP API, its binary and its storage, grouped in
//! one test binary to keep link time down. They run on SQLite, or on PostgreSQL when
//! `SWITCHBOARD_TEST_DATABASE_URL` is set (see helpers.rs).

mod agents;
mod attachments;
mod auth;
mod authz;
mod canned;
mod channels;
mod chrome;
mod cli;
mod contacts;
mod conversation_changes;
mod conversation_helpers;
mod conversation_list;
mod fake_telegram;
// The WhatsApp adapter's own fake Graph API, shared so both test suites speak one protocol.
#[allow(dead_code)]
#[path = "../../adapters/whatsapp/tests/fake_graph/mod.rs"]
pub mod fake_graph;
mod fuzz;
mod helpers;
mod inbox_access;
mod inbox_admin;
mod inbox_browser;
mod messages;
mod ops;
mod pages;
mod quotas;
mod realtime;
mod router;
mod s3;
mod storage;
mod teams;
mod telegram;
mod tokens;
mod viewers;
mod whatsapp;
mod whatsapp_browser;
mod widget;
mod widget_browser;
