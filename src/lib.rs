//! flowsentinel: a packet-capture network sensor that rebuilds bidirectional
//! flows and computes CICFlowMeter's flow features exactly, so that models
//! trained on CIC-IDS2017 / CSE-CIC-IDS2018 CSVs run unchanged on live traffic.
//!
//! Data flows one way through the stages:
//! `capture` (Frame) → `decode` (PacketMeta) → `flow` (FinishedFlow, or an
//! interim Snapshot) → `features` (FeatureVector) → `infer` (Verdict; none
//! for the flows `unscored` names) → `alert` (Alert) → `eve`, `syslog` and
//! `ips`; every finished flow also goes to `output` (the flow CSV).
//! `pipeline` is the only module that knows every stage.
#![forbid(unsafe_code)]

pub mod alert;
pub mod capture;
pub mod cidr;
pub mod community_id;
pub mod config;
pub mod decode;
pub mod defaults;
pub mod error;
pub mod eve;
pub mod fastlog;
pub mod features;
pub mod flow;
pub mod flowcsv;
pub mod infer;
pub mod ips;
pub mod kdd;
pub mod labels;
pub mod output;
pub mod pipeline;
pub mod profile;
pub mod signature;
pub mod syslog;
pub mod text;
pub mod threshold;
pub mod unscored;

pub use error::Error;
