//! Connection context: NSL-KDD's connection records and window features.
//!
//! Owns the KDD vocabulary (`vocab`: `flag` from Bro's endpoint states,
//! `service` by port and ICMP type), the context columns and one
//! connection's values of them (`columns`: [`KddCol`], [`KddRow`]), a
//! connection's own state kept per packet (`conn`: [`Conn`]), IP fragment
//! anomalies (`frag`: [`Fragments`]) and the time and host windows
//! (`window`: [`Windows`]).
//! Input: packets (for `Conn` and `Fragments`), then finished connections
//! in the pipeline's release order (for `Windows`).
//! Output: [`KddRow`]s, every categorical value one NSL-KDD's `header.arff`
//! knows.

mod columns;
mod conn;
mod frag;
mod vocab;
mod window;

pub use columns::{KddCol, KddKind, KddRow, NUM_KDD, NUM_NSL};
pub use conn::{Conn, ConnId, Transport};
pub use frag::Fragments;
pub use vocab::{
    icmp6_service, icmp_service, service_index, tcp_service, udp_service, EndpointState, Flag,
    PROTOCOLS, SERVICES,
};
pub use window::{Windows, HOST_WINDOW, TIME_WINDOW_MAX, TIME_WINDOW_US};
