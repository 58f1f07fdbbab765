//! Pattern detectors for one value: a JSON string or number, a form field,
//! a header value, or a whole plain-text body.
//!
//! No regex runs over the value. One pass computes which byte classes it
//! contains, and only the detectors those classes allow run: e-mail needs an
//! `@`, IPv6 two colons, numbers four digits, and the literal-prefix tokens
//! (AWS, GitHub, Slack, Stripe and Google keys, JWTs, PEM private keys) a
//! value of at least 16 bytes. The prefixes are found with one Aho-Corasick
//! automaton, and digit runs are cut out once and then checked as IPv4
//! address, SSN, card number and phone number in that order.

use std::ops::Range;

use aho_corasick::{AhoCorasick, MatchKind};

use super::config::CustomMatcher;
use super::field_names::{FieldInfo, FieldKinds};
use super::registry::{builtin, TypeId};
use super::validators;

mod numbers;
mod shape;

use numbers::{classify_number_run, NumberRun};
use shape::{is_token_byte, next_word_candidate, shape_of, Shape};

/// Receives each detection: a data type and the byte range of the value it
/// covers.
pub trait Emit {
    fn emit(&mut self, data_type: TypeId, range: Range<usize>);
}

impl<F: FnMut(TypeId, Range<usize>)> Emit for F {
    fn emit(&mut self, data_type: TypeId, range: Range<usize>) {
        self(data_type, range)
    }
}

/// Token families recognised by a literal prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PrefixToken {
    /// AWS access key id: `AKIA`, `ASIA`, `ABIA` or `ACCA` and 16 uppercase
    /// letters or digits.
    AwsAccessKeyId,
    /// GitHub token: `ghp_`, `gho_`, `ghu_`, `ghs_` or `ghr_` and at least 30
    /// letters or digits.
    GitHubToken,
    /// GitHub fine-grained token: `github_pat_` and at least 22 more.
    GitHubPat,
    /// Slack token: `xoxb-`, `xoxp-`, `xoxa-` or `xoxs-` and at least 10
    /// letters, digits or dashes.
    SlackToken,
    /// Stripe live secret or restricted key: `sk_live_`/`rk_live_` and at
    /// least 16 letters or digits.
    StripeKey,
    /// Google API key: `AIza` and exactly 35 letters, digits, `-` or `_`.
    GoogleApiKey,
    /// A JSON Web Token: base64url `{"` starts with `eyJ`.
    Jwt,
    /// A PEM block; only `... PRIVATE KEY` labels count.
    PemBegin,
}

const PREFIXES: &[(&str, PrefixToken)] = &[
    ("AKIA", PrefixToken::AwsAccessKeyId),
    ("ASIA", PrefixToken::AwsAccessKeyId),
    ("ABIA", PrefixToken::AwsAccessKeyId),
    ("ACCA", PrefixToken::AwsAccessKeyId),
    ("ghp_", PrefixToken::GitHubToken),
    ("gho_", PrefixToken::GitHubToken),
    ("ghu_", PrefixToken::GitHubToken),
    ("ghs_", PrefixToken::GitHubToken),
    ("ghr_", PrefixToken::GitHubToken),
    ("github_pat_", PrefixToken::GitHubPat),
    ("xoxb-", PrefixToken::SlackToken),
    ("xoxp-", PrefixToken::SlackToken),
    ("xoxa-", PrefixToken::SlackToken),
    ("xoxs-", PrefixToken::SlackToken),
    ("sk_live_", PrefixToken::StripeKey),
    ("rk_live_", PrefixToken::StripeKey),
    ("AIza", PrefixToken::GoogleApiKey),
    ("eyJ", PrefixToken::Jwt),
    ("-----BEGIN ", PrefixToken::PemBegin),
];

/// Shortest value that can hold a prefixed token: an AWS key id is 20
/// bytes, and every other family is longer. 16 leaves room for a JWT with a
/// tiny payload.
const MIN_PREFIXED_TOKEN_LEN: usize = 16;

/// Minimum length of a secret found by entropy under a secret-like name.
pub const MIN_SECRET_LEN: usize = 20;

/// Minimum Shannon entropy, in bits per byte, of a secret found under a
/// secret-like name. Random hex keys reach about 3.5 at 20 bytes and nearly
/// 4 when longer; base64 keys about 4.5-5. Words and repeated patterns stay
/// below 3.
pub const MIN_SECRET_ENTROPY: f64 = 3.0;

/// Returns whether `value` is an ISO 8601 date-time such as
/// `2024-03-15T10:22:33.123Z`, the most common digit-bearing JSON string.
/// No built-in pattern matches one, so the pattern passes skip it.
fn is_iso_timestamp(value: &[u8]) -> bool {
    (11..=35).contains(&value.len())
        && value[4] == b'-'
        && value[7] == b'-'
        && matches!(value[10], b'T' | b' ')
        && value[..4].iter().all(u8::is_ascii_digit)
        && value.iter().all(|b| {
            b.is_ascii_digit() || matches!(b, b'-' | b':' | b'.' | b'T' | b'Z' | b'+' | b' ')
        })
}

/// The detectors of one classifier.
pub struct Detectors {
    enabled: [bool; builtin::COUNT],
    prefixes: AhoCorasick,
    custom: Vec<CustomMatcher>,
}

impl Detectors {
    /// Builds the detectors. `enabled[i]` tells whether built-in type `i` is
    /// reported.
    pub fn new(enabled: [bool; builtin::COUNT], custom: Vec<CustomMatcher>) -> Self {
        let prefixes = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(PREFIXES.iter().map(|(prefix, _)| prefix))
            .expect("the literal prefixes form a valid automaton");
        Self {
            enabled,
            prefixes,
            custom,
        }
    }

    pub fn enabled(&self, data_type: TypeId) -> bool {
        self.enabled
            .get(usize::from(data_type))
            .copied()
            .unwrap_or(true)
    }

    pub fn custom(&self) -> &[CustomMatcher] {
        &self.custom
    }

    /// Runs every pattern detector over `value`. `field` suppresses number
    /// detections under identifier-like names and gives custom regexes their
    /// field context.
    pub fn scan_patterns(
        &self,
        value: &[u8],
        field: &FieldInfo,
        claimed: &mut Claimed,
        emit: &mut impl Emit,
    ) {
        if is_iso_timestamp(value) {
            if !self.custom.is_empty() {
                self.scan_custom(value, field, emit);
            }
            return;
        }
        let shape = shape_of(value);

        if value.len() >= MIN_PREFIXED_TOKEN_LEN && shape.prefix_bigram {
            self.scan_prefixed_tokens(value, claimed, emit);
        }
        if shape.at_signs > 0 && self.enabled(builtin::EMAIL) {
            scan_emails(value, claimed, emit);
        }
        if shape.colons >= 2 && self.enabled(builtin::IP_ADDRESS) && !numbers_suppressed(field) {
            scan_ipv6(value, claimed, emit);
        }
        if shape.digits >= 4 {
            self.scan_words(value, field, &shape, claimed, emit);
        }
        if !self.custom.is_empty() {
            self.scan_custom(value, field, emit);
        }
    }

    /// Finds tokens with a known literal prefix. Returns whether any was
    /// found.
    pub fn scan_prefixed_tokens(
        &self,
        value: &[u8],
        claimed: &mut Claimed,
        emit: &mut impl Emit,
    ) -> bool {
        let mut found = false;
        for matched in self.prefixes.find_iter(value) {
            let start = matched.start();
            if claimed.covers(start) {
                continue;
            }
            let kind = PREFIXES[matched.pattern().as_usize()].1;
            if kind != PrefixToken::PemBegin && start > 0 && is_token_byte(value[start - 1]) {
                continue;
            }
            let Some((data_type, end)) = prefixed_token_end(kind, value, start, matched.end())
            else {
                continue;
            };
            if !self.enabled(data_type) {
                continue;
            }
            emit.emit(data_type, start..end);
            claimed.push(start..end);
            found = true;
        }
        found
    }

    /// Checks each run of digits (with its separators) that starts a word,
    /// and each word that can start an IBAN. The scan jumps from one such
    /// start to the next, so words that can be neither cost one table
    /// lookup per byte.
    fn scan_words(
        &self,
        value: &[u8],
        field: &FieldInfo,
        shape: &Shape,
        claimed: &mut Claimed,
        emit: &mut impl Emit,
    ) {
        let numbers = !numbers_suppressed(field);
        let ibans = shape.uppercase > 0 && shape.digits >= 11 && self.enabled(builtin::IBAN);
        if !numbers && !ibans {
            return;
        }

        let mut from = 0;
        while let Some(index) = next_word_candidate(value, from, numbers, ibans) {
            let byte = value[index];
            if numbers && !byte.is_ascii_uppercase() && !claimed.covers(index) {
                let run = NumberRun::parse(value, index);
                if let Some(data_type) = classify_number_run(&run, value) {
                    if self.enabled(data_type) {
                        emit.emit(data_type, run.start..run.end);
                        claimed.push(run.start..run.end);
                    }
                }
                from = skip_word(value, run.end.max(index + 1));
                continue;
            }
            if ibans && byte.is_ascii_uppercase() && !claimed.covers(index) {
                if let Some(end) = iban_end(value, index) {
                    emit.emit(builtin::IBAN, index..end);
                    claimed.push(index..end);
                    from = end;
                    continue;
                }
            }
            from = if is_token_byte(byte) {
                skip_word(value, index)
            } else {
                index + 1
            };
        }
    }

    fn scan_custom(&self, value: &[u8], field: &FieldInfo, emit: &mut impl Emit) {
        for matcher in &self.custom {
            match &matcher.regex {
                Some(regex) => {
                    let needs_context = matcher.has_field_names || matcher.keywords.is_some();
                    let in_field = field.custom & matcher.field_bit != 0;
                    for found in regex.find_iter(value) {
                        if found.is_empty() || !matcher.validator.accepts(found.as_bytes()) {
                            continue;
                        }
                        if needs_context
                            && !in_field
                            && !keyword_before(matcher, value, found.start())
                        {
                            continue;
                        }
                        emit.emit(matcher.type_id, found.range());
                    }
                }
                None => {
                    if let Some(keywords) = &matcher.keywords {
                        for found in keywords.find_iter(value) {
                            emit.emit(matcher.type_id, found.range());
                        }
                    }
                }
            }
        }
    }
}

/// Maximum distance, in bytes, between a custom type's keyword and the
/// regex match it supports.
const KEYWORD_WINDOW: usize = 64;

fn keyword_before(matcher: &CustomMatcher, value: &[u8], start: usize) -> bool {
    let Some(keywords) = &matcher.keywords else {
        return false;
    };
    let window = &value[start.saturating_sub(KEYWORD_WINDOW)..start];
    keywords.find(window).is_some()
}

/// Whether numbers under this field are identifiers rather than personal
/// data: the name says id, count, amount, time or version, and nothing says
/// card, phone, SSN or bank account.
fn numbers_suppressed(field: &FieldInfo) -> bool {
    field.kinds.contains(FieldKinds::IDENTIFIER)
        && !field.kinds.intersects(
            FieldKinds::CARD | FieldKinds::PHONE | FieldKinds::SSN | FieldKinds::BANK_ACCOUNT,
        )
}

/// Ranges already reported in a value, so a later detector does not report
/// the digits of an e-mail address or a key again. Most values have at most
/// a few hits, which are kept inline; more spill to the heap.
#[derive(Default)]
pub struct Claimed {
    inline: [Range<usize>; CLAIMED_INLINE],
    inline_len: usize,
    spilled: Vec<Range<usize>>,
}

/// Ranges a [`Claimed`] keeps without allocating.
const CLAIMED_INLINE: usize = 4;

impl Claimed {
    pub fn push(&mut self, range: Range<usize>) {
        if self.inline_len < CLAIMED_INLINE {
            self.inline[self.inline_len] = range;
            self.inline_len += 1;
        } else {
            self.spilled.push(range);
        }
    }

    pub fn covers(&self, index: usize) -> bool {
        self.inline[..self.inline_len]
            .iter()
            .chain(&self.spilled)
            .any(|range| range.contains(&index))
    }
}

/// Returns the index after the word that contains `index`.
fn skip_word(value: &[u8], mut index: usize) -> usize {
    while index < value.len() && is_token_byte(value[index]) {
        index += 1;
    }
    index
}

/// Returns the data type and end of a token whose prefix spans
/// `start..prefix_end`, or `None` when the rest does not fit the family.
fn prefixed_token_end(
    kind: PrefixToken,
    value: &[u8],
    start: usize,
    prefix_end: usize,
) -> Option<(TypeId, usize)> {
    let run_end = |allowed: fn(u8) -> bool| {
        let mut end = prefix_end;
        while end < value.len() && allowed(value[end]) {
            end += 1;
        }
        end
    };
    let alphanumeric = |b: u8| b.is_ascii_alphanumeric();
    let followed_by_word = |end: usize| value.get(end).copied().is_some_and(is_token_byte);

    match kind {
        PrefixToken::AwsAccessKeyId => {
            let end = run_end(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            (end - prefix_end == 16 && !followed_by_word(end)).then_some((builtin::API_KEY, end))
        }
        PrefixToken::GitHubToken => {
            let end = run_end(alphanumeric);
            (end - prefix_end >= 30 && !followed_by_word(end)).then_some((builtin::API_KEY, end))
        }
        PrefixToken::GitHubPat => {
            let end = run_end(is_token_byte);
            (end - prefix_end >= 22).then_some((builtin::API_KEY, end))
        }
        PrefixToken::SlackToken => {
            let end = run_end(|b| b.is_ascii_alphanumeric() || b == b'-');
            (end - prefix_end >= 10 && !followed_by_word(end)).then_some((builtin::API_KEY, end))
        }
        PrefixToken::StripeKey => {
            let end = run_end(alphanumeric);
            (end - prefix_end >= 16 && !followed_by_word(end)).then_some((builtin::API_KEY, end))
        }
        PrefixToken::GoogleApiKey => {
            let end = run_end(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            (end - prefix_end == 35).then_some((builtin::API_KEY, end))
        }
        PrefixToken::Jwt => {
            let end = run_end(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
            let token = &value[start..end];
            if validators::jwt_valid(token) {
                Some((builtin::JWT, end))
            } else if token.ends_with(b".") && validators::jwt_valid(&token[..token.len() - 1]) {
                // The dot ended a sentence, not the token.
                Some((builtin::JWT, end - 1))
            } else {
                None
            }
        }
        PrefixToken::PemBegin => {
            private_key_end(value, prefix_end).map(|end| (builtin::PRIVATE_KEY, end))
        }
    }
}

/// Returns the end of a PEM private key whose `-----BEGIN ` ends at
/// `label_start`: after the matching `-----END ... PRIVATE KEY-----` line, or
/// the end of the value when the block is cut off. Other PEM labels
/// (certificates, public keys) return `None`.
fn private_key_end(value: &[u8], label_start: usize) -> Option<usize> {
    const MAX_LABEL: usize = 40;
    let rest = &value[label_start..];
    let label_end = memchr::memmem::find(&rest[..rest.len().min(MAX_LABEL + 5)], b"-----")?;
    if !rest[..label_end].ends_with(b"PRIVATE KEY") {
        return None;
    }

    let body_start = label_start + label_end + 5;
    match memchr::memmem::find(&value[body_start..], b"-----END ") {
        Some(offset) => {
            let footer = body_start + offset + 9;
            let close = memchr::memmem::find(&value[footer..], b"-----")
                .map(|position| footer + position + 5)
                .unwrap_or(value.len());
            Some(close)
        }
        None => Some(value.len()),
    }
}

/// File name extensions that follow `@` in image names such as
/// `logo@2x.png`, which are not e-mail domains.
const FILE_EXTENSIONS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"ico", b"bmp", b"css", b"js",
];

/// Reports each e-mail address: a local part of letters, digits and
/// `._%+-` (1-64 bytes), `@`, and a domain of at least two labels whose last
/// label is 2-24 letters.
fn scan_emails(value: &[u8], claimed: &mut Claimed, emit: &mut impl Emit) {
    let local_byte =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
    let domain_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';

    for at in memchr::memchr_iter(b'@', value) {
        if claimed.covers(at) {
            continue;
        }

        let mut start = at;
        while start > 0 && local_byte(value[start - 1]) {
            start -= 1;
        }
        while start < at && value[start] == b'.' {
            start += 1;
        }
        let local = &value[start..at];
        if local.is_empty() || local.len() > 64 || local.ends_with(b".") {
            continue;
        }

        let mut end = at + 1;
        while end < value.len() && domain_byte(value[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(value[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &value[at + 1..end];
        if domain.len() > 253 || !domain_valid(domain) {
            continue;
        }

        emit.emit(builtin::EMAIL, start..end);
        claimed.push(start..end);
    }
}

fn domain_valid(domain: &[u8]) -> bool {
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|&b| b == b'.') {
        if label.is_empty() || label.len() > 63 || label.starts_with(b"-") || label.ends_with(b"-")
        {
            return false;
        }
        labels += 1;
        last = label;
    }
    let tld_valid = (2..=24).contains(&last.len()) && last.iter().all(u8::is_ascii_alphabetic);
    let is_file = FILE_EXTENSIONS
        .iter()
        .any(|extension| last.eq_ignore_ascii_case(extension));
    labels >= 2 && tld_valid && !is_file
}

/// Reports each IPv6 address: a run of hex digits, colons and dots with at
/// least two colons and a digit that `std` parses as an IPv6 address other
/// than `::`. Times such as `10:30:00` and MAC addresses do not parse.
fn scan_ipv6(value: &[u8], claimed: &mut Claimed, emit: &mut impl Emit) {
    let address_byte = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';

    let mut search_from = 0;
    while let Some(offset) = memchr::memchr(b':', &value[search_from..]) {
        let colon = search_from + offset;
        let mut start = colon;
        while start > 0 && address_byte(value[start - 1]) {
            start -= 1;
        }
        let mut end = colon;
        while end < value.len() && address_byte(value[end]) {
            end += 1;
        }
        search_from = end.max(colon + 1);

        // A trailing dot ends a sentence rather than the address.
        let mut candidate_end = end;
        while candidate_end > start && value[candidate_end - 1] == b'.' {
            candidate_end -= 1;
        }
        let candidate = &value[start..candidate_end];

        let before_ok = start == 0 || !is_token_byte(value[start - 1]);
        let after_ok = end == value.len() || !is_token_byte(value[end]);
        let colons = candidate.iter().filter(|&&b| b == b':').count();
        if !before_ok
            || !after_ok
            || colons < 2
            || candidate.len() > 45
            || !candidate.iter().any(u8::is_ascii_digit)
        {
            continue;
        }
        if claimed.covers(start) {
            continue;
        }
        let parsed = std::str::from_utf8(candidate)
            .ok()
            .and_then(|text| text.parse::<std::net::Ipv6Addr>().ok());
        if parsed.is_some_and(|address| !address.is_unspecified()) {
            emit.emit(builtin::IP_ADDRESS, start..candidate_end);
            claimed.push(start..candidate_end);
        }
    }
}

/// Returns the end of a valid IBAN starting at `start`, written compact
/// (`DE89370400440532013000`) or in groups of four separated by single
/// spaces.
fn iban_end(value: &[u8], start: usize) -> Option<usize> {
    let head = value.get(start..start + 4)?;
    if !(head[0].is_ascii_uppercase()
        && head[1].is_ascii_uppercase()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return None;
    }
    let length = validators::iban_length([head[0], head[1]])?;

    let mut compact = [0u8; 34];
    let mut count = 0;
    let mut index = start;
    while count < length && index < value.len() {
        let byte = value[index];
        if byte.is_ascii_uppercase() || byte.is_ascii_digit() {
            compact[count] = byte;
            count += 1;
            index += 1;
        } else if byte == b' '
            && count % 4 == 0
            && value.get(index + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            index += 1;
        } else {
            break;
        }
    }
    if count != length || value.get(index).copied().is_some_and(is_token_byte) {
        return None;
    }
    validators::iban_valid(&compact[..count]).then_some(index)
}
