//! Daemon configuration: command-line options, an optional TOML file, and the
//! checks that reject bad values before anything is attached.
//!
//! The command line overrides the file, and the file overrides the defaults.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

use crate::{
    classify::{Classifier, ClassifierConfig, Fingerprinter},
    sensitive::BodyCaptureRule,
};

/// Exit code for an invalid configuration: `EX_USAGE` from sysexits.h.
pub const EXIT_BAD_CONFIG: i32 = 64;

/// Command-line options of `ztapid`.
#[derive(Debug, Parser)]
#[command(
    name = "ztapid",
    version,
    about = "ztapi daemon: captures API traffic with eBPF and keeps the API inventory"
)]
pub struct DaemonArgs {
    /// TOML configuration file; options given here override its values.
    #[arg(long, env = "ZTAPI_CONFIG")]
    pub config: Option<PathBuf>,

    /// Directory of the sled database holding transactions and the
    /// inventory, and of the node's fingerprint key [default: /var/lib/ztapi].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,

    /// Unix socket of the JSON API; created with mode 0600 [default:
    /// /run/ztapi/ztapid.sock].
    #[arg(long)]
    pub socket: Option<PathBuf>,

    /// Capture only these process ids (repeat or separate with commas);
    /// default is every process on the node.
    #[arg(long, value_delimiter = ',')]
    pub pid: Vec<u32>,

    /// Milliseconds between scans of /proc for newly mapped TLS libraries.
    #[arg(long)]
    pub scan_interval_ms: Option<u64>,

    /// Payload bytes captured per TLS call at most; the rest is counted as
    /// truncated. At most 65536.
    #[arg(long)]
    pub max_call_bytes: Option<u32>,

    /// Size of the kernel ring buffer in KiB (a power of two, at least 64).
    #[arg(long)]
    pub ring_buffer_kib: Option<u32>,

    /// Transactions older than this many hours are deleted.
    #[arg(long)]
    pub retention_hours: Option<u64>,

    /// Transactions kept at most; the oldest go first.
    #[arg(long)]
    pub retention_max_transactions: Option<u64>,

    /// Payload bytes captured per cleartext TCP packet at most; the rest is
    /// a counted stream gap. At most 65536.
    #[arg(long)]
    pub max_packet_bytes: Option<u32>,

    /// Do not capture cleartext TCP traffic; capture only TLS plaintext.
    #[arg(long)]
    pub no_plaintext: bool,

    /// An internal network (CIDR) besides the private, loopback and
    /// link-local ranges, such as the pod or service CIDR; repeat or
    /// separate with commas. Calls between internal addresses are east/west.
    #[arg(long = "internal-network", value_delimiter = ',')]
    pub internal_networks: Vec<String>,
}

/// Settings as read from the TOML file; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    socket: Option<PathBuf>,
    pids: Option<Vec<u32>>,
    scan_interval_ms: Option<u64>,
    max_call_bytes: Option<u32>,
    ring_buffer_kib: Option<u32>,
    retention_hours: Option<u64>,
    retention_max_transactions: Option<u64>,
    max_connections: Option<usize>,
    max_endpoints: Option<usize>,
    max_body_capture: Option<usize>,
    max_packet_bytes: Option<u32>,
    plaintext: Option<bool>,
    internal_networks: Option<Vec<String>>,
    max_flows: Option<usize>,
    pod_log_dir: Option<PathBuf>,
    idle_timeout_seconds: Option<u64>,
    classification: Option<ClassifierConfig>,
    body_capture: Option<Vec<BodyCaptureRule>>,
}

/// The effective configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub socket: PathBuf,
    /// Empty means every process.
    pub pids: Vec<u32>,
    pub scan_interval_ms: u64,
    pub max_call_bytes: u32,
    pub ring_buffer_bytes: u32,
    pub retention_hours: u64,
    pub retention_max_transactions: u64,
    /// Connections tracked at once; the least recently active is evicted.
    pub max_connections: usize,
    pub max_endpoints: usize,
    /// Decoded body bytes kept per message for analysis.
    pub max_body_capture: usize,
    pub max_packet_bytes: u32,
    /// Capture cleartext TCP at the cgroup socket hooks.
    pub plaintext: bool,
    /// Extra internal CIDRs (pod and service networks).
    pub internal_networks: Vec<String>,
    /// Cleartext flows tracked at once; the least recently active is
    /// evicted.
    pub max_flows: usize,
    /// The kubelet's pod log directory, read for pod names.
    pub pod_log_dir: PathBuf,
    /// Connections with no bytes for this many seconds are freed.
    pub idle_timeout_seconds: u64,
    /// Sensitive-data types: built-ins to disable, overrides, custom types
    /// and the scan budget (`[classification]` in the file).
    pub classification: ClassifierConfig,
    /// Endpoints whose bodies are kept, masked (`[[body_capture]]`).
    pub body_capture: Vec<BodyCaptureRule>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/ztapi"),
            socket: PathBuf::from("/run/ztapi/ztapid.sock"),
            pids: Vec::new(),
            scan_interval_ms: 1000,
            max_call_bytes: 16 * 1024,
            ring_buffer_bytes: 8 * 1024 * 1024,
            retention_hours: 24 * 7,
            retention_max_transactions: 1_000_000,
            max_connections: 65_536,
            max_endpoints: 50_000,
            max_body_capture: 64 * 1024,
            max_packet_bytes: 16 * 1024,
            plaintext: true,
            internal_networks: Vec::new(),
            max_flows: 65_536,
            pod_log_dir: PathBuf::from("/var/log/pods"),
            idle_timeout_seconds: 600,
            classification: ClassifierConfig::default(),
            body_capture: Vec::new(),
        }
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid internal_networks: {0}")]
    Network(String),
    #[error("invalid {0}")]
    Classification(String),
    #[error("invalid {key} = {value}: {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl Config {
    /// Builds the effective configuration from the file named by `args`, if
    /// any, and the options themselves.
    pub fn load(args: &DaemonArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let defaults = Config::default();

        let config = Config {
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or(defaults.data_dir),
            socket: args
                .socket
                .clone()
                .or(file.socket)
                .unwrap_or(defaults.socket),
            pids: if args.pid.is_empty() {
                file.pids.unwrap_or_default()
            } else {
                args.pid.clone()
            },
            scan_interval_ms: args
                .scan_interval_ms
                .or(file.scan_interval_ms)
                .unwrap_or(defaults.scan_interval_ms),
            max_call_bytes: args
                .max_call_bytes
                .or(file.max_call_bytes)
                .unwrap_or(defaults.max_call_bytes),
            ring_buffer_bytes: args
                .ring_buffer_kib
                .or(file.ring_buffer_kib)
                .map(|kib| kib.saturating_mul(1024))
                .unwrap_or(defaults.ring_buffer_bytes),
            retention_hours: args
                .retention_hours
                .or(file.retention_hours)
                .unwrap_or(defaults.retention_hours),
            retention_max_transactions: args
                .retention_max_transactions
                .or(file.retention_max_transactions)
                .unwrap_or(defaults.retention_max_transactions),
            max_connections: file.max_connections.unwrap_or(defaults.max_connections),
            max_endpoints: file.max_endpoints.unwrap_or(defaults.max_endpoints),
            max_body_capture: file.max_body_capture.unwrap_or(defaults.max_body_capture),
            max_packet_bytes: args
                .max_packet_bytes
                .or(file.max_packet_bytes)
                .unwrap_or(defaults.max_packet_bytes),
            plaintext: !args.no_plaintext && file.plaintext.unwrap_or(defaults.plaintext),
            internal_networks: if args.internal_networks.is_empty() {
                file.internal_networks.unwrap_or_default()
            } else {
                args.internal_networks.clone()
            },
            max_flows: file.max_flows.unwrap_or(defaults.max_flows),
            pod_log_dir: file.pod_log_dir.unwrap_or(defaults.pod_log_dir),
            idle_timeout_seconds: file
                .idle_timeout_seconds
                .unwrap_or(defaults.idle_timeout_seconds),
            classification: file.classification.unwrap_or(defaults.classification),
            body_capture: file.body_capture.unwrap_or(defaults.body_capture),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let max_call =
            (common::event::MAX_CHUNKS_PER_CALL as usize * common::event::MAX_CHUNK_DATA) as u32;
        if self.max_call_bytes == 0 || self.max_call_bytes > max_call {
            return Err(invalid(
                "max_call_bytes",
                self.max_call_bytes,
                "must be between 1 and 65536",
            ));
        }
        let ring = self.ring_buffer_bytes;
        if ring < 64 * 1024 || !ring.is_power_of_two() {
            return Err(invalid(
                "ring_buffer_kib",
                ring / 1024,
                "must be a power of two of at least 64 (for example 8192)",
            ));
        }
        if self.scan_interval_ms < 100 {
            return Err(invalid(
                "scan_interval_ms",
                self.scan_interval_ms,
                "must be at least 100",
            ));
        }
        if self.retention_max_transactions == 0 {
            return Err(invalid(
                "retention_max_transactions",
                0,
                "must be at least 1",
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid("max_connections", 0, "must be at least 1"));
        }
        if self.max_endpoints == 0 {
            return Err(invalid("max_endpoints", 0, "must be at least 1"));
        }
        if self.max_packet_bytes == 0 || self.max_packet_bytes > max_call {
            return Err(invalid(
                "max_packet_bytes",
                self.max_packet_bytes,
                "must be between 1 and 65536",
            ));
        }
        if self.idle_timeout_seconds == 0 {
            return Err(invalid("idle_timeout_seconds", 0, "must be at least 1"));
        }
        if self.max_flows == 0 {
            return Err(invalid("max_flows", 0, "must be at least 1"));
        }
        if let Err(error) = crate::workload::NetworkScope::new(&self.internal_networks) {
            return Err(ConfigError::Network(error.to_string()));
        }
        if self.pids.contains(&0) {
            return Err(invalid("pid", 0, "process ids start at 1"));
        }
        // Compiling with a throwaway key checks every pattern and name now,
        // before anything is attached; the daemon compiles again with the
        // node's key.
        if let Err(error) = Classifier::new(&self.classification, Fingerprinter::from_key([0; 32]))
        {
            return Err(ConfigError::Classification(format!(
                "classification.{}: {}",
                error.key, error.reason
            )));
        }
        for (index, rule) in self.body_capture.iter().enumerate() {
            rule.validate(index).map_err(ConfigError::Classification)?;
        }
        Ok(())
    }
}

fn invalid(key: &'static str, value: impl ToString, reason: &'static str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        reason,
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> DaemonArgs {
        let mut argv = vec!["ztapid"];
        argv.extend_from_slice(extra);
        DaemonArgs::parse_from(argv)
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::load(&args(&[])).expect("defaults must validate");
        assert_eq!(config.socket, PathBuf::from("/run/ztapi/ztapid.sock"));
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/ztapi"));
    }

    #[test]
    fn command_line_overrides_file() {
        let dir = std::env::temp_dir().join(format!("ztapi-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ztapid.toml");
        std::fs::write(&file, "max_call_bytes = 1024\nring_buffer_kib = 128\n").unwrap();

        let path = file.to_str().unwrap();
        let config = Config::load(&args(&["--config", path, "--max-call-bytes", "2048"])).unwrap();
        assert_eq!(
            config.max_call_bytes, 2048,
            "the option must win over the file"
        );
        assert_eq!(
            config.ring_buffer_bytes,
            128 * 1024,
            "the file must win over the default"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ring_buffer_not_power_of_two_rejected() {
        let error = Config::load(&args(&["--ring-buffer-kib", "100"])).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("ring_buffer_kib = 100"),
            "message names the value: {message}"
        );
    }

    fn load_file(name: &str, text: &str) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("ztapi-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ztapid.toml");
        std::fs::write(&file, text).unwrap();
        let result = Config::load(&args(&["--config", file.to_str().unwrap()]));
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn classification_extended_from_file() {
        let config = load_file(
            "classification",
            r#"
[classification]
disabled = ["ip_address"]

[[classification.custom]]
name = "employee_id"
sensitivity = "medium"
compliance = ["gdpr"]
regex = "EMP-[0-9]{6}"

[[body_capture]]
method = "POST"
path = "/api/payments"
max_bytes = 2048
"#,
        )
        .expect("a valid classification section loads");
        assert_eq!(config.classification.custom.len(), 1);
        assert_eq!(config.classification.disabled, vec!["ip_address"]);
        assert_eq!(config.body_capture[0].max_bytes, 2048);
    }

    #[test]
    fn bad_classification_pattern_named() {
        let error = load_file(
            "bad-regex",
            r#"
[[classification.custom]]
name = "ticket"
sensitivity = "low"
regex = "TICKET-(["
"#,
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("classification.custom[0].regex"),
            "message names the key: {message}"
        );
    }

    #[test]
    fn body_capture_cap_checked() {
        let error = load_file(
            "body-cap",
            "[[body_capture]]\npath = \"/api/x\"\nmax_bytes = 1000000\n",
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("body_capture[0].max_bytes = 1000000"),
            "message names the value: {message}"
        );
    }

    #[test]
    fn unknown_file_key_rejected() {
        let dir = std::env::temp_dir().join(format!("ztapi-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ztapid.toml");
        std::fs::write(&file, "max_cal_bytes = 1024\n").unwrap();

        let error = Config::load(&args(&["--config", file.to_str().unwrap()])).unwrap_err();
        assert!(
            error.to_string().contains("max_cal_bytes"),
            "message names the key: {error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
