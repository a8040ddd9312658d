//! The config file: `Settings::parse` on arbitrary TOML text, then `build`
//! for `replay` (no files) and for `live`. Nothing may panic; a refused
//! value is an error.
#![no_main]

use flowsentinel::config::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(settings) = Settings::parse(text) else {
        return;
    };
    if let Ok(cfg) = settings.clone().build(Some(vec![]), false) {
        assert!(cfg.flow_timeout_us >= 0 && cfg.activity_timeout_us >= 0);
        assert!(cfg.interim_after_us >= 0);
    }
    if let Ok(cfg) = settings.clone().build(None, false) {
        assert!(cfg.flow_timeout_us >= 0 && cfg.activity_timeout_us >= 0);
    }
    // The command line overlays the file: both ways round must build the same.
    let over = settings.clone().overlay(Settings::default());
    let _ = over.build(None, false);
});
