//! Capture: reads frames from pcap and pcapng files (`file`), or from a
//! live interface (`live`), through libpcap (the `pcap` crate).
//!
//! This file owns what both sources share: the link type ([`LinkType`], from
//! the capture's DLT value), the [`Frame`] they hand out, and the
//! [`CaptureError`] they fail with. Input: a file path or [`LiveOptions`].
//! Output: borrowed [`Frame`]s, one at a time, each with its link type and a
//! timestamp in microseconds (nanosecond files are truncated to whole
//! microseconds by libpcap, as the era tool did).

use std::fmt;
use std::path::PathBuf;

mod fanout;
mod file;
mod live;

pub use file::PcapFile;
pub use live::{interface_addresses, KernelStats, LiveCapture, LiveOptions};

/// The link layers flowsentinel decodes, from the capture's DLT value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// DLT_EN10MB: Ethernet II, optionally with 802.1Q / 802.1ad tags.
    Ethernet,
    /// DLT_LINUX_SLL: Linux "cooked" capture v1.
    LinuxSll,
    /// DLT_LINUX_SLL2: Linux "cooked" capture v2.
    LinuxSll2,
    /// DLT_NULL: BSD loopback, 4-byte address family in host order.
    Null,
    /// DLT_LOOP: OpenBSD loopback, 4-byte address family in network order.
    Loop,
    /// Raw IP, version taken from the first nibble.
    Raw,
}

impl LinkType {
    /// Maps a libpcap DLT value, or `None` when it is not supported.
    pub fn from_dlt(dlt: i32) -> Option<Self> {
        match dlt {
            1 => Some(Self::Ethernet),
            113 => Some(Self::LinuxSll),
            276 => Some(Self::LinuxSll2),
            0 => Some(Self::Null),
            108 => Some(Self::Loop),
            12 | 14 | 101 | 228 | 229 => Some(Self::Raw),
            _ => None,
        }
    }
}

/// One captured frame, borrowed from the capture's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture time, µs since the epoch.
    pub ts_us: i64,
    /// The capture's link type: how `data` begins.
    pub link: LinkType,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// A capture file that cannot be read, or stopped being readable.
#[derive(Debug)]
pub enum CaptureError {
    /// The file cannot be opened or is not a pcap/pcapng file.
    Open {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The capture's link type is not one flowsentinel decodes.
    UnknownLinkType {
        /// The file.
        path: PathBuf,
        /// The DLT value.
        dlt: i32,
        /// Its libpcap name, when known.
        name: String,
    },
    /// A live interface cannot be opened or read.
    Device {
        /// The interface.
        iface: String,
        /// What is wrong.
        reason: String,
    },
    /// The file ends (or is corrupt) in the middle of a record.
    Truncated {
        /// The file.
        path: PathBuf,
        /// Byte offset of the record that could not be read.
        offset: u64,
        /// Packets read before it.
        packets: u64,
        /// libpcap's message.
        reason: String,
    },
}

impl CaptureError {
    /// True for errors that refuse the file (exit 2), false for a file that
    /// was read in part (exit 1).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, CaptureError::Truncated { .. })
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Open { path, reason } => write!(f, "{}: {reason}", path.display()),
            CaptureError::Device { iface, reason } => write!(f, "interface {iface}: {reason}"),
            CaptureError::UnknownLinkType { path, dlt, name } => write!(
                f,
                "{}: unsupported link type {dlt} ({name}); flowsentinel decodes Ethernet, Linux SLL/SLL2, NULL/LOOP and raw IP",
                path.display()
            ),
            CaptureError::Truncated { path, offset, packets, reason } => write!(
                f,
                "{}: truncated or corrupt record at byte offset {offset}, after {packets} packets ({reason})",
                path.display()
            ),
        }
    }
}

impl std::error::Error for CaptureError {}
