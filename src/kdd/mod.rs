//! Connection context: NSL-KDD's connection records and window features.
//!
//! Owns the KDD vocabulary (`vocab`: `flag` from Bro's endpoint states,
//! `service` by port and ICMP type), the context columns and one
//! connection's values of them (`columns`: [`KddCol`], [`KddRow`]).
//! Input: endpoint states, ports, ICMP types, connections in release order.
//! Output: [`KddRow`]s, every categorical value one NSL-KDD's `header.arff`
//! knows.

mod columns;
mod vocab;

pub use columns::{KddCol, KddKind, KddRow, NUM_KDD, NUM_NSL};
pub use vocab::{
    icmp6_service, icmp_service, service_index, tcp_service, udp_service, EndpointState, Flag,
    PROTOCOLS, SERVICES,
};
