//! Black-box tests of the hub through its HTTP API, its binary and its storage, grouped in
//! one test binary to keep link time down. They run on SQLite, or on PostgreSQL when
//! `SWITCHBOARD_TEST_DATABASE_URL` is set (see helpers.rs).

mod a11y_browser;
mod admin_polish_browser;
mod agent_status;
mod agent_status_browser;
mod agents;
mod attachments;
mod auth;
mod authz;
mod bulk;
mod bulk_browser;
mod canned;
mod channels;
mod chrome;
mod cli;
mod cluster;
mod cluster_processes;
mod composer_browser;
mod contacts;
mod contacts_browser;
mod csat;
mod csat_browser;
// The email adapter's real-server harnesses (dovecot, aiosmtpd), shared with its own tests.
mod conversation_changes;
mod conversation_helpers;
mod conversation_list;
#[allow(dead_code)]
#[path = "../../adapters/email/tests/servers/dovecot.rs"]
mod dovecot;
mod email;
mod email_browser;
mod fake_telegram;
// The WhatsApp adapter's own fake Graph API, shared so both test suites speak one protocol.
#[allow(dead_code)]
#[path = "../../adapters/whatsapp/tests/fake_graph/mod.rs"]
pub mod fake_graph;
mod first_run_browser;
mod fuzz;
mod helpers;
mod inbox_access;
mod inbox_admin;
mod inbox_browser;
mod list_browser;
mod list_views;
mod messages;
mod notifications;
mod notifications_browser;
mod ops;
mod ownership_browser;
mod pages;
mod perf_browser;
mod quotas;
mod realtime;
mod reports;
mod reports_browser;
mod router;
mod s3;
mod sla;
mod sla_browser;
#[allow(dead_code)]
#[path = "../../adapters/email/tests/servers/smtp_sink.rs"]
mod smtp_sink;
mod storage;
mod teams;
mod telegram;
mod tokens;
mod viewers;
mod visitor_browser;
mod whatsapp;
mod whatsapp_browser;
mod widget;
mod widget_browser;
mod widget_resolved_browser;
