//! The trace pipeline, in the order data flows: [`live`] is the one entry point for a live
//! trace (connect, then [`collect`]: publish and gather the servers' trace messages);
//! [`decode`] undoes their compression; [`event`] models them; [`stitch`] places them in a
//! route tree by their hops ([`hop`]); [`analysis`] decides what the route means; [`report`]
//! hands all of it to the renderers and the checks; [`spans`] turns it into OpenTelemetry spans. [`capture`] saves trace messages
//! (`--save`) and reads them back (`render`). [`redact`] masks sensitive application headers
//! (`listen`). [`route`] flattens a report's route and fingerprints it (snapshots, `probe`);
//! [`stats`] accumulates routes over many traces (`trace --count`).

pub mod analysis;
pub mod capture;
pub mod collect;
pub mod decode;
pub mod event;
pub mod hop;
pub mod live;
pub mod redact;
pub mod report;
pub mod route;
pub mod spans;
pub mod stats;
pub mod stitch;
pub mod traceparent;
