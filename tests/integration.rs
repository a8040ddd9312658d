//! Integration tests: the `flowsentinel` binary and library on real captures.

mod aggregation;
mod bad_captures;
mod cli;
mod conformance;
mod decode;
mod eve_schema;
mod faults;
mod fidelity;
mod flood;
mod flows;
mod ips_e2e;
mod kdd;
mod kdd_identities;
mod kdd_records;
mod kdd_replay;
mod layout;
mod live;
mod multi_capture;
mod replay;
mod shutdown;
mod syslog;
mod systemd;
mod threads;
mod timing;
mod unscored;
mod util;
