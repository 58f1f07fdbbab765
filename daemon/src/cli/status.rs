//! `ztapi status`: the daemon's programs, hooked libraries, rates, and every
//! counter of loss and parse faults.

use comfy_table::Cell;

use super::{right, table};
use crate::api::StatusReport;

pub(super) fn print_status(report: &StatusReport) {
    println!(
        "ztapid {} (pid {}), up {} s",
        report.version, report.pid, report.uptime_seconds
    );
    println!("programs: {}", report.programs.join(", "));
    println!(
        "events: {:.1}/s, {} stored transactions, {} endpoints, store {} KiB",
        report.events_per_second,
        report.stored_transactions,
        report.endpoints,
        report.store_bytes / 1024
    );
    if report.unreadable_segments > 0 {
        println!(
            "store: {} unreadable segments skipped in listings (see the daemon log)",
            report.unreadable_segments
        );
    }

    println!();
    if report.libraries.is_empty() {
        println!("hooked libraries: none yet (no running process maps libssl)");
    } else {
        let mut libraries = table(&["LIBRARY", "PROBES", "PROCESSES"]);
        for library in &report.libraries {
            let pids: Vec<String> = library.pids.iter().map(u32::to_string).collect();
            libraries.add_row(vec![
                Cell::new(&library.path),
                right(library.probes),
                Cell::new(pids.join(" ")),
            ]);
        }
        println!("{libraries}");
    }

    let kernel = |name: &str| report.kernel.get(name).copied().unwrap_or(0);
    let pipeline = &report.pipeline;
    println!();
    println!("capture:");
    println!(
        "  tls calls {}, records {}, ring buffer drops {}",
        kernel("tls_calls"),
        pipeline.records,
        kernel("ringbuf_drops")
    );
    println!(
        "  truncated calls {} ({} bytes), read faults {}, unmatched returns {}",
        kernel("truncated_calls"),
        kernel("truncated_bytes"),
        kernel("read_faults"),
        kernel("unmatched_returns")
    );
    println!("parsing:");
    println!(
        "  transactions {}, duplicates merged {}, connections open {} (evicted {})",
        pipeline.transactions,
        pipeline.duplicates_merged,
        pipeline.connections_open,
        pipeline.connections_evicted
    );
    println!(
        "  unparsed connections {} ({} bytes), parse errors {}, resyncs {}, skipped bytes {}",
        pipeline.unparsed_connections,
        pipeline.unparsed_bytes,
        pipeline.parse_errors,
        pipeline.parser_resyncs,
        pipeline.skipped_bytes
    );
    println!(
        "  unanswered requests {}, orphan responses {}, invalid records {}, store errors {}",
        pipeline.unanswered_requests,
        pipeline.orphan_responses,
        pipeline.record_errors,
        pipeline.store_errors
    );
    println!(
        "  HTTP/2 frames {}, frame errors {}, resyncs {} ({} bytes skipped), HPACK errors {}, partial streams {}, reset {}, evicted {}",
        pipeline.http2_frames,
        pipeline.http2_frame_errors,
        pipeline.http2_resyncs,
        pipeline.http2_skipped_bytes,
        pipeline.http2_hpack_errors,
        pipeline.http2_partial_streams,
        pipeline.http2_reset_streams,
        pipeline.http2_evicted_streams
    );
    let flows = &pipeline.flows;
    println!("cleartext TCP:");
    println!(
        "  segments sent {}, flows open {} (opened {}, closed {}, evicted {}), ignored bytes {}",
        kernel("segments_sent"),
        pipeline.flows_open,
        flows.flows_opened,
        flows.flows_closed,
        flows.flows_evicted,
        kernel("ignored_bytes")
    );
    println!(
        "  stream gaps {} ({} bytes), cut packet bytes {}, duplicate bytes {}, out of order {}, dropped segments {}, unparsed packets {}",
        flows.stream_gaps,
        flows.stream_gap_bytes,
        kernel("truncated_segment_bytes"),
        flows.duplicate_bytes,
        flows.out_of_order_segments,
        flows.reassembly_dropped_segments,
        kernel("unparsed_packets")
    );
    println!(
        "  TLS connections on the wire {}, without plaintext {} (see ztapi connections)",
        flows.tls_flows, flows.tls_flows_hidden
    );
    let classified = &report.pipeline.classification;
    println!("sensitive data:");
    println!(
        "  transactions scanned {}, with findings {}, findings {}, bodies kept masked {}",
        classified.transactions_scanned,
        classified.transactions_with_findings,
        classified.findings,
        classified.bodies_captured
    );
    println!(
        "  bytes scanned {}, not scanned (over the per-transaction budget) {}, detections dropped {}",
        classified.bytes_scanned, classified.bytes_not_scanned, classified.detections_dropped
    );
}
