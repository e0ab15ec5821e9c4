//! nats-trace: shows the path a message takes through a NATS network, using NATS Server
//! 2.11+ message tracing (ADR-41).
//!
//! Data flows one way: [`cli`] parses; [`connect`] makes the client; [`collect`] publishes and
//! gathers trace messages; [`decode`] undoes their compression; [`event`] models them;
//! [`graph`] stitches them into a route tree; [`render`] prints it. [`capture`] saves the
//! received trace messages (`--save`) and reads them back for `render`. [`topology`] launches
//! real local servers for the demo and the tests; [`app`] ties the steps together per command.

pub mod app;
pub mod capture;
pub mod cli;
pub mod collect;
pub mod connect;
pub mod decode;
pub mod duration;
pub mod error;
pub mod event;
pub mod graph;
pub mod render;
pub mod subject;
pub mod text;
pub mod topology;
pub mod verbose;
