//! Tables of the inventory: endpoints with their data types, the data types
//! themselves, and the call graph.

use comfy_table::Cell;

use super::{optional, right, table};
use crate::{
    api::GraphEdge,
    classify::DataTypeInfo,
    inventory::{DataTypeSeen, EndpointSummary},
};

pub(super) fn print_endpoints(endpoints: &[EndpointSummary], data_filter: Option<&str>) {
    if endpoints.is_empty() {
        match data_filter {
            Some(filter) => println!("no endpoint has carried {filter} data"),
            None => println!("no endpoints seen yet"),
        }
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

pub(super) fn print_data_types(types: &[DataTypeInfo]) {
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

pub(super) fn print_graph(edges: &[GraphEdge], dot: bool) {
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
            // The same spelling as in `ztapi endpoints`.
            Cell::new(if edge.directions.is_empty() {
                "-".to_owned()
            } else {
                edge.directions.replace('_', "-")
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
