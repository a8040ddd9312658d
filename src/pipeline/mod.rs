//! Pipeline: the only module that knows every stage. One file per stage,
//! data one way:
//!
//! - `reader`: capture and decode (files and interfaces), sharding into
//!   epochs, progress and ticks;
//! - `capture_threads`: live capture read and decoded on several threads,
//!   merged in time order into the reader's feeder;
//! - `worker`: the flow workers, each owning a shard of the flow table;
//! - `order`: releases finished flows in a fixed order across workers, with
//!   their connection context;
//! - `context`: each flow's connection context (KDD record and windows), in
//!   that order;
//! - `inference`: batched scoring;
//! - `alerts`: EVE alert and flow events, syslog, the IPS hook, stats events;
//! - `csv`: the flow CSV;
//! - [`counters`]: every count, and the stats event, stats line and summaries;
//! - [`outfile`]: output files that count what a failing disk loses;
//! - `process`: signal flags and the privilege drop;
//! - `progress`: how far each output has written, so they stop together;
//! - [`sensor`]: `replay` and `live`, wiring the stages on threads;
//! - [`mod@extract`]: `extract`, the stages on one thread.

mod alerts;
mod capture_threads;
mod context;
pub mod counters;
mod csv;
pub mod extract;
mod inference;
mod order;
pub mod outfile;
mod process;
mod progress;
mod reader;
pub mod sensor;
mod stats_event;
mod worker;

pub use counters::Counters;
pub use extract::{extract, ExtractConfig, ExtractSummary};
