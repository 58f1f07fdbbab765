//! The `ztapi` command line: queries the daemon and prints tables, or JSON
//! for scripts.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use comfy_table::{presets::NOTHING, Cell, CellAlignment, Table};

use crate::{
    api::{client, GraphEdge, Request, StatusReport},
    classify::DataTypeInfo,
    inventory::{DataTypeSeen, EndpointSummary},
    transaction::Transaction,
};

/// Query the ztapi daemon (ztapid): its status, the API endpoints it has
/// seen, and recent API transactions.
#[derive(Debug, Parser)]
#[command(name = "ztapi", version)]
pub struct CliArgs {
    /// Unix socket of the ztapid API.
    #[arg(
        long,
        global = true,
        env = "ZTAPI_SOCKET",
        default_value = "/run/ztapi/ztapid.sock"
    )]
    pub socket: PathBuf,

    /// Print the daemon's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attached programs, hooked libraries and their processes, event rate,
    /// drops and truncations.
    Status,
    /// The API endpoint inventory, with the sensitive data types each
    /// endpoint has carried.
    Endpoints {
        /// Only endpoints that carried data of this compliance set (pci,
        /// gdpr, hipaa, ccpa) or of this data type (card_number, email, ...;
        /// `ztapi data-types` lists them).
        #[arg(long, value_name = "SET_OR_TYPE")]
        data: Option<String>,
    },
    /// The sensitive data types the classifier reports, with their
    /// sensitivity and compliance sets.
    DataTypes,
    /// Who calls whom: callers, the workloads serving each service, and
    /// call counts.
    Graph {
        /// Print Graphviz DOT instead of a table (render with `dot -Tsvg`).
        #[arg(long)]
        dot: bool,
    },
    /// TLS connections seen only as ciphertext (no hooked library), with
    /// their server name: what ztapi cannot see into.
    Connections,
    /// Recent API transactions, newest first.
    Transactions {
        /// Transactions to show at most.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only transactions of this endpoint id (see `ztapi endpoints`).
        #[arg(long)]
        endpoint: Option<String>,
    },
}

/// Runs the command line; the exit code is 1 on any error.
pub fn run(args: CliArgs) -> ExitCode {
    let request = match &args.command {
        Command::Status => Request::Status,
        Command::Endpoints { data } => Request::Endpoints { data: data.clone() },
        Command::DataTypes => Request::DataTypes,
        Command::Graph { .. } => Request::Graph,
        Command::Connections => Request::Connections,
        Command::Transactions { limit, endpoint } => Request::Transactions {
            limit: Some(*limit),
            endpoint: endpoint.clone(),
        },
    };
    let data = match client::call(&args.socket, &request) {
        Ok(data) => data,
        Err(error) => {
            eprintln!("ztapi: {error}");
            return ExitCode::FAILURE;
        }
    };

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let printed = match args.command {
        Command::Status => serde_json::from_value(data).map(|report| print_status(&report)),
        Command::Endpoints { .. } => serde_json::from_value(data)
            .map(|endpoints: Vec<EndpointSummary>| print_endpoints(&endpoints)),
        Command::DataTypes => {
            serde_json::from_value(data).map(|types: Vec<DataTypeInfo>| print_data_types(&types))
        }
        Command::Transactions { .. } => serde_json::from_value(data)
            .map(|transactions: Vec<Transaction>| print_transactions(&transactions)),
        Command::Graph { dot } => {
            serde_json::from_value(data).map(|edges: Vec<GraphEdge>| print_graph(&edges, dot))
        }
        Command::Connections => {
            print_connections(&data);
            Ok(())
        }
    };
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "ztapi: the daemon's reply does not match this ztapi version: {error}; use --json"
            );
            ExitCode::FAILURE
        }
    }
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(NOTHING);
    table.set_header(header.iter().map(Cell::new));
    table
}

fn right(value: impl ToString) -> Cell {
    Cell::new(value.to_string()).set_alignment(CellAlignment::Right)
}

fn optional<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}

fn print_status(report: &StatusReport) {
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

fn print_endpoints(endpoints: &[EndpointSummary]) {
    if endpoints.is_empty() {
        println!("no endpoints seen yet");
        return;
    }
    let mut rows = table(&[
        "ID",
        "SERVICE",
        "METHOD",
        "PATH",
        "CALLS",
        "2XX",
        "4XX",
        "5XX",
        "P50 MS",
        "P99 MS",
        "AUTH",
        "TLS",
        "DIRECTION",
        "SERVED BY",
        "DATA",
    ]);
    for endpoint in endpoints {
        let auth: Vec<&str> = endpoint
            .auth_schemes
            .iter()
            .map(|scheme| scheme.as_str())
            .collect();
        rows.add_row(vec![
            Cell::new(&endpoint.id),
            Cell::new(&endpoint.service),
            Cell::new(&endpoint.method),
            Cell::new(&endpoint.path_template),
            right(endpoint.calls),
            right(endpoint.status_classes.success),
            right(endpoint.status_classes.client_error),
            right(endpoint.status_classes.server_error),
            right(optional(
                endpoint
                    .latency_p50_us
                    .map(|us| format!("{:.1}", us as f64 / 1000.0)),
            )),
            right(optional(
                endpoint
                    .latency_p99_us
                    .map(|us| format!("{:.1}", us as f64 / 1000.0)),
            )),
            Cell::new(auth.join(",")),
            Cell::new(match (endpoint.encrypted, endpoint.plaintext) {
                (true, true) => "both",
                (true, false) => "yes",
                _ => "no",
            }),
            Cell::new(directions_label(&endpoint.directions)),
            Cell::new(
                endpoint
                    .servers
                    .iter()
                    .map(|(label, _)| label.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Cell::new(data_types_label(&endpoint.data_types)),
        ]);
    }
    println!("{rows}");
}

/// Data types of an endpoint, each marked with where it travelled:
/// `card_number(req)`, `email(req,resp)`.
fn data_types_label(seen: &[DataTypeSeen]) -> String {
    let mut labels: Vec<String> = Vec::new();
    for (index, entry) in seen.iter().enumerate() {
        if index > 0 && seen[index - 1].data_type == entry.data_type {
            continue;
        }
        let parts: Vec<&str> = seen[index..]
            .iter()
            .take_while(|other| other.data_type == entry.data_type)
            .map(|other| match other.part {
                crate::classify::Part::Request => "req",
                crate::classify::Part::Response => "resp",
            })
            .collect();
        labels.push(format!("{}({})", entry.data_type, parts.join(",")));
    }
    if labels.is_empty() {
        "-".to_owned()
    } else {
        labels.join(" ")
    }
}

fn print_data_types(types: &[DataTypeInfo]) {
    let mut rows = table(&["TYPE", "SENSITIVITY", "COMPLIANCE", "ORIGIN", "ENABLED"]);
    for info in types {
        let compliance: Vec<&str> = info.compliance.iter().map(|set| set.as_str()).collect();
        rows.add_row(vec![
            Cell::new(&info.name),
            Cell::new(info.sensitivity.as_str()),
            Cell::new(if compliance.is_empty() {
                "-".to_owned()
            } else {
                compliance.join(",")
            }),
            Cell::new(if info.builtin { "built-in" } else { "custom" }),
            Cell::new(if info.enabled { "yes" } else { "no" }),
        ]);
    }
    println!("{rows}");
}

fn print_transactions(transactions: &[Transaction]) {
    if transactions.is_empty() {
        println!("no transactions stored yet");
        return;
    }
    let mut rows = table(&[
        "ID",
        "TIME",
        "CLIENT",
        "METHOD",
        "HOST",
        "PATH",
        "STATUS",
        "MS",
        "REQ B",
        "RESP B",
        "SERVER PROCESS",
        "DATA",
    ]);
    for transaction in transactions {
        let client = match (&transaction.client.process, transaction.client.address) {
            (Some(process), _) => format!("{process}[{}]", optional(transaction.client.pid)),
            (None, Some(address)) => address.to_string(),
            (None, None) => "-".to_owned(),
        };
        let server = match &transaction.server.process {
            Some(process) => format!("{process}[{}]", optional(transaction.server.pid)),
            None => optional(transaction.server.address),
        };
        rows.add_row(vec![
            right(transaction.id),
            Cell::new(format_time(transaction.started_at_ms)),
            Cell::new(client),
            Cell::new(&transaction.method),
            Cell::new(&transaction.host),
            Cell::new(&transaction.path),
            right(optional(transaction.status)),
            right(format!("{:.1}", transaction.latency_us as f64 / 1000.0)),
            right(transaction.request_size),
            right(transaction.response_size),
            Cell::new(server),
            Cell::new(findings_label(transaction)),
        ]);
    }
    println!("{rows}");
}

/// Distinct data types found in a transaction, in order of first finding.
fn findings_label(transaction: &Transaction) -> String {
    let mut types: Vec<&str> = Vec::new();
    for finding in &transaction.findings {
        if !types.contains(&finding.data_type.as_str()) {
            types.push(&finding.data_type);
        }
    }
    if types.is_empty() {
        "-".to_owned()
    } else {
        types.join(",")
    }
}

/// `HH:MM:SS.mmm` in UTC, enough to order recent calls at a glance.
fn format_time(unix_ms: u64) -> String {
    let seconds_of_day = (unix_ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60,
        unix_ms % 1000
    )
}

fn directions_label(directions: &[crate::workload::TrafficDirection]) -> String {
    use crate::workload::TrafficDirection;
    let labels: Vec<&str> = directions
        .iter()
        .map(|direction| match direction {
            TrafficDirection::EastWest => "east-west",
            TrafficDirection::NorthSouth => "north-south",
            TrafficDirection::ThirdParty => "third-party",
        })
        .collect();
    if labels.is_empty() {
        "-".to_owned()
    } else {
        labels.join(",")
    }
}

fn print_graph(edges: &[GraphEdge], dot: bool) {
    if dot {
        println!("digraph ztapi {{");
        println!("  rankdir=LR;");
        for edge in edges {
            let style = if edge.encrypted { "solid" } else { "dashed" };
            println!(
                "  {:?} -> {:?} [label={:?}, style={style}];",
                edge.caller,
                edge.server,
                format!("{} ({} calls)", edge.service, edge.calls)
            );
        }
        println!("}}");
        return;
    }
    if edges.is_empty() {
        println!("no calls seen yet");
        return;
    }
    let mut rows = table(&["CALLER", "SERVER", "SERVICE", "CALLS", "DIRECTION", "TLS"]);
    for edge in edges {
        rows.add_row(vec![
            Cell::new(&edge.caller),
            Cell::new(&edge.server),
            Cell::new(&edge.service),
            right(edge.calls),
            Cell::new(if edge.directions.is_empty() {
                "-"
            } else {
                &edge.directions
            }),
            Cell::new(match (edge.encrypted, edge.plaintext) {
                (true, true) => "both",
                (true, false) => "yes",
                _ => "no",
            }),
        ]);
    }
    println!("{rows}");
}

fn print_connections(data: &serde_json::Value) {
    let empty = Vec::new();
    let encrypted = data["encrypted"].as_array().unwrap_or(&empty);
    let closed = data["closed"].as_array().unwrap_or(&empty);
    let text = |value: &serde_json::Value, key: &str| match &value[key] {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    };

    println!("TLS connections seen on the wire:");
    if encrypted.is_empty() {
        println!("  none yet");
    } else {
        let mut rows = table(&[
            "CLIENT",
            "SERVER",
            "SERVER NAME",
            "PROCESS",
            "PLAINTEXT SEEN",
        ]);
        for flow in encrypted {
            let process = match (flow["client_process"].as_str(), flow["client_pid"].as_u64()) {
                (Some(process), Some(pid)) => format!("{process}[{pid}]"),
                _ => "-".to_owned(),
            };
            let decrypted = flow["decrypted"].as_bool() == Some(true);
            rows.add_row(vec![
                Cell::new(text(flow, "client")),
                Cell::new(text(flow, "server")),
                Cell::new(text(flow, "server_name")),
                Cell::new(process),
                Cell::new(if decrypted { "yes" } else { "no (hidden)" }),
            ]);
        }
        println!("{rows}");
    }

    println!();
    println!("recently closed TCP connections:");
    if closed.is_empty() {
        println!("  none yet");
        return;
    }
    let mut rows = table(&[
        "A",
        "B",
        "OPENED",
        "DURATION MS",
        "BYTES A>B",
        "BYTES B>A",
        "KIND",
    ]);
    for connection in closed {
        rows.add_row(vec![
            Cell::new(text(connection, "a")),
            Cell::new(text(connection, "b")),
            Cell::new(format_time(connection["opened_ms"].as_u64().unwrap_or(0))),
            right(text(connection, "duration_ms")),
            right(text(connection, "bytes_a_to_b")),
            right(text(connection, "bytes_b_to_a")),
            Cell::new(text(connection, "kind")),
        ]);
    }
    println!("{rows}");
}
