//! Throughput of the sensitive-data classifier on JSON API bodies, against
//! a naive baseline that runs one regex per data type over each whole body.
//!
//! The corpus is about 2 MB of generated response bodies (orders with
//! customers and addresses, user lists, log batches, product catalogues),
//! with the usual personal data of such APIs and a few secrets sprinkled
//! in. It is built from a fixed seed, so every run measures the same bytes.
//!
//! Run with `cargo bench -p ztapi --bench classify -- --warm-up-time 1
//! --measurement-time 5`. Criterion reports the throughput of both in MiB/s
//! (2^20 bytes per second), on one core.
//!
//! Last measured with that command, release profile, on a 2-core x86_64 VM
//! shared with other builds, so compare the two figures of one run rather
//! than runs with each other. Two runs gave the classifier 455-460 MiB/s
//! and the baseline 48.6 MiB/s, 9.4-9.5 times the baseline within a run.
//! The per-core aim is 500 MB/s (477 MiB/s) and 10 times the baseline,
//! which this does not reach yet.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use regex::bytes::Regex;
use serde_json::{json, Value};
use ztapi::classify::{Classifier, ClassifierConfig, Fingerprinter, ScanInput};

/// Approximate corpus size in bytes.
const CORPUS_BYTES: usize = 2 * 1024 * 1024;

/// SplitMix64, enough to vary generated test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn hex(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }

    fn alphanumeric(&mut self, count: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..count)
            .map(|_| char::from(ALPHABET[self.below(ALPHABET.len() as u64) as usize]))
            .collect()
    }

    fn timestamp(&mut self) -> String {
        format!(
            "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            1 + self.below(12),
            1 + self.below(28),
            self.below(24),
            self.below(60),
            self.below(60),
            self.below(1000)
        )
    }
}

const FIRST_NAMES: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
];
const PRODUCTS: &[&str] = &[
    "Widget",
    "Gadget Pro",
    "Sprocket",
    "Cable 2m",
    "Adapter",
    "Charger 65W",
    "Sleeve 13in",
];
const SERVICES: &[&str] = &["orders", "billing", "catalog", "users", "search", "gateway"];
const MESSAGES: &[&str] = &[
    "request completed",
    "cache miss for key",
    "retrying upstream call after timeout",
    "user session refreshed",
    "inventory reservation released",
    "payment authorised by processor",
];

fn customer(rng: &mut Rng) -> Value {
    let first = rng.pick(FIRST_NAMES);
    let last = rng.pick(LAST_NAMES);
    json!({
        "id": format!("cus_{}", rng.alphanumeric(14)),
        "email": format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), rng.below(1000)),
        "first_name": first,
        "last_name": last,
        "phone": format!("+1 415 555 01{:02}", rng.below(100)),
        "created_at": rng.timestamp(),
        "marketing_opt_in": rng.below(2) == 0,
    })
}

fn order(rng: &mut Rng) -> Value {
    let items: Vec<Value> = (0..1 + rng.below(6))
        .map(|_| {
            json!({
                "sku": format!("SKU-{}", rng.below(100_000)),
                "name": rng.pick(PRODUCTS),
                "quantity": 1 + rng.below(4),
                "unit_price": (rng.below(20_000) as f64) / 100.0,
                "tax_rate": 0.2,
            })
        })
        .collect();

    let mut order = json!({
        "id": format!("ord_{}", rng.alphanumeric(16)),
        "object": "order",
        "created_at": rng.timestamp(),
        "updated_at": rng.timestamp(),
        "status": rng.pick(&["pending", "paid", "shipped", "delivered", "refunded"]),
        "currency": "USD",
        "total_cents": rng.below(500_000),
        "customer": customer(rng),
        "shipping_address": {
            "line1": format!("{} Example Street", 1 + rng.below(999)),
            "city": "Springfield",
            "postal_code": format!("{:05}", rng.below(100_000)),
            "country": "US",
        },
        "items": items,
        "payment": {
            "method": "card",
            "brand": rng.pick(&["visa", "mastercard", "amex"]),
            "last4": format!("{:04}", rng.below(10_000)),
            "exp_month": 1 + rng.below(12),
            "exp_year": 2026 + rng.below(5),
        },
        "metadata": {
            "channel": rng.pick(&["web", "ios", "android"]),
            "campaign": format!("spring-{}", rng.below(10)),
            "request_id": format!("{}-{}-{}-{}-{}", rng.hex(8), rng.hex(4), rng.hex(4), rng.hex(4), rng.hex(12)),
        },
    });

    // One order in twenty carries a full card number in a free-text note.
    if rng.below(20) == 0 {
        order["notes"] = json!("customer asked to charge 4111 1111 1111 1111 again");
    }
    order
}

fn orders_page(rng: &mut Rng) -> Value {
    let orders: Vec<Value> = (0..2 + rng.below(8)).map(|_| order(rng)).collect();
    json!({"object": "list", "has_more": true, "data": orders, "next_cursor": rng.alphanumeric(24)})
}

fn users_page(rng: &mut Rng) -> Value {
    let users: Vec<Value> = (0..5 + rng.below(20))
        .map(|_| {
            json!({
                "id": rng.below(10_000_000),
                "username": format!("{}{}", rng.pick(FIRST_NAMES).to_lowercase(), rng.below(1000)),
                "display_name": rng.pick(FIRST_NAMES),
                "role": rng.pick(&["member", "admin", "viewer"]),
                "created_at": rng.timestamp(),
                "last_login_ip": format!("198.51.100.{}", 1 + rng.below(254)),
                "settings": {"theme": "dark", "notifications": true, "locale": "en-US", "timezone": "Europe/Berlin"},
                "avatar_url": format!("https://cdn.example.com/avatars/{}.png", rng.hex(16)),
            })
        })
        .collect();
    json!({"users": users, "total": users.len(), "page": 1})
}

fn log_batch(rng: &mut Rng) -> Value {
    let entries: Vec<Value> = (0..10 + rng.below(30))
        .map(|_| {
            let mut entry = json!({
                "timestamp": rng.timestamp(),
                "level": rng.pick(&["debug", "info", "info", "warn", "error"]),
                "service": rng.pick(SERVICES),
                "message": rng.pick(MESSAGES),
                "trace_id": rng.hex(32),
                "span_id": rng.hex(16),
                "http": {
                    "method": rng.pick(&["GET", "POST", "PUT"]),
                    "path": format!("/v1/orders/{}", rng.below(1_000_000)),
                    "status": 200 + 100 * rng.below(4),
                    "duration_ms": (rng.below(50_000) as f64) / 100.0,
                    "bytes": rng.below(100_000),
                },
                "version": format!("1.{}.{}", rng.below(20), rng.below(100)),
            });
            // A leaked key in one log line in a hundred.
            if rng.below(100) == 0 {
                entry["message"] = json!(format!(
                    "config loaded with key {}{}",
                    "AKIA",
                    rng.alphanumeric(16).to_uppercase()
                ));
            }
            entry
        })
        .collect();
    json!({"logs": entries})
}

fn catalog_page(rng: &mut Rng) -> Value {
    let products: Vec<Value> = (0..3 + rng.below(10))
        .map(|_| {
            json!({
                "id": rng.below(1_000_000),
                "name": rng.pick(PRODUCTS),
                "description": "A durable, lightweight accessory made from recycled aluminium. Fits devices released since 2019 and ships with a two-year warranty.",
                "price": {"amount": rng.below(100_000), "currency": "EUR"},
                "tags": ["accessory", "travel", rng.pick(&["new", "sale", "popular"])],
                "dimensions": {"width_mm": rng.below(500), "height_mm": rng.below(500), "weight_g": rng.below(5000)},
                "released": format!("20{:02}-{:02}-{:02}", 15 + rng.below(10), 1 + rng.below(12), 1 + rng.below(28)),
            })
        })
        .collect();
    json!({"products": products})
}

/// Generates response bodies until they add up to [`CORPUS_BYTES`].
fn corpus() -> Vec<Vec<u8>> {
    let mut rng = Rng(0x00c0_ffee_5eed);
    let mut bodies = Vec::new();
    let mut total = 0;
    while total < CORPUS_BYTES {
        let body = match rng.below(4) {
            0 => orders_page(&mut rng),
            1 => users_page(&mut rng),
            2 => log_batch(&mut rng),
            _ => catalog_page(&mut rng),
        };
        let bytes = serde_json::to_vec(&body).expect("generated JSON serialises");
        total += bytes.len();
        bodies.push(bytes);
    }
    bodies
}

/// One regex per data type, as a classifier without structure or
/// prefilters would run them. Word boundaries are ASCII so the regex crate
/// can use its DFA.
fn baseline_regexes() -> Vec<Regex> {
    [
        r"(?-u:\b)(?:\d[ -]?){12,18}\d(?-u:\b)",
        r"(?-u:\b)[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?-u:\b)",
        r"(?-u:\b)\d{3}-\d{2}-\d{4}(?-u:\b)",
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
        r"(?:\+\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}",
        r#""(?:dob|date_of_birth|birth_?date)"\s*:\s*"[^"]+""#,
        r#""(?:address|street|line1|zip|postcode|postal_code)"\s*:\s*"[^"]+""#,
        r#""(?:first_name|last_name|full_name|name)"\s*:\s*"[^"]+""#,
        r#""(?:passport|national_id|tax_id)[a-z_]*"\s*:\s*"[^"]+""#,
        r"(?-u:\b)(?:\d{1,3}\.){3}\d{1,3}(?-u:\b)",
        r"(?i)(?-u:\b)(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{1,4}(?-u:\b)",
        r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
        r"(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36}|xox[bpas]-[A-Za-z0-9-]{10,}|[sr]k_live_[A-Za-z0-9]{16,}|AIza[A-Za-z0-9_-]{35}",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r#""(?:password|passwd|pwd|pass)"\s*:\s*"[^"]*""#,
        r#""(?:diagnosis|icd[0-9_]*|condition)"\s*:\s*"[A-TV-Z]\d[0-9AB](?:\.[0-9A-Z]{1,4})?""#,
    ]
    .iter()
    .map(|pattern| Regex::new(pattern).expect("valid baseline regex"))
    .collect()
}

fn naive_scan(regexes: &[Regex], body: &[u8]) -> usize {
    regexes
        .iter()
        .map(|regex| regex.find_iter(body).count())
        .sum()
}

fn classify_benchmark(criterion: &mut Criterion) {
    let bodies = corpus();
    let total: usize = bodies.iter().map(Vec::len).sum();
    let classifier = Classifier::new(
        &ClassifierConfig::default(),
        Fingerprinter::from_key([5; 32]),
    )
    .expect("default configuration");
    let regexes = baseline_regexes();

    let findings: usize = bodies
        .iter()
        .map(|body| {
            classifier
                .scan(&ScanInput {
                    response_content_type: Some("application/json"),
                    response_body: body,
                    ..ScanInput::default()
                })
                .findings
                .len()
        })
        .sum();
    eprintln!(
        "corpus: {} bodies, {total} bytes, {findings} findings",
        bodies.len()
    );

    let mut group = criterion.benchmark_group("classify");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("classifier", |bencher| {
        bencher.iter(|| {
            for body in &bodies {
                let result = classifier.scan(&ScanInput {
                    response_content_type: Some("application/json"),
                    response_body: black_box(body),
                    ..ScanInput::default()
                });
                black_box(result);
            }
        })
    });
    group.bench_function("regex_per_type_baseline", |bencher| {
        bencher.iter(|| {
            for body in &bodies {
                black_box(naive_scan(&regexes, black_box(body)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, classify_benchmark);
criterion_main!(benches);
