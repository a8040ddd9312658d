//! Capture: reads frames from pcap and pcapng files, or from a live
//! interface, through libpcap (the `pcap` crate).
//!
//! Owns the file and interface handles, the link type, and for live capture
//! the BPF filter, the kernel buffer and the kernel's drop counters. Output:
//! borrowed [`Frame`]s, one at a time, with timestamps in microseconds
//! (nanosecond files are truncated to whole microseconds by libpcap, as the
//! era tool did).
//!
//! Live capture is non-blocking: libpcap's read timeout does not fire on an
//! idle interface with libpcap 1.10, so [`LiveCapture::next_frame`] returns
//! `None` when nothing is ready and [`LiveCapture::wait`] polls the
//! descriptor with a bounded timeout.
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

/// How to open a live interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    /// The interface name.
    pub iface: String,
    /// A BPF filter (tcpdump syntax).
    pub bpf: Option<String>,
    /// Promiscuous mode.
    pub promisc: bool,
    /// Bytes captured per frame.
    pub snaplen: i32,
    /// The kernel capture buffer, MiB.
    pub buffer_mb: u32,
}

/// Kernel counters of a live capture (libpcap's `pcap_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Frames the kernel handed to the capture.
    pub received: u64,
    /// Frames dropped because the capture buffer was full.
    pub dropped: u64,
    /// Frames dropped by the interface or its driver.
    pub if_dropped: u64,
}

/// Live capture latency bound: the kernel retires a partly filled block of
/// frames after this many milliseconds.
const BLOCK_TIMEOUT_MS: i32 = 10;

/// An open, non-blocking live capture.
pub struct LiveCapture {
    iface: String,
    cap: pcap::Capture<pcap::Active>,
    link: LinkType,
}

impl LiveCapture {
    /// Opens and activates the interface, applies the filter, and switches
    /// to non-blocking reads.
    pub fn open(o: &LiveOptions) -> Result<Self, CaptureError> {
        let err = |reason: String| CaptureError::Device {
            iface: o.iface.clone(),
            reason,
        };
        let buffer = i32::try_from(u64::from(o.buffer_mb) << 20)
            .map_err(|_| err(format!("--buffer-mb {} is too large", o.buffer_mb)))?;
        let cap = pcap::Capture::from_device(o.iface.as_str())
            .map_err(|e| err(e.to_string()))?
            .promisc(o.promisc)
            .snaplen(o.snaplen)
            .buffer_size(buffer)
            // Not immediate mode: libpcap would then use TPACKET_V2, whose
            // fixed 64 KiB slots (at the default snaplen) fit only ~1000
            // frames in 64 MiB. TPACKET_V3 packs frames; the kernel hands
            // over a block when it is full or after this many ms.
            .timeout(BLOCK_TIMEOUT_MS)
            .open()
            .map_err(|e| err(format!("cannot open: {e}")))?;
        let mut cap = cap
            .setnonblock()
            .map_err(|e| err(format!("cannot switch to non-blocking mode: {e}")))?;
        if let Some(bpf) = &o.bpf {
            cap.filter(bpf, true)
                .map_err(|e| err(format!("BPF filter {bpf:?}: {e}")))?;
        }
        let dlt = cap.get_datalink();
        let link = LinkType::from_dlt(dlt.0).ok_or_else(|| {
            err(format!(
                "unsupported link type {} ({}); flowsentinel decodes Ethernet, Linux SLL/SLL2, NULL/LOOP and raw IP",
                dlt.0,
                dlt.get_name().unwrap_or_else(|_| "unknown".into())
            ))
        })?;
        Ok(Self {
            iface: o.iface.clone(),
            cap,
            link,
        })
    }

    /// The interface's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The interface name.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The next frame, or `None` when none is ready now.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(pkt) => {
                let ts = &pkt.header.ts;
                Ok(Some(Frame {
                    ts_us: ts
                        .tv_sec
                        .saturating_mul(1_000_000)
                        .saturating_add(ts.tv_usec),
                    data: pkt.data,
                    wire_len: pkt.header.len,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => Ok(None),
            Err(e) => Err(CaptureError::Device {
                iface: self.iface.clone(),
                reason: format!("read failed: {e}"),
            }),
        }
    }

    /// Waits up to `timeout` for the descriptor to become readable.
    pub fn wait(&self, timeout: std::time::Duration) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.cap.as_fd(), PollFlags::POLLIN)];
        // EINTR (a signal) or an error: the caller's loop looks again.
        let _ = poll(&mut fds, PollTimeout::from(ms));
    }

    /// The kernel's counters so far.
    pub fn stats(&mut self) -> Option<KernelStats> {
        self.cap.stats().ok().map(|s| KernelStats {
            received: u64::from(s.received),
            dropped: u64::from(s.dropped),
            if_dropped: u64::from(s.if_dropped),
        })
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
