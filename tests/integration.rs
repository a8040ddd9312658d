//! Integration tests: the `flowsentinel` binary and library on real captures.

mod cli;
mod conformance;
mod decode;
mod fidelity;
mod flows;
mod ips_e2e;
mod live;
mod replay;
mod syslog;
mod systemd;
mod util;
