//! Accuracy of the sensitive-data classifier on a labelled suite.
//!
//! Every built-in data type has at least 20 positive samples (values the
//! classifier must report as that type) and 20 negative samples (look-alikes
//! it must not report as anything): order ids of card length that fail
//! Luhn, Unix timestamps and epoch milliseconds, UUIDs under secret-like
//! names, version strings, ISO dates that are not birth dates, commit hashes
//! under names without "token" or "secret", and so on. Values are
//! generated from a fixed seed (valid cards from issuer prefixes with a
//! computed Luhn digit, IBANs with computed check digits) or are well-known
//! test values; none belongs to a real person.
//!
//! Each sample is scanned alone. A type reported for a positive sample of
//! that type is a true positive, a type reported anywhere else is a false
//! positive of that type, and a positive sample missing its type is a false
//! negative. The test prints precision and recall per type
//! (`cargo test --test classification_accuracy -- --nocapture`) and fails
//! when any type is below [`MIN_PRECISION`] or [`MIN_RECALL`].

use std::collections::{BTreeMap, BTreeSet};

use ztapi::classify::{Classifier, ClassifierConfig, Fingerprinter, ScanInput};

/// Minimum precision per type: at most 1 report in 20 may be wrong.
const MIN_PRECISION: f64 = 0.95;
/// Minimum recall per type: at most 1 value in 10 may be missed.
const MIN_RECALL: f64 = 0.90;
/// Minimum number of positive and of negative samples per type.
const MIN_SAMPLES: usize = 20;
/// Seed of the sample generator, fixed so every run scans the same suite.
const SEED: u64 = 0x5eed_c1a5_51f1_e500;

/// SplitMix64, a small generator that is enough for test data.
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

    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    fn chars(&mut self, alphabet: &[u8], count: usize) -> String {
        (0..count)
            .map(|_| char::from(*self.pick(alphabet)))
            .collect()
    }
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8] = b"0123456789abcdef";

/// Where a sample's value sits in a transaction.
enum Input {
    /// A JSON request body.
    Json(String),
    /// A plain-text request body.
    Text(String),
    /// A form request body.
    Form(String),
    /// One request header.
    Header(&'static str, String),
    /// A query string.
    Query(String),
}

struct Sample {
    /// The type the sample was written for.
    target: &'static str,
    /// Types the classifier must report; empty for a negative sample.
    expected: &'static [&'static str],
    input: Input,
}

fn positive(target: &'static str, input: Input) -> Sample {
    Sample {
        target,
        expected: type_list(target),
        input,
    }
}

fn negative(target: &'static str, input: Input) -> Sample {
    Sample {
        target,
        expected: &[],
        input,
    }
}

/// The built-in types with their names as `'static` slices.
const TYPES: [&str; 16] = [
    "card_number",
    "iban",
    "us_ssn",
    "email",
    "phone_number",
    "date_of_birth",
    "postal_address",
    "person_name",
    "national_id",
    "ip_address",
    "jwt",
    "api_key",
    "private_key",
    "password",
    "health_data",
    "credentials",
];

fn type_list(name: &str) -> &'static [&'static str] {
    let index = TYPES
        .iter()
        .position(|known| *known == name)
        .expect("known type");
    std::slice::from_ref(&TYPES[index])
}

fn json_field(key: &str, value_json: &str) -> Input {
    Input::Json(format!(
        "{{\"id\": 17, \"status\": \"active\", \"{key}\": {value_json}}}"
    ))
}

fn quoted(value: &str) -> String {
    format!("\"{value}\"")
}

// ---------------------------------------------------------------------
// Generators of valid values.

fn luhn_check_digit(payload: &str) -> char {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            let mut value = u32::from(digit - b'0');
            if position % 2 == 0 {
                value *= 2;
                if value > 9 {
                    value -= 9;
                }
            }
            value
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn luhn_valid(number: &str) -> bool {
    let (payload, check) = number.split_at(number.len() - 1);
    check.starts_with(luhn_check_digit(payload))
}

/// A card number from a real issuer range with a valid Luhn digit.
fn card(rng: &mut Rng) -> String {
    let issuers: [(&str, usize); 10] = [
        ("4", 16),
        ("4", 13),
        ("51", 16),
        ("55", 16),
        ("2221", 16),
        ("34", 15),
        ("37", 15),
        ("6011", 16),
        ("3530", 16),
        ("36", 14),
    ];
    let (prefix, length) = *rng.pick(&issuers);
    let mut payload = prefix.to_string();
    payload.push_str(&rng.digits(length - prefix.len() - 1));
    let check = luhn_check_digit(&payload);
    payload.push(check);
    payload
}

fn group(number: &str, size: usize, separator: &str) -> String {
    number
        .as_bytes()
        .chunks(size)
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(separator)
}

/// An IBAN with computed ISO 7064 check digits, for a country whose BBAN
/// here is letters followed by digits.
fn iban(rng: &mut Rng) -> String {
    let countries: [(&str, usize, usize); 6] = [
        ("DE", 0, 18),
        ("GB", 4, 14),
        ("NL", 4, 10),
        ("ES", 0, 20),
        ("BE", 0, 12),
        ("AT", 0, 16),
    ];
    let (country, letters, digits) = *rng.pick(&countries);
    let bban = format!(
        "{}{}",
        rng.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", letters),
        rng.digits(digits)
    );
    let check = 98 - mod97(&format!("{bban}{country}00"));
    format!("{country}{check:02}{bban}")
}

/// Returns `code` with its last digit changed if it happens to pass the
/// IBAN checksum, so a negative sample is never a valid IBAN by chance.
fn failing_checksum(mut code: String) -> String {
    let rearranged = format!("{}{}", &code[4..], &code[..4]);
    if mod97(&rearranged) == 1 {
        let last = code.pop().unwrap_or('0');
        code.push(if last == '9' {
            '0'
        } else {
            char::from(last as u8 + 1)
        });
    }
    code
}

fn mod97(text: &str) -> u32 {
    text.bytes().fold(0, |remainder, byte| {
        if byte.is_ascii_digit() {
            (remainder * 10 + u32::from(byte - b'0')) % 97
        } else {
            (remainder * 100 + u32::from(byte - b'A' + 10)) % 97
        }
    })
}

fn ssn(rng: &mut Rng) -> (u64, u64, u64) {
    let mut area = rng.range(1, 899);
    if area == 666 {
        area = 665;
    }
    (area, rng.range(1, 99), rng.range(1, 9999))
}

fn base64url_json(json: &str) -> String {
    let bytes = json.as_bytes();
    let mut output = String::new();
    for chunk in bytes.chunks(3) {
        let buffer = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        let sextets = chunk.len() + 1;
        for index in 0..sextets {
            let value = (buffer >> (18 - 6 * index)) & 63;
            output.push(char::from(BASE64URL[value as usize]));
        }
    }
    output
}

fn jwt(rng: &mut Rng) -> String {
    let header = base64url_json(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = base64url_json(&format!(
        r#"{{"sub":"{}","iat":{}}}"#,
        rng.digits(8),
        rng.range(1_600_000_000, 1_800_000_000)
    ));
    let signature = rng.chars(BASE64URL, 43);
    format!("{header}.{payload}.{signature}")
}

fn uuid(rng: &mut Rng) -> String {
    format!(
        "{}-{}-4{}-a{}-{}",
        rng.chars(HEX, 8),
        rng.chars(HEX, 4),
        rng.chars(HEX, 3),
        rng.chars(HEX, 3),
        rng.chars(HEX, 12)
    )
}

const FIRST_NAMES: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim",
    "Margaret", "Niklaus",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "O'Neil",
    "Wirth",
];
const STREETS: &[&str] = &[
    "Example Street",
    "Sample Avenue",
    "Test Road",
    "Fictional Lane",
    "Placeholder Way",
];

// ---------------------------------------------------------------------
// Samples per type.

fn card_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..30 {
        let number = card(rng);
        let input = match index % 5 {
            0 => json_field("card_number", &quoted(&number)),
            1 => json_field(
                "payment",
                &format!("{{\"card\": {{\"number\": {number}}}}}"),
            ),
            2 => Input::Text(format!(
                "charged card {} for the order",
                group(&number, 4, " ")
            )),
            3 => json_field("pan", &quoted(&group(&number, 4, "-"))),
            _ => Input::Form(format!("amount=12.50&cc={number}")),
        };
        samples.push(positive("card_number", input));
    }

    for index in 0..30 {
        // Card-length numbers that fail Luhn, Luhn-valid ids outside issuer
        // ranges, and Luhn-valid card-shaped ids under identifier names.
        let input = match index % 6 {
            0 => {
                let mut number = card(rng);
                let last = number.pop().unwrap_or('0');
                number.push(if last == '9' {
                    '0'
                } else {
                    char::from(last as u8 + 1)
                });
                assert!(!luhn_valid(&number), "fixture must fail Luhn");
                json_field("reference", &quoted(&number))
            }
            1 => {
                let mut payload = format!("9{}", rng.digits(14));
                let check = luhn_check_digit(&payload);
                payload.push(check);
                json_field("shipment", &quoted(&payload))
            }
            2 => json_field("order_id", &card(rng)),
            3 => json_field(
                "created_ms",
                &rng.range(1_500_000_000_000, 1_800_000_000_000).to_string(),
            ),
            4 => Input::Text(format!("trace {} finished", rng.digits(19))),
            _ => json_field("transaction_id", &quoted(&card(rng))),
        };
        samples.push(negative("card_number", input));
    }
}

fn iban_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..25 {
        let number = iban(rng);
        let input = match index % 3 {
            0 => json_field("iban", &quoted(&number)),
            1 => Input::Text(format!(
                "please transfer to {} today",
                group(&number, 4, " ")
            )),
            _ => json_field("payout", &format!("{{\"account\": \"{number}\"}}")),
        };
        samples.push(positive("iban", input));
    }
    for index in 0..25 {
        let valid = iban(rng);
        let input = match index % 4 {
            0 => {
                // Check digits changed.
                let changed = format!(
                    "{}{:02}{}",
                    &valid[..2],
                    (valid[2..4].parse::<u32>().unwrap_or(0) + 1) % 97 + 2,
                    &valid[4..]
                );
                json_field("iban", &quoted(&changed))
            }
            // IBAN-shaped codes whose check digits do not verify.
            1 => json_field(
                "sku",
                &quoted(&failing_checksum(format!("DE{}", rng.digits(20)))),
            ),
            2 => Input::Text(format!("batch GB00ABCD{} done", rng.digits(14))),
            _ => json_field(
                "product_code",
                &quoted(&failing_checksum(format!(
                    "{}{}",
                    rng.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2),
                    rng.digits(16)
                ))),
            ),
        };
        samples.push(negative("iban", input));
    }
}

fn ssn_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..25 {
        let (area, group, serial) = ssn(rng);
        let dashed = format!("{area:03}-{group:02}-{serial:04}");
        let input = match index % 4 {
            0 => Input::Text(format!("applicant SSN {dashed} verified")),
            1 => json_field("ssn", &quoted(&format!("{area:03}{group:02}{serial:04}"))),
            2 => json_field(
                "customer",
                &format!("{{\"social_security_number\": \"{dashed}\"}}"),
            ),
            _ => Input::Form(format!("ssn={area:03}{group:02}{serial:04}&plan=basic")),
        };
        samples.push(positive("us_ssn", input));
    }
    for index in 0..25 {
        let (_, group, serial) = ssn(rng);
        let input = match index % 5 {
            0 => Input::Text(format!("id 666-{group:02}-{serial:04}")),
            1 => Input::Text(format!("id {}-{group:02}-{serial:04}", rng.range(900, 999))),
            2 => json_field("order_number", &quoted(&rng.digits(9))),
            3 => json_field("ssn", &quoted(&format!("000{group:02}{serial:04}"))),
            _ => json_field(
                "zip",
                &quoted(&format!("{}-{}", rng.digits(5), rng.digits(4))),
            ),
        };
        samples.push(negative("us_ssn", input));
    }
}

fn email_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    let domains = [
        "example.com",
        "example.org",
        "example.net",
        "mail.example.co.uk",
        "test.example",
    ];
    for index in 0..25 {
        let first = rng.pick(FIRST_NAMES).to_lowercase();
        let last = rng.pick(LAST_NAMES).to_lowercase().replace('\'', "");
        let address = format!("{first}.{last}{}@{}", rng.below(100), rng.pick(&domains));
        let input = match index % 4 {
            0 => json_field("email", &quoted(&address)),
            1 => Input::Text(format!("send the receipt to {address}.")),
            2 => Input::Header("X-Contact", address),
            _ => json_field("recipients", &format!("[\"{address}\"]")),
        };
        samples.push(positive("email", input));
    }
    for index in 0..25 {
        let input = match index % 5 {
            0 => json_field("image", &quoted(&format!("icon-{}@2x.png", rng.below(50)))),
            1 => json_field(
                "dependency",
                &quoted(&format!("lodash@4.17.{}", rng.below(30))),
            ),
            2 => Input::Text(format!("mention @user{} in the channel", rng.below(1000))),
            3 => json_field("git_remote", &quoted("git@localhost")),
            _ => json_field(
                "handle",
                &quoted(&format!("{}@{}", rng.pick(FIRST_NAMES), rng.digits(3))),
            ),
        };
        samples.push(negative("email", input));
    }
}

fn phone_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..30 {
        // 555-0100 to 555-0199 is reserved for fiction in the NANP, and
        // 020 7946 0xxx is Ofcom's drama range.
        let nanp_line = format!("01{}", rng.digits(2));
        let area = rng.range(201, 989);
        let input = match index % 6 {
            0 => Input::Text(format!("call me at +1 {area} 555 {nanp_line}")),
            1 => Input::Text(format!("office ({area}) 555-{nanp_line}")),
            2 => json_field("phone", &quoted(&format!("{area}555{nanp_line}"))),
            3 => json_field(
                "contact",
                &format!("{{\"mobile\": \"+44 20 7946 0{}\"}}", rng.digits(3)),
            ),
            4 => Input::Text(format!("fax 020 7946 0{}", rng.digits(3))),
            _ => json_field("msisdn", &format!("1{area}555{nanp_line}")),
        };
        samples.push(positive("phone_number", input));
    }
    for index in 0..30 {
        let input = match index % 6 {
            0 => json_field(
                "timestamp",
                &rng.range(1_500_000_000, 1_800_000_000).to_string(),
            ),
            1 => Input::Text(format!(
                "at {} the job ran",
                rng.range(1_500_000_000_000, 1_800_000_000_000)
            )),
            2 => json_field(
                "version",
                &quoted(&format!(
                    "{}.{}.{}",
                    rng.below(20),
                    rng.below(30),
                    rng.below(300)
                )),
            ),
            3 => json_field(
                "date",
                &quoted(&format!(
                    "20{:02}-{:02}-{:02}",
                    rng.range(10, 30),
                    rng.range(1, 12),
                    rng.range(1, 28)
                )),
            ),
            4 => Input::Text(format!("request {} took 12 ms", rng.digits(10))),
            _ => json_field(
                "build",
                &quoted(&format!(
                    "10.0.{}.{}",
                    rng.range(10000, 22000),
                    rng.range(1, 4000)
                )),
            ),
        };
        samples.push(negative("phone_number", input));
    }
}

fn birth_date_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..25 {
        let (year, month, day) = (rng.range(1930, 2010), rng.range(1, 12), rng.range(1, 28));
        let input = match index % 5 {
            0 => json_field("dob", &quoted(&format!("{year}-{month:02}-{day:02}"))),
            1 => json_field(
                "date_of_birth",
                &quoted(&format!("{month:02}/{day:02}/{year}")),
            ),
            2 => json_field(
                "patient",
                &format!("{{\"birthDate\": \"{year}-{month:02}-{day:02}\"}}"),
            ),
            3 => json_field("birthday", &quoted(&format!("{day:02}.{month:02}.{year}"))),
            _ => Input::Form(format!("birth_date={year}-{month:02}-{day:02}")),
        };
        samples.push(positive("date_of_birth", input));
    }
    for index in 0..25 {
        let date = format!(
            "{}-{:02}-{:02}",
            rng.range(1990, 2030),
            rng.range(1, 12),
            rng.range(1, 28)
        );
        let input = match index % 5 {
            0 => json_field("created_at", &quoted(&date)),
            1 => json_field("order_date", &quoted(&date)),
            2 => Input::Text(format!("released on {date}")),
            3 => json_field("expires", &quoted(&format!("{date}T00:00:00Z"))),
            _ => json_field("dob", &quoted("not provided")),
        };
        samples.push(negative("date_of_birth", input));
    }
}

fn postal_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..25 {
        let street = format!("{} {}", rng.range(1, 999), rng.pick(STREETS));
        let zip = rng.digits(5);
        let input = match index % 5 {
            0 => json_field("address", &quoted(&format!("{street}, Springfield"))),
            1 => json_field(
                "shipping_address",
                &format!("{{\"line1\": \"{street}\", \"zip\": \"{zip}\"}}"),
            ),
            2 => json_field("billing", &format!("{{\"postal_code\": \"{zip}\"}}")),
            3 => json_field("street", &quoted(&street)),
            _ => Input::Form(format!("address_line_1={}", street.replace(' ', "+"))),
        };
        samples.push(positive("postal_address", input));
    }
    for index in 0..25 {
        let input = match index % 5 {
            0 => json_field("zip", &quoted(&rng.digits(5))),
            1 => json_field("address_type", &quoted("home")),
            2 => json_field(
                "server_address",
                &quoted(&format!("db-{}.internal", rng.below(9))),
            ),
            3 => json_field(
                "mac_address",
                &quoted(&format!(
                    "00:1a:2b:{}:{}:{}",
                    rng.chars(HEX, 2),
                    rng.chars(HEX, 2),
                    rng.chars(HEX, 2)
                )),
            ),
            _ => json_field("address_id", &quoted(&format!("addr_{}", rng.digits(6)))),
        };
        samples.push(negative("postal_address", input));
    }
}

fn person_name_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..25 {
        let first = *rng.pick(FIRST_NAMES);
        let last = *rng.pick(LAST_NAMES);
        let input = match index % 5 {
            0 => json_field("first_name", &quoted(first)),
            1 => json_field("customer", &format!("{{\"name\": \"{first} {last}\"}}")),
            2 => json_field(
                "patients",
                &format!("[{{\"full_name\": \"{first} {last}\"}}]"),
            ),
            3 => json_field("lastName", &quoted(last)),
            _ => Input::Form(format!("user%5Bname%5D={first}+{last}")),
        };
        samples.push(positive("person_name", input));
    }
    let products = ["Widget Pro", "Gadget", "Sprocket Deluxe", "Cable 2m"];
    for index in 0..25 {
        let input = match index % 5 {
            0 => json_field(
                "product",
                &format!("{{\"name\": \"{}\"}}", rng.pick(&products)),
            ),
            1 => json_field("name", &quoted("orders-service")),
            2 => json_field("company_name", &quoted("Acme Corporation")),
            3 => json_field(
                "user_name",
                &quoted(&format!(
                    "{}{}",
                    rng.pick(FIRST_NAMES).to_lowercase(),
                    rng.below(100)
                )),
            ),
            _ => json_field("file_name", &quoted("report.pdf")),
        };
        samples.push(negative("person_name", input));
    }
}

fn national_id_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..25 {
        let input = match index % 5 {
            0 => json_field("passport_number", &quoted(&format!("X{}", rng.digits(8)))),
            1 => json_field(
                "tax_id",
                &quoted(&format!("{}-{}", rng.digits(2), rng.digits(7))),
            ),
            2 => json_field(
                "national_id",
                &quoted(&format!(
                    "{}{}C",
                    rng.chars(b"ABCEGHJKLMNPRSTWXYZ", 2),
                    rng.digits(6)
                )),
            ),
            3 => json_field(
                "driver",
                &format!("{{\"drivers_license\": \"D{}\"}}", rng.digits(7)),
            ),
            _ => Input::Form(format!(
                "passport={}",
                rng.chars(UPPER_DIGITS, 9)
                    .replace(|c: char| c.is_ascii_alphabetic(), "7")
            )),
        };
        samples.push(positive("national_id", input));
    }
    for index in 0..25 {
        let input = match index % 5 {
            0 => json_field("passport_country", &quoted("DE")),
            1 => json_field(
                "passport_expiry",
                &quoted(&format!(
                    "20{}-0{}-1{}",
                    rng.range(26, 39),
                    rng.range(1, 9),
                    rng.below(9)
                )),
            ),
            2 => json_field("tax_rate", &format!("0.{}", rng.digits(2))),
            3 => json_field(
                "tax_amount",
                &format!("{}.{}", rng.range(1, 500), rng.digits(2)),
            ),
            _ => json_field("license_type", &quoted("commercial")),
        };
        samples.push(negative("national_id", input));
    }
}

fn ip_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..25 {
        // Documentation ranges: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24
        // and 2001:db8::/32.
        let prefix = rng.pick(&["192.0.2", "198.51.100", "203.0.113"]);
        let v4 = format!("{prefix}.{}", rng.range(1, 254));
        let v6 = format!(
            "2001:db8:{:x}::{:x}",
            rng.below(0xffff),
            rng.range(1, 0xffff)
        );
        let input = match index % 5 {
            0 => json_field("client_ip", &quoted(&v4)),
            1 => Input::Text(format!("connection from {v4} refused")),
            2 => Input::Header("X-Forwarded-For", format!("{v4}, 203.0.113.7")),
            3 => json_field("remote_addr", &quoted(&v6)),
            _ => Input::Text(format!("peer [{v6}]:443 closed")),
        };
        samples.push(positive("ip_address", input));
    }
    for index in 0..25 {
        let input = match index % 5 {
            0 => json_field(
                "version",
                &quoted(&format!(
                    "{}.{}.{}",
                    rng.below(10),
                    rng.below(30),
                    rng.below(100)
                )),
            ),
            1 => Input::Text(format!(
                "started at {:02}:{:02}:{:02}",
                rng.below(24),
                rng.below(60),
                rng.below(60)
            )),
            2 => json_field(
                "mac",
                &quoted(&format!(
                    "{}:{}:{}:{}:{}:{}",
                    rng.chars(HEX, 2),
                    rng.chars(HEX, 2),
                    rng.chars(HEX, 2),
                    rng.chars(HEX, 2),
                    rng.chars(HEX, 2),
                    rng.chars(HEX, 2)
                )),
            ),
            3 => json_field(
                "app_version",
                &quoted(&format!(
                    "{}.{}.{}.{}",
                    rng.below(5),
                    rng.below(20),
                    rng.below(20),
                    rng.below(200)
                )),
            ),
            _ => Input::Text(format!("ratio 3.{} and pi 3.14159", rng.digits(3))),
        };
        samples.push(negative("ip_address", input));
    }
}

fn jwt_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..25 {
        let token = jwt(rng);
        let input = match index % 4 {
            0 => json_field("id_token", &quoted(&token)),
            1 => Input::Header("Authorization", format!("Bearer {token}")),
            2 => Input::Text(format!("session established, token={token}")),
            _ => json_field("data", &format!("{{\"jwt\": \"{token}\"}}")),
        };
        samples.push(positive("jwt", input));
    }
    for index in 0..25 {
        let input = match index % 4 {
            0 => json_field(
                "payload",
                &quoted(&format!("eyJ{}", rng.chars(BASE64URL, 40))),
            ),
            1 => json_field(
                "data",
                &quoted(&format!(
                    "{}.{}",
                    base64url_json(r#"{"alg":"HS256"}"#),
                    rng.chars(BASE64URL, 20)
                )),
            ),
            2 => json_field("thumbnail", &quoted(&rng.chars(BASE64URL, 60))),
            _ => Input::Text(format!(
                "file eyJ{}.json uploaded",
                rng.chars(ALPHANUMERIC, 8)
            )),
        };
        samples.push(negative("jwt", input));
    }
}

fn api_key_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..30 {
        // Prefixes are assembled at run time so secret scanners do not flag
        // this file.
        let input = match index % 6 {
            0 => Input::Text(format!(
                "aws key {}{} in config",
                "AKIA",
                rng.chars(UPPER_DIGITS, 16)
            )),
            1 => json_field(
                "github",
                &quoted(&format!("{}_{}", "ghp", rng.chars(ALPHANUMERIC, 36))),
            ),
            2 => Input::Text(format!(
                "SLACK={}-{}-{}",
                "xoxb",
                rng.digits(12),
                rng.chars(ALPHANUMERIC, 24)
            )),
            3 => json_field(
                "stripe",
                &quoted(&format!(
                    "{}_{}_{}",
                    "sk",
                    "live",
                    rng.chars(ALPHANUMERIC, 24)
                )),
            ),
            4 => json_field("client_secret", &quoted(&rng.chars(ALPHANUMERIC, 32))),
            _ => json_field("api_key", &quoted(&rng.chars(HEX, 40))),
        };
        samples.push(positive("api_key", input));
    }
    for index in 0..30 {
        let input = match index % 6 {
            0 => json_field("api_key", &quoted(&uuid(rng))),
            1 => json_field("commit", &quoted(&rng.chars(HEX, 40))),
            2 => json_field("token_type", &quoted("Bearer")),
            3 => json_field("revision", &quoted(&rng.chars(HEX, 40))),
            4 => json_field("secret_name", &quoted("database-password")),
            _ => json_field("request_id", &quoted(&uuid(rng))),
        };
        samples.push(negative("api_key", input));
    }
}

fn private_key_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    let labels = [
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ];
    for index in 0..25 {
        let label = rng.pick(&labels);
        let body = format!(
            "{}\n{}",
            rng.chars(ALPHANUMERIC, 64),
            rng.chars(ALPHANUMERIC, 40)
        );
        let pem = format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n");
        let input = match index % 2 {
            0 => Input::Text(pem),
            _ => json_field("key", &quoted(&pem.replace('\n', "\\n"))),
        };
        samples.push(positive("private_key", input));
    }
    let labels = [
        "CERTIFICATE",
        "PUBLIC KEY",
        "CERTIFICATE REQUEST",
        "RSA PUBLIC KEY",
    ];
    for index in 0..25 {
        let label = rng.pick(&labels);
        let pem = format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            rng.chars(ALPHANUMERIC, 64)
        );
        let input = match index % 2 {
            0 => Input::Text(pem),
            _ => Input::Text(format!(
                "the private key must begin with -----BEGIN and end with {}",
                rng.digits(2)
            )),
        };
        samples.push(negative("private_key", input));
    }
}

fn password_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..25 {
        let secret = format!(
            "{}{}!",
            rng.pick(LAST_NAMES).replace('\'', ""),
            rng.digits(4)
        );
        let input = match index % 5 {
            0 => json_field("password", &quoted(&secret)),
            1 => Input::Form(format!("username=ada&password={secret}")),
            2 => json_field(
                "credentials",
                &format!("{{\"user\": \"ada\", \"pwd\": \"{secret}\"}}"),
            ),
            3 => json_field("newPassword", &quoted(&secret)),
            _ => Input::Text(format!("login user=ada passwd={secret}")),
        };
        samples.push(positive("password", input));
    }
    for index in 0..25 {
        let input = match index % 5 {
            0 => json_field("password", &quoted("")),
            1 => json_field("password", &quoted("********")),
            2 => json_field("password_policy", &quoted("at least 12 characters")),
            3 => json_field("passenger_count", &rng.range(1, 9).to_string()),
            _ => json_field("password_reset_required", "true"),
        };
        samples.push(negative("password", input));
    }
}

fn health_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    let codes: [&str; 8] = [
        "E11.9", "I10", "J45.909", "M54.5", "F32.A", "K21.9", "E78.5", "N39.0",
    ];
    for index in 0..25 {
        let code = *rng.pick(&codes);
        let input = match index % 5 {
            0 => json_field("diagnosis", &quoted(code)),
            1 => json_field("conditions", &format!("[\"{code}\", \"I10\"]")),
            2 => json_field(
                "patient",
                &format!("{{\"mrn\": \"MRN-{}\"}}", rng.digits(7)),
            ),
            3 => json_field("medical_record_number", &quoted(&rng.digits(8))),
            _ => json_field("icd10_code", &quoted(code)),
        };
        samples.push(positive("health_data", input));
    }
    for index in 0..25 {
        let input = match index % 5 {
            0 => json_field(
                "condition",
                &quoted(rng.pick(&["new", "used", "refurbished"]).to_owned()),
            ),
            1 => json_field("code", &quoted(rng.pick::<&str>(&codes))),
            2 => json_field("diagnosis_count", &rng.range(0, 9).to_string()),
            3 => json_field("status_code", &quoted(&format!("A{}", rng.digits(2)))),
            _ => Input::Text(format!("error E11 in module {}", rng.below(100))),
        };
        samples.push(negative("health_data", input));
    }
}

fn credentials_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    for index in 0..25 {
        let input = match index % 5 {
            0 => Input::Header(
                "Authorization",
                format!("Basic {}", rng.chars(ALPHANUMERIC, 24)),
            ),
            1 => Input::Header(
                "Authorization",
                format!("Bearer {}", rng.chars(ALPHANUMERIC, 40)),
            ),
            2 => Input::Header(
                "Cookie",
                format!("theme=dark; session_id={}", rng.chars(ALPHANUMERIC, 32)),
            ),
            3 => Input::Header(
                "Proxy-Authorization",
                format!("Basic {}", rng.chars(ALPHANUMERIC, 20)),
            ),
            _ => Input::Header(
                "Cookie",
                format!("JSESSIONID={}", rng.chars(UPPER_DIGITS, 32)),
            ),
        };
        samples.push(positive("credentials", input));
    }
    for index in 0..25 {
        let input = match index % 5 {
            0 => Input::Header(
                "Cookie",
                format!("theme=dark; lang=en; consent={}", rng.below(2)),
            ),
            1 => Input::Header("X-Request-Id", uuid(rng)),
            2 => Input::Header("Accept", "application/json".to_string()),
            3 => Input::Header("Cookie", "session=1".to_string()),
            _ => Input::Header(
                "User-Agent",
                format!(
                    "client/{}.{}.{}",
                    rng.below(9),
                    rng.below(20),
                    rng.below(99)
                ),
            ),
        };
        samples.push(negative("credentials", input));
    }
}

/// Less regular spellings of each type: nested and camelCase names, other
/// date and phone layouts, values in URLs and query strings, and the
/// look-alikes they invite.
fn varied_samples(rng: &mut Rng, samples: &mut Vec<Sample>) {
    let jwt_value = jwt(rng);
    let positives = [
        (
            "card_number",
            Input::Text("GET /v1/cards/4111111111111111/charges".to_string()),
        ),
        (
            "card_number",
            json_field("cardNumber", &quoted("5555 5555 5555 4444")),
        ),
        (
            "card_number",
            json_field("source", "{\"card\": {\"number\": 378282246310005}}"),
        ),
        (
            "email",
            Input::Text("reply to ADA.LOVELACE@EXAMPLE.COM".to_string()),
        ),
        (
            "email",
            Input::Text("<a href=\"mailto:grace@example.org\">mail</a>".to_string()),
        ),
        (
            "email",
            Input::Query("next=%2Fhome&email=ada%40example.com".to_string()),
        ),
        (
            "phone_number",
            Input::Text("Berlin office +49 30 901820".to_string()),
        ),
        ("phone_number", Input::Text("desk 415.555.0123".to_string())),
        (
            "phone_number",
            json_field("phone_number", &quoted("+1 (415) 555-0199 ext. 12")),
        ),
        (
            "date_of_birth",
            json_field("dateOfBirth", &quoted("1985-3-7")),
        ),
        (
            "date_of_birth",
            json_field("customer", "{\"dob\": \"1985-03-07T00:00:00.000Z\"}"),
        ),
        (
            "person_name",
            json_field("name", "{\"first\": \"Ada\", \"last\": \"Lovelace\"}"),
        ),
        (
            "person_name",
            json_field("cardholder_name", &quoted("ADA LOVELACE")),
        ),
        (
            "person_name",
            json_field("customer", "{\"name\": \"José Núñez\"}"),
        ),
        (
            "postal_address",
            json_field("location", "{\"street\": \"10 Example Street\"}"),
        ),
        (
            "postal_address",
            json_field(
                "home_address",
                "{\"city\": \"Springfield\", \"postcode\": \"SW1A 1AA\"}",
            ),
        ),
        (
            "jwt",
            Input::Header("Cookie", format!("theme=dark; access_token={jwt_value}")),
        ),
        (
            "api_key",
            json_field(
                "authorization",
                &quoted(&format!("Bearer {}", rng.chars(ALPHANUMERIC, 40))),
            ),
        ),
        (
            "api_key",
            json_field(
                "AWS_SECRET_ACCESS_KEY",
                &quoted(&rng.chars(ALPHANUMERIC, 40)),
            ),
        ),
        (
            "password",
            Input::Query("user=ada&password=Lovelace1815".to_string()),
        ),
        (
            "password",
            json_field("user", "{\"password\": \"p@ss w0rd\"}"),
        ),
        ("national_id", json_field("nino", &quoted("QQ123456C"))),
        (
            "health_data",
            json_field(
                "diagnoses",
                "[{\"code\": \"E11.9\", \"display\": \"Type 2 diabetes\"}]",
            ),
        ),
        ("iban", Input::Form(format!("name=ada&iban={}", iban(rng)))),
        ("us_ssn", json_field("ssn", &quoted("123 45 6789"))),
        (
            "ip_address",
            Input::Text("listen on 203.0.113.9:8443".to_string()),
        ),
    ];
    for (target, input) in positives {
        samples.push(positive(target, input));
    }

    let negatives = [
        (
            "phone_number",
            Input::Text("serial 0123 4567 89".to_string()),
        ),
        (
            "phone_number",
            Input::Text("ISBN 978-3-16-148410-0".to_string()),
        ),
        (
            "phone_number",
            Input::Text("at 37.7749, -122.4194".to_string()),
        ),
        ("person_name", json_field("last", &quoted("never"))),
        ("person_name", json_field("user", "{\"name\": \"admin\"}")),
        (
            "person_name",
            json_field("category", "{\"name\": \"Books\"}"),
        ),
        ("email", Input::Text("user@example".to_string())),
        ("api_key", json_field("session_token", &quoted(&uuid(rng)))),
        ("api_key", json_field("token", &quoted("abc123"))),
        ("api_key", json_field("etag", &quoted(&rng.chars(HEX, 40)))),
        (
            "date_of_birth",
            json_field("dob_verified_at", &quoted("2024-01-15")),
        ),
        (
            "password",
            json_field("password_last_changed", &quoted("2024-01-01")),
        ),
        ("password", json_field("password_min_length", "12")),
        (
            "national_id",
            json_field(
                "passport_photo_url",
                &quoted("https://cdn.example.com/p/1.jpg"),
            ),
        ),
        ("ip_address", Input::Text("ratio 1.5.2 of 3".to_string())),
        ("card_number", json_field("price", "4111111111111.11")),
    ];
    for (target, input) in negatives {
        samples.push(negative(target, input));
    }
}

fn suite() -> Vec<Sample> {
    let mut rng = Rng(SEED);
    let mut samples = Vec::new();
    card_samples(&mut rng, &mut samples);
    iban_samples(&mut rng, &mut samples);
    ssn_samples(&mut rng, &mut samples);
    email_samples(&mut rng, &mut samples);
    phone_samples(&mut rng, &mut samples);
    birth_date_samples(&mut rng, &mut samples);
    postal_samples(&mut rng, &mut samples);
    person_name_samples(&mut rng, &mut samples);
    national_id_samples(&mut rng, &mut samples);
    ip_samples(&mut rng, &mut samples);
    jwt_samples(&mut rng, &mut samples);
    api_key_samples(&mut rng, &mut samples);
    private_key_samples(&mut rng, &mut samples);
    password_samples(&mut rng, &mut samples);
    health_samples(&mut rng, &mut samples);
    credentials_samples(&mut rng, &mut samples);
    varied_samples(&mut rng, &mut samples);
    samples
}

/// Returns the types the classifier reports for one sample.
fn reported_types(classifier: &Classifier, input: &Input) -> BTreeSet<String> {
    let headers: Vec<(&str, &[u8])>;
    let mut scan = ScanInput::default();
    match input {
        Input::Json(body) => {
            scan.request_content_type = Some("application/json");
            scan.request_body = body.as_bytes();
        }
        Input::Text(body) => {
            scan.request_content_type = Some("text/plain");
            scan.request_body = body.as_bytes();
        }
        Input::Form(body) => {
            scan.request_content_type = Some("application/x-www-form-urlencoded");
            scan.request_body = body.as_bytes();
        }
        Input::Header(name, value) => {
            headers = vec![(*name, value.as_bytes())];
            scan.request_headers = &headers;
        }
        Input::Query(query) => scan.query = Some(query),
    }
    classifier
        .scan(&scan)
        .findings
        .into_iter()
        .map(|finding| finding.data_type)
        .collect()
}

fn describe(input: &Input) -> String {
    match input {
        Input::Json(body) => format!("json {body}"),
        Input::Text(body) => format!("text {body:?}"),
        Input::Form(body) => format!("form {body}"),
        Input::Header(name, value) => format!("header {name}: {value}"),
        Input::Query(query) => format!("query {query}"),
    }
}

#[derive(Default)]
struct Counts {
    positives: usize,
    negatives: usize,
    true_positives: usize,
    false_positives: usize,
    false_negatives: usize,
}

impl Counts {
    fn precision(&self) -> f64 {
        let reported = self.true_positives + self.false_positives;
        if reported == 0 {
            return 1.0;
        }
        self.true_positives as f64 / reported as f64
    }

    fn recall(&self) -> f64 {
        if self.positives == 0 {
            return 1.0;
        }
        self.true_positives as f64 / self.positives as f64
    }
}

#[test]
fn classification_accuracy() {
    let classifier = Classifier::new(
        &ClassifierConfig::default(),
        Fingerprinter::from_key([3; 32]),
    )
    .expect("default configuration");
    let samples = suite();

    let mut counts: BTreeMap<&str, Counts> = TYPES
        .iter()
        .map(|name| (*name, Counts::default()))
        .collect();
    let mut errors = Vec::new();
    for sample in &samples {
        let entry = counts.entry(sample.target).or_default();
        if sample.expected.is_empty() {
            entry.negatives += 1;
        } else {
            entry.positives += 1;
        }

        let reported = reported_types(&classifier, &sample.input);
        for expected in sample.expected {
            let entry = counts.entry(expected).or_default();
            if reported.contains(*expected) {
                entry.true_positives += 1;
            } else {
                entry.false_negatives += 1;
                errors.push(format!("missed {expected}: {}", describe(&sample.input)));
            }
        }
        for name in &reported {
            if !sample.expected.contains(&name.as_str()) {
                if let Some(entry) = counts.get_mut(name.as_str()) {
                    entry.false_positives += 1;
                }
                errors.push(format!("false {name}: {}", describe(&sample.input)));
            }
        }
    }

    println!();
    println!(
        "{:<16} {:>5} {:>5} {:>5} {:>5} {:>5} {:>9} {:>7}",
        "type", "pos", "neg", "tp", "fp", "fn", "precision", "recall"
    );
    let mut failures = Vec::new();
    for (name, entry) in &counts {
        println!(
            "{:<16} {:>5} {:>5} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
            name,
            entry.positives,
            entry.negatives,
            entry.true_positives,
            entry.false_positives,
            entry.false_negatives,
            entry.precision(),
            entry.recall()
        );
        if entry.positives < MIN_SAMPLES || entry.negatives < MIN_SAMPLES {
            failures.push(format!(
                "{name}: only {} positive and {} negative samples",
                entry.positives, entry.negatives
            ));
        }
        if entry.precision() < MIN_PRECISION {
            failures.push(format!(
                "{name}: precision {:.3} below {MIN_PRECISION}",
                entry.precision()
            ));
        }
        if entry.recall() < MIN_RECALL {
            failures.push(format!(
                "{name}: recall {:.3} below {MIN_RECALL}",
                entry.recall()
            ));
        }
    }
    println!(
        "{} samples, thresholds: precision >= {MIN_PRECISION}, recall >= {MIN_RECALL}",
        samples.len()
    );
    for error in &errors {
        println!("  {error}");
    }

    assert!(
        failures.is_empty(),
        "accuracy below thresholds:\n{}",
        failures.join("\n")
    );
}
