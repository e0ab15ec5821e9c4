//! nats-trace: shows the path a message takes through a NATS network, using NATS Server
//! 2.11+ message tracing (ADR-41).
//!
//! The layers, in the order data flows (see `docs/ARCHITECTURE.md`): [`cli`] parses the
//! command line into [`settings`], the plain types every layer below takes; [`commands`]
//! runs each command; [`connect`] makes the client; [`trace`] publishes, collects, decodes, models, stitches and analyses the servers' trace
//! messages; [`render`] draws the result in one format; [`ci`] judges traces against
//! expectations (`--expect`, `check`); [`listen`] traces real traffic from trace
//! destinations; [`topology`] launches real local servers for the demo
//! and the tests.

mod ci;
pub mod cli;
pub mod commands;
pub mod connect;
mod duration;
mod env;
pub mod error;
pub mod explain;
pub mod export;
pub mod listen;
pub mod network;
pub mod probe;
pub mod render;
pub mod settings;
mod subject;
pub mod text;
pub mod topology;
pub mod trace;
mod verbose;
