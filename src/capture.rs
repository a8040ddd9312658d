//! Capture: reads frames from pcap and pcapng files through libpcap (the
//! `pcap` crate).
//!
//! Owns the file handles and the link type of each file. Output: borrowed
//! [`Frame`]s, one at a time, with timestamps in microseconds (nanosecond
//! files are truncated to whole microseconds by libpcap, as the era tool did).
//!
//! Errors name the file. A file that stops in the middle of a record is
//! reported with the byte offset of that record, after every whole packet
//! before it has been returned.

use crate::decode::LinkType;
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One captured frame, borrowed from the capture's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture time, µs since the epoch.
    pub ts_us: i64,
    /// The captured bytes.
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub wire_len: u32,
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

/// An open capture file.
pub struct PcapFile {
    path: PathBuf,
    cap: pcap::Capture<pcap::Offline>,
    link: LinkType,
    packets: u64,
    /// Byte offset of the next record (exact for classic pcap).
    offset: u64,
    size: u64,
    classic: bool,
}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

impl PcapFile {
    /// Opens a pcap or pcapng file and checks its link type.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let open_err = |reason: String| CaptureError::Open {
            path: path.to_path_buf(),
            reason,
        };
        let mut f = File::open(path).map_err(|e| open_err(e.to_string()))?;
        let size = f.metadata().map_err(|e| open_err(e.to_string()))?.len();
        if size == 0 {
            return Err(open_err(
                "empty file (0 bytes), not a pcap or pcapng capture".into(),
            ));
        }
        let mut magic = [0u8; 4];
        let got = f.read(&mut magic).map_err(|e| open_err(e.to_string()))?;
        let classic = PCAP_MAGICS.contains(&magic);
        if got < 4 || !(classic || magic == PCAPNG_MAGIC) {
            let hint = if magic.starts_with(&[0x1f, 0x8b]) {
                " (it is gzip-compressed; decompress it first)"
            } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
                " (it is zstd-compressed; decompress it first)"
            } else {
                ""
            };
            return Err(open_err(format!(
                "not a pcap or pcapng file: unknown magic number {}{hint}",
                hex(&magic[..got])
            )));
        }
        let cap = pcap::Capture::from_file(path).map_err(|e| open_err(e.to_string()))?;
        let dlt = cap.get_datalink();
        let link = LinkType::from_dlt(dlt.0).ok_or_else(|| CaptureError::UnknownLinkType {
            path: path.to_path_buf(),
            dlt: dlt.0,
            name: dlt.get_name().unwrap_or_else(|_| "unknown".into()),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            cap,
            link,
            packets: 0,
            offset: 24,
            size,
            classic,
        })
    }

    /// The file's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// File size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes consumed so far, when known (classic pcap only).
    pub fn position(&self) -> Option<u64> {
        self.classic.then_some(self.offset)
    }

    /// The next frame, `Ok(None)` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(pkt) => {
                self.packets += 1;
                let caplen = u64::from(pkt.header.caplen);
                self.offset += 16 + caplen;
                let ts = &pkt.header.ts;
                let ts_us = ts
                    .tv_sec
                    .saturating_mul(1_000_000)
                    .saturating_add(ts.tv_usec);
                Ok(Some(Frame {
                    ts_us,
                    data: pkt.data,
                    wire_len: pkt.header.len,
                }))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => {
                let offset = if self.classic {
                    self.offset
                } else {
                    pcapng_record_offset(&self.path, self.packets).unwrap_or(0)
                };
                Err(CaptureError::Truncated {
                    path: self.path.clone(),
                    offset,
                    packets: self.packets,
                    reason: e.to_string(),
                })
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Byte offset of the block after the first `packets` packet blocks of a
/// pcapng file (used only to report where a file went bad).
fn pcapng_record_offset(path: &Path, packets: u64) -> Option<u64> {
    let mut f = File::open(path).ok()?;
    let size = f.metadata().ok()?.len();
    let mut off = 0u64;
    let mut seen = 0u64;
    let mut little = true;
    loop {
        f.seek(SeekFrom::Start(off)).ok()?;
        let mut h = [0u8; 12];
        if f.read_exact(&mut h).is_err() {
            return Some(off);
        }
        let [t0, t1, t2, t3, l0, l1, l2, l3, m0, m1, m2, m3] = h;
        let btype = [t0, t1, t2, t3];
        if btype == PCAPNG_MAGIC {
            little = [m0, m1, m2, m3] == [0x4d, 0x3c, 0x2b, 0x1a];
        }
        let len = if little {
            u32::from_le_bytes([l0, l1, l2, l3])
        } else {
            u32::from_be_bytes([l0, l1, l2, l3])
        };
        let ty = if little {
            u32::from_le_bytes(btype)
        } else {
            u32::from_be_bytes(btype)
        };
        if matches!(ty, 2 | 3 | 6) {
            if seen == packets {
                return Some(off);
            }
            seen += 1;
        }
        if len < 12 || off + u64::from(len) > size {
            return Some(off);
        }
        off += u64::from(len);
    }
}
