//! The server's integration tests, in one binary: every module below links the whole platform, so
//! one binary instead of one per file saves gigabytes of disk and minutes of linking in CI.

mod common;

mod agent_ws;
mod auth;
mod authz_matrix;
mod billing;
mod binary;
mod chat;
mod cluster;
mod cluster_calls;
mod cluster_script;
mod config_api;
mod edge_process;
mod email;
mod operations;
mod plugin_examples;
mod plugins;
mod restart;
mod routing_api;
mod signup;
mod sms;
mod supervision;
mod voice;
mod webhooks;
