//! The `ztapi` command line: queries the daemon and prints tables, or JSON
//! for scripts.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use comfy_table::{presets::NOTHING, Cell, CellAlignment, Table};

use crate::{
    api::{client, GraphEdge, Request},
    classify::DataTypeInfo,
    inventory::EndpointSummary,
    transaction::Transaction,
};

mod inventory;
mod status;
mod traffic;

use self::{
    inventory::{print_data_types, print_endpoints, print_graph},
    status::print_status,
    traffic::{print_connections, print_transactions},
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
    /// TLS connections on the wire with their server name, and whether a
    /// hooked library showed their plaintext. Those without are what ztapi
    /// cannot see into. Also recently closed connections with their
    /// lifecycle (end A is the server when it is known).
    Connections,
    /// Recent API transactions, newest first.
    Transactions {
        /// Transactions to show at most (1 to 10000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
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
            limit: Some(*limit as usize),
            endpoint: endpoint.clone(),
        },
    };
    let data_value = match client::call(&args.socket, &request) {
        Ok(data) => data,
        Err(error) => {
            eprintln!("ztapi: {error}");
            return ExitCode::FAILURE;
        }
    };

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data_value).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let printed = match args.command {
        Command::Status => serde_json::from_value(data_value).map(|report| print_status(&report)),
        Command::Endpoints { ref data } => serde_json::from_value(data_value)
            .map(|endpoints: Vec<EndpointSummary>| print_endpoints(&endpoints, data.as_deref())),
        Command::DataTypes => serde_json::from_value(data_value)
            .map(|types: Vec<DataTypeInfo>| print_data_types(&types)),
        Command::Transactions { ref endpoint, .. } => {
            serde_json::from_value(data_value).map(|transactions: Vec<Transaction>| {
                print_transactions(&transactions, endpoint.as_deref())
            })
        }
        Command::Graph { dot } => {
            serde_json::from_value(data_value).map(|edges: Vec<GraphEdge>| print_graph(&edges, dot))
        }
        Command::Connections => {
            print_connections(&data_value);
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

pub(crate) fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(NOTHING);
    table.set_header(header.iter().map(Cell::new));
    table
}

pub(crate) fn right(value: impl ToString) -> Cell {
    Cell::new(value.to_string()).set_alignment(CellAlignment::Right)
}

pub(crate) fn optional<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}
