//! The EVE `stats` event of a [`Counters`] snapshot, in Suricata's schema:
//! every count Suricata keeps under its own name in `stats` (`decoder.pkts`,
//! `capture.kernel_packets`, `flow.active`, `detect.alert`, ...), every other
//! under the `flowsentinel` extension key; `in_iface` only with an
//! interface.
//!
//! Input: a [`Counters`] snapshot, the event's timestamp and the capture
//! interface. Output: the event as a JSON value (written as one line by the
//! alert writer).

use super::counters::{Counter, Counters};
use crate::decode::SkipReason;
use serde_json::{Map, Value};

/// Inserts `v` at `path` in nested JSON objects.
fn insert(map: &mut Map<String, Value>, path: &[&str], v: u64) {
    match path {
        [] => {}
        [key] => {
            map.insert((*key).to_string(), v.into());
        }
        [key, rest @ ..] => {
            let inner = map
                .entry((*key).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(inner) = inner.as_object_mut() {
                insert(inner, rest, v);
            }
        }
    }
}

impl Counters {
    /// The EVE `stats` event (without its newline): every counter that
    /// names a place (the kernel's only when read), the uptime, alerts in
    /// all (Suricata's `detect.alert`) and invalid frames
    /// (`decoder.invalid`: truncated or malformed headers); and, under
    /// `flowsentinel`, the skips by reason, the alerts by label and the hook.
    pub fn stats_event(&self, timestamp: String, iface: Option<&str>) -> Value {
        let mut ev = Map::new();
        ev.insert("timestamp".into(), timestamp.into());
        ev.insert("event_type".into(), "stats".into());
        if let Some(iface) = iface {
            ev.insert("in_iface".into(), iface.into());
        }
        insert(&mut ev, &["stats", "uptime"], self.elapsed.as_secs());
        let kernel = [
            Counter::KernelPackets,
            Counter::KernelDrops,
            Counter::IfDrops,
        ];
        for c in Counter::ALL {
            if self.kernel || !kernel.contains(&c) {
                insert(&mut ev, c.stats_path(), self[c]);
            }
        }
        insert(&mut ev, &["stats", "detect", "alert"], self.alerts_total());
        let invalid = self
            .skipped_by_reason()
            .filter(|(r, _)| {
                use SkipReason::*;
                matches!(r, TruncatedLink | MalformedIp | MalformedTransport)
            })
            .map(|(_, n)| n)
            .sum();
        insert(&mut ev, &["stats", "decoder", "invalid"], invalid);
        for (r, n) in SkipReason::ALL.iter().zip(self.skipped) {
            insert(
                &mut ev,
                &["flowsentinel", "decoder", "skipped", r.label()],
                n,
            );
        }
        let ours = ev
            .entry("flowsentinel")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(ours) = ours.as_object_mut() {
            let alerts = ours
                .entry("alerts")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(alerts) = alerts.as_object_mut() {
                alerts.insert("by_label".into(), serde_json::json!(self.alerts));
            }
            ours.insert("ips".into(), self.hook_json());
        }
        Value::Object(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::counters::Metrics;

    #[test]
    fn suricata_names_under_stats_the_rest_under_flowsentinel() {
        let m = Metrics::new(2);
        m.set(Counter::Packets, 10);
        m.skipped(&[1, 0, 1]);
        m.set_worker(0, Counter::FlowsActive, 3);
        m.set_worker(1, Counter::FlowsActive, 2);
        m.set_worker(1, Counter::FlowsEvicted, 5);
        let mut c = m.snapshot(false);
        c.alerts.insert("portscan".into(), 7);
        let ev = c.stats_event("t".into(), None);
        let ours = &ev["flowsentinel"];
        assert_eq!(ours["flows"]["evicted"], 5);
        assert_eq!(ev["stats"]["decoder"]["pkts"], 10);
        assert_eq!(ev["stats"]["flow"]["active"], 5);
        assert_eq!(ours["outputs"]["flows_csv"]["lost"], 0);
        assert_eq!(ev["stats"]["detect"]["alert"], 7);
        assert_eq!(ours["alerts"]["by_label"]["portscan"], 7);
        // not_ip is not invalid; truncated_link is.
        assert_eq!(ev["stats"]["decoder"]["invalid"], 1);
        assert_eq!(
            ours["decoder"]["skipped"].as_object().map(|o| o.len()),
            Some(SkipReason::ALL.len())
        );
        // No interface, no kernel counters (replay).
        assert!(ev.get("in_iface").is_none() && ev["stats"].get("capture").is_none());
        c.kernel = true;
        let ev = c.stats_event("t".into(), Some("eth1"));
        assert_eq!(
            ev["flowsentinel"]["flows"]["unscored"]["multicast_destination"],
            0
        );
        assert_eq!(
            (&ev["in_iface"], &ev["stats"]["capture"]["kernel_drops"]),
            (&"eth1".into(), &0.into())
        );
    }

    #[test]
    fn flows_not_scored_by_reason() {
        use crate::unscored::Unscored;
        let m = Metrics::new(1);
        for (n, u) in (1..).zip(Unscored::ALL) {
            m.set(Counter::unscored(u), n);
        }
        let c = m.snapshot(false);
        assert_eq!(c.unscored_total(), 6);
        let ev = c.stats_event("t".into(), None);
        for (n, u) in (1..).zip(Unscored::ALL) {
            // The event's name of each reason is the flow events' `ml.unscored`.
            assert_eq!(ev["flowsentinel"]["flows"]["unscored"][u.label()], n);
        }
        assert!(c.stats_line().contains(" finished 0 unscored 6 "));
        let table = c.render_sensor(1, "CPU");
        assert!(table.contains("flows not scored"), "{table}");
        assert!(table.contains("  broadcast destination"), "{table}");
    }
}
