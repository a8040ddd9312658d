//! Live capture: one network interface, through libpcap.
//!
//! Owns the interface handle, its BPF filter, the kernel buffer and the
//! kernel's drop counters. Input: [`LiveOptions`]. Output: a [`LiveCapture`]
//! that returns borrowed [`Frame`]s as they arrive, and [`KernelStats`].
//!
//! Live capture is non-blocking: libpcap's read timeout does not fire on an
//! idle interface with libpcap 1.10, so [`LiveCapture::next_frame`] returns
//! `None` when nothing is ready and [`LiveCapture::wait`] polls the
//! descriptor with a bounded timeout.
//!
//! With more than one capture thread, [`LiveCapture::open_group`] opens one
//! handle per thread and joins them to one AF_PACKET fanout group
//! (`fanout`): each handle then gets whole flows, and keeps its own kernel
//! buffer of `buffer_mb` and its own counters.

use super::{CaptureError, Frame, LinkType};

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
    /// The kernel capture buffer, MiB (of each handle).
    pub buffer_mb: u32,
    /// Capture threads: handles on the interface, in one fanout group when
    /// more than one.
    pub capture_threads: usize,
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
    /// The fanout group the handle joined, if any.
    group: Option<u16>,
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
            group: None,
        })
    }

    /// Opens `o.capture_threads` handles (at least one); more than one join
    /// this process's fanout group, each as soon as it is open (a packet
    /// that arrives between a handle's opening and its joining, a few
    /// microseconds, reaches that handle and the group both).
    pub fn open_group(o: &LiveOptions) -> Result<Vec<Self>, CaptureError> {
        let n = o.capture_threads.max(1);
        let mut caps = Vec::with_capacity(n);
        let mut group = None;
        for i in 0..n {
            let mut cap = Self::open(o)?;
            if n > 1 {
                let joined = match group {
                    None => super::fanout::create(&cap.cap),
                    Some(g) => super::fanout::join(&cap.cap, g).map(|()| g),
                };
                let g = joined.map_err(|e| CaptureError::Device {
                    iface: o.iface.clone(),
                    reason: format!(
                        "capture thread {}: cannot join the fanout group: {e}",
                        i + 1
                    ),
                })?;
                group = Some(g);
                cap.group = Some(g);
            }
            caps.push(cap);
        }
        Ok(caps)
    }

    /// The AF_PACKET fanout group this handle joined, if any.
    pub fn fanout_group(&self) -> Option<u16> {
        self.group
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
                    link: self.link,
                    data: pkt.data,
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

/// The addresses of interface `iface` (none when it cannot be listed).
pub fn interface_addresses(iface: &str) -> Vec<std::net::IpAddr> {
    pcap::Device::list()
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d.name == iface)
        .flat_map(|d| d.addresses)
        .map(|a| a.addr)
        .collect()
}
