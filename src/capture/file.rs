//! Capture files: pcap and pcapng, read through libpcap.
//!
//! Owns the file handle, and for classic pcap a second, buffered reader of
//! the same file. Input: a path. Output: a [`PcapFile`] that returns borrowed
//! [`Frame`]s in file order, then `Ok(None)`, or a [`CaptureError`].
//!
//! Errors name the file. A file that stops in the middle of a record is
//! reported with the byte offset of that record, after every whole packet
//! before it has been returned.
//!
//! A classic pcap record longer than the file's snaplen (a writer that set
//! the header's snaplen too small) is returned whole, as Wireshark reads it:
//! libpcap would cut it to the snaplen and skip the rest. Such records are
//! found cheaply: only a record that libpcap returns at exactly the snaplen
//! has its header read again, through a buffered reader of the file.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{CaptureError, Frame, LinkType};

/// An open capture file.
pub struct PcapFile {
    path: PathBuf,
    cap: pcap::Capture<pcap::Offline>,
    link: LinkType,
    packets: u64,
    /// Byte offset of the next record (exact for classic pcap).
    offset: u64,
    size: u64,
    /// Classic pcap: the file (read again only for records libpcap cut at
    /// the snaplen), its byte order and the snaplen libpcap enforces.
    classic: Option<Classic>,
    /// The whole data of the last record longer than the snaplen.
    long_record: Vec<u8>,
}

/// What a classic pcap file needs to find records longer than its snaplen.
struct Classic {
    /// The file, read forward and buffered, so that a capture whose records
    /// mostly hit the snaplen costs no system call per record.
    file: BufReader<File>,
    /// `file`'s position; `u64::MAX` once unknown (a failed read).
    pos: u64,
    big_endian: bool,
    /// Which of a record header's two length fields is the caplen.
    lengths: Lengths,
    /// The snaplen libpcap cuts records to (the header's, or 256 KiB when
    /// the header says 0 or more).
    snapshot: u32,
}

/// Files before format 2.3 have a record's caplen and wire length in the
/// other order; 2.3 files were written both ways. libpcap reads them so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lengths {
    /// caplen, then wire length (2.4 and later).
    InOrder,
    /// wire length, then caplen (before 2.3).
    Swapped,
    /// 2.3: swapped when the first field is larger than the second.
    MaybeSwapped,
}

impl Lengths {
    fn of_version(major: u16, minor: u16) -> Lengths {
        match (major, minor) {
            (0..=1, _) | (2, 0..=2) => Lengths::Swapped,
            (2, 3) => Lengths::MaybeSwapped,
            _ => Lengths::InOrder,
        }
    }

    /// The caplen, from a record header's two length fields.
    fn caplen(self, first: u32, second: u32) -> u32 {
        match self {
            Lengths::InOrder => first,
            Lengths::Swapped => second,
            Lengths::MaybeSwapped if first > second => second,
            Lengths::MaybeSwapped => first,
        }
    }
}

/// The 32-bit field at `at` in the file's byte order (0 past the end).
fn u32_at(bytes: &[u8], at: usize, big_endian: bool) -> u32 {
    let field: [u8; 4] = bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .unwrap_or_default();
    if big_endian {
        u32::from_be_bytes(field)
    } else {
        u32::from_le_bytes(field)
    }
}

/// libpcap's largest snaplen for the link types flowsentinel decodes; a
/// record's caplen above it is refused as corrupt.
const MAX_SNAPLEN: u32 = 262_144;
/// A classic pcap global header.
const PCAP_HEADER_LEN: u64 = 24;
/// The smallest pcapng Section Header Block.
const PCAPNG_SHB_MIN_LEN: u64 = 28;

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

impl PcapFile {
    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

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
        let mut head = Vec::with_capacity(PCAP_HEADER_LEN as usize);
        (&mut f)
            .take(PCAP_HEADER_LEN)
            .read_to_end(&mut head)
            .map_err(|e| open_err(e.to_string()))?;
        let got = head.len().min(4);
        let mut magic = [0u8; 4];
        magic[..got].copy_from_slice(&head[..got]);
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
        // libpcap's own message counts only the bytes after the magic
        // number ("only got 6" for a 10-byte file).
        if classic && head.len() < PCAP_HEADER_LEN as usize {
            return Err(open_err(format!(
                "truncated pcap header: the file is {size} bytes, shorter than the {PCAP_HEADER_LEN}-byte pcap global header"
            )));
        }
        if !classic && size < PCAPNG_SHB_MIN_LEN {
            return Err(open_err(format!(
                "truncated pcapng header: the file is {size} bytes, shorter than the {PCAPNG_SHB_MIN_LEN}-byte Section Header Block"
            )));
        }
        let cap = pcap::Capture::from_file(path).map_err(|e| open_err(e.to_string()))?;
        let dlt = cap.get_datalink();
        let link = LinkType::from_dlt(dlt.0).ok_or_else(|| CaptureError::UnknownLinkType {
            path: path.to_path_buf(),
            dlt: dlt.0,
            name: dlt.get_name().unwrap_or_else(|_| "unknown".into()),
        })?;
        let classic = classic.then(|| {
            let big_endian = magic[0] == 0xa1;
            let snaplen = u32_at(&head, 16, big_endian);
            let version = u32_at(&head, 4, big_endian);
            // The two 16-bit version fields, in the file's byte order.
            let (major, minor) = if big_endian {
                ((version >> 16) as u16, version as u16)
            } else {
                (version as u16, (version >> 16) as u16)
            };
            Classic {
                file: BufReader::with_capacity(1 << 16, f),
                pos: PCAP_HEADER_LEN,
                big_endian,
                lengths: Lengths::of_version(major, minor),
                snapshot: if snaplen == 0 || snaplen > MAX_SNAPLEN {
                    MAX_SNAPLEN
                } else {
                    snaplen
                },
            }
        });
        Ok(Self {
            path: path.to_path_buf(),
            cap,
            link,
            packets: 0,
            offset: PCAP_HEADER_LEN,
            size,
            classic,
            long_record: Vec::new(),
        })
    }

    /// The file's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// File size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes consumed so far, when known (classic pcap only).
    pub fn position(&self) -> Option<u64> {
        self.classic.as_ref().map(|_| self.offset)
    }

    /// The next frame, `Ok(None)` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(pkt) => {
                self.packets += 1;
                let record = self.offset;
                let mut caplen = pkt.header.caplen;
                let mut data = pkt.data;
                if let Some(c) = self.classic.as_mut().filter(|c| caplen == c.snapshot) {
                    // libpcap may have cut this record at the snaplen.
                    if let Some(whole) = c.long_record(record, &mut self.long_record) {
                        caplen = whole;
                        data = &self.long_record;
                    }
                }
                self.offset += 16 + u64::from(caplen);
                let ts = &pkt.header.ts;
                let ts_us = ts
                    .tv_sec
                    .saturating_mul(1_000_000)
                    .saturating_add(ts.tv_usec);
                Ok(Some(Frame {
                    ts_us,
                    link: self.link,
                    data,
                }))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => {
                let offset = if self.classic.is_some() {
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

impl Classic {
    /// The caplen of the record at `offset` when it is longer than the
    /// snaplen, with its whole data read into `buf`; `None` otherwise.
    fn long_record(&mut self, offset: u64, buf: &mut Vec<u8>) -> Option<u32> {
        let delta = i64::try_from(offset.checked_sub(self.pos)?).ok()?;
        // Unknown until the reads below succeed.
        self.pos = u64::MAX;
        self.file.seek_relative(delta).ok()?;
        let mut header = [0u8; 16];
        self.file.read_exact(&mut header).ok()?;
        self.pos = offset + 16;
        let caplen = self.lengths.caplen(
            u32_at(&header, 8, self.big_endian),
            u32_at(&header, 12, self.big_endian),
        );
        // Above MAX_SNAPLEN libpcap refuses the record before we see it.
        if caplen <= self.snapshot || caplen > MAX_SNAPLEN {
            return None;
        }
        buf.resize(caplen as usize, 0);
        self.pos = u64::MAX;
        self.file.read_exact(buf).ok()?;
        self.pos = offset + 16 + u64::from(caplen);
        Some(caplen)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Byte offset of the pcapng block where libpcap stopped after returning
/// `packets` packets (used only to report where a file went bad): the first
/// block after the last of them, or after the first interface when there
/// are none, that is cut, has inconsistent lengths, or may fail libpcap's
/// checks (a packet or section block, an interface whose link type or
/// snaplen differs from the first one's); blocks libpcap skips are passed.
fn pcapng_record_offset(path: &Path, packets: u64) -> Option<u64> {
    let f = File::open(path).ok()?;
    let size = f.metadata().ok()?.len();
    let mut off = 0u64;
    let mut seen = 0u64;
    // The first interface's link type and snaplen (as libpcap adjusts it).
    let mut first: Option<(u16, u32)> = None;
    let mut little = true;
    loop {
        let mut h = [0u8; 12];
        if f.read_exact_at(&mut h, off).is_err() {
            return Some(off);
        }
        let [t0, t1, t2, t3, l0, l1, l2, l3, m0, m1, m2, m3] = h;
        let btype = [t0, t1, t2, t3];
        if btype == PCAPNG_MAGIC {
            little = [m0, m1, m2, m3] == [0x4d, 0x3c, 0x2b, 0x1a];
        }
        let word = |b: [u8; 4]| u32_at(&b, 0, !little);
        let len = word([l0, l1, l2, l3]);
        let ty = word(btype);
        let end = off + u64::from(len);
        let mut trailer = [0u8; 4];
        let broken = len < 12
            || len % 4 != 0
            || end > size
            || f.read_exact_at(&mut trailer, end - 4).is_err()
            || word(trailer) != len;
        let mut body = [0u8; 8];
        let interface = (ty == 1 && f.read_exact_at(&mut body, off + 8).is_ok()).then(|| {
            let [k0, k1, _, _, s0, s1, s2, s3] = body;
            let kind = if little {
                u16::from_le_bytes([k0, k1])
            } else {
                u16::from_be_bytes([k0, k1])
            };
            let snaplen = match word([s0, s1, s2, s3]) {
                0 => MAX_SNAPLEN,
                n => n.min(MAX_SNAPLEN),
            };
            (kind, snaplen)
        });
        let checked = matches!(ty, 2 | 3 | 6)
            || btype == PCAPNG_MAGIC
            || (interface.is_some() && first.is_some() && interface != first);
        if broken || (checked && first.is_some() && seen == packets) {
            return Some(off);
        }
        if matches!(ty, 2 | 3 | 6) {
            seen += 1;
        }
        first = first.or(interface);
        off = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `pcap_reader` fuzz target
    /// (fuzz/regressions/pcap_reader/version-2.0-swapped-lengths): a format
    /// 2.0 file, whose record headers hold the wire length before the
    /// caplen, with records longer than its snaplen of 7. Re-reading such a
    /// record took the wire length for the caplen, so the byte offsets of
    /// later records drifted past the end of the file.
    #[test]
    fn r_fuzz_pre_2_3_files_have_their_lengths_swapped() {
        let bytes =
            include_bytes!("../../fuzz/regressions/pcap_reader/version-2.0-swapped-lengths");
        let path = std::env::temp_dir().join(format!(
            "flowsentinel-capture-{}-swapped.pcap",
            std::process::id()
        ));
        std::fs::write(&path, bytes).expect("write");
        let mut f = PcapFile::open(&path).expect("open");
        let mut lens = Vec::new();
        let err = loop {
            match f.next_frame() {
                Ok(Some(fr)) => lens.push(fr.data.len()),
                Ok(None) => panic!("the last record is corrupt"),
                Err(e) => break e,
            }
        };
        let _ = std::fs::remove_file(&path);
        // Whole records, as the file's own caplens give them.
        assert_eq!(lens, [122, 90, 138, 372, 138, 90, 138]);
        match err {
            CaptureError::Truncated {
                offset, packets, ..
            } => assert_eq!((offset, packets), (1224, 7)),
            e => panic!("{e}"),
        }
        assert_eq!(Lengths::of_version(2, 4).caplen(1, 2), 1);
        assert_eq!(Lengths::of_version(2, 3).caplen(5, 2), 2);
        assert_eq!(Lengths::of_version(2, 3).caplen(2, 5), 2);
        assert_eq!(Lengths::of_version(1, 9).caplen(1, 2), 2);
    }
}
