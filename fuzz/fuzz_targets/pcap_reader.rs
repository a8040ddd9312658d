//! The capture-file reader, fed whole pcap/pcapng files.
//!
//! The input is written to one temporary file per process (reused), opened
//! with `PcapFile::open` and read frame by frame until the end or an error;
//! every frame is decoded under the compat and the `fixed` rules. Nothing may
//! panic, and every error must name the file.
#![no_main]

use flowsentinel::capture::{CaptureError, PcapFile};
use flowsentinel::decode::{decode, DecodeRules};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// At most this many frames per input: libFuzzer's `-max_len` bounds the file
/// size anyway, so this only guards against a reader that never ends.
const MAX_FRAMES: usize = 100_000;

const RULES: [DecodeRules; 3] = [
    DecodeRules {
        ipv6: false,
        era_quirks: true,
        count_padding: true,
        kdd: false,
    },
    DecodeRules {
        ipv6: true,
        era_quirks: false,
        count_padding: false,
        kdd: false,
    },
    DecodeRules {
        ipv6: true,
        era_quirks: false,
        count_padding: false,
        kdd: true,
    },
];

fn temp_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("flowsentinel-fuzz-{}.pcap", std::process::id()))
    })
}

fn check_error(e: &CaptureError, path: &std::path::Path, size: u64) {
    let text = e.to_string();
    let shown = path.display().to_string();
    assert!(text.contains(&shown), "error does not name {shown}: {text}");
    if let CaptureError::Truncated { offset, .. } = e {
        assert!(
            *offset <= size,
            "offset {offset} past the end ({size} bytes): {text}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let path = temp_path();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let size = data.len() as u64;
    let mut file = match PcapFile::open(path) {
        Ok(f) => f,
        Err(e) => {
            assert!(e.is_fatal(), "an open error refuses the file: {e}");
            check_error(&e, path, size);
            return;
        }
    };
    assert_eq!(file.size(), size);
    let link = file.link();
    for _ in 0..MAX_FRAMES {
        match file.next_frame() {
            Ok(Some(frame)) => {
                assert_eq!(frame.link, link, "every frame has the file's link type");
                for rules in RULES {
                    let _ = decode(&frame, rules);
                }
            }
            Ok(None) => break,
            Err(e) => {
                assert!(
                    !e.is_fatal(),
                    "a read error keeps the packets before it: {e}"
                );
                check_error(&e, path, size);
                break;
            }
        }
    }
    if let Some(pos) = file.position() {
        assert!(pos <= size, "position {pos} past the end ({size} bytes)");
    }
});
