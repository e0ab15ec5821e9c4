//! nats-trace: shows the path a message takes through a NATS network, using NATS Server
//! 2.11+ message tracing (ADR-41).
//!
//! Data flows one way: [`cli`] parses; [`connect`] makes the client (merging flags, environment
//! and a nats CLI [`context`]); [`collect`] publishes and
//! gathers trace messages; [`decode`] undoes their compression; [`event`] models them;
//! [`graph`] stitches them into a route tree (by [`hop`]); [`render`] prints it. [`capture`] saves the
//! received trace messages (`--save`) and reads them back for `render`. [`topology`] launches
//! real local servers for the demo and the tests; [`fuzzing`] holds the fuzz targets' entry
//! points; [`shell`] prints completions and the man page; [`app`] ties the steps together
//! per command.

pub mod app;
pub mod capture;
pub mod check;
pub mod cli;
pub mod collect;
pub mod connect;
pub mod context;
pub mod decode;
pub mod duration;
pub mod error;
pub mod event;
pub mod expect;
pub mod fuzzing;
pub mod graph;
pub mod hop;
pub mod junit;
pub mod render;
pub mod secret;
pub mod shell;
pub mod subject;
pub mod suite;
pub mod synthetic;
pub mod text;
pub mod topology;
pub mod verbose;
