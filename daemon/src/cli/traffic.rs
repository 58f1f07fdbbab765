//! Tables of recent traffic: transactions with the data types found in
//! them, and connections seen only as ciphertext or recently closed.

use comfy_table::Cell;

use super::{optional, right, table};
use crate::transaction::Transaction;

pub(super) fn print_transactions(transactions: &[Transaction], endpoint: Option<&str>) {
    if transactions.is_empty() {
        match endpoint {
            Some(endpoint) => println!(
                "no stored transactions of endpoint {endpoint} (see `ztapi endpoints` for ids)"
            ),
            None => println!("no transactions stored yet"),
        }
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

pub(super) fn print_connections(data: &serde_json::Value) {
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
