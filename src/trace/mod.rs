//! The trace pipeline: publish and collect ([`collect`]), undo compression ([`decode`]),
//! model the servers' trace messages ([`event`]), stitch them into a route tree by their
//! hops ([`hop`], [`stitch`]), and save or read them back ([`capture`]).

pub mod analysis;
pub mod capture;
pub mod collect;
pub mod decode;
pub mod event;
pub mod hop;
pub mod live;
pub mod stitch;
