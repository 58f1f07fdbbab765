//! Field-name evidence: what a JSON key, form field, query parameter, cookie
//! or header name says about the value under it.
//!
//! A name is split into lowercase words at `_`, `-`, `.`, spaces, camelCase
//! humps and letter-digit changes (`billingAddressLine1` becomes `billing`,
//! `address`, `line`, `1`), so one rule covers every spelling. The words of
//! the name and of the enclosing object's name decide the [`FieldInfo`]:
//! `name` is a person's name only inside a `customer`, `user` or `patient`
//! object, and `zip` is part of a postal address only inside an address.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

mod cache;

pub use cache::{with_field_cache, FieldCache};

/// Keys longer than this are not classified: no field name the rules know is
/// this long, and the bound keeps the word buffer on the stack.
const MAX_KEY_LEN: usize = 64;

/// Maximum number of words kept from one key.
const MAX_WORDS: usize = 8;

/// What a field name says about its value, as bit flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldKinds(u32);

impl FieldKinds {
    pub const PASSWORD: Self = Self(1 << 0);
    /// A secret such as an API key or token (the entropy rule applies).
    pub const SECRET: Self = Self(1 << 1);
    pub const SSN: Self = Self(1 << 2);
    pub const BIRTH_DATE: Self = Self(1 << 3);
    pub const PHONE: Self = Self(1 << 4);
    pub const NATIONAL_ID: Self = Self(1 << 5);
    pub const DIAGNOSIS: Self = Self(1 << 6);
    pub const MEDICAL_RECORD: Self = Self(1 << 7);
    /// A person's name, either by its own name or by the enclosing object.
    pub const PERSON_NAME: Self = Self(1 << 8);
    /// A postal address line or a postal code in an address context.
    pub const POSTAL_ADDRESS: Self = Self(1 << 9);
    /// A payment card field: its numbers are checked even when the name also
    /// looks like an identifier.
    pub const CARD: Self = Self(1 << 10);
    /// A bank account field, with the same effect as [`Self::CARD`] for IBANs.
    pub const BANK_ACCOUNT: Self = Self(1 << 11);
    /// An identifier, counter, amount, version or time: numbers under it are
    /// not taken for cards, phone numbers, SSNs or IP addresses.
    pub const IDENTIFIER: Self = Self(1 << 12);

    /// Flags that have a whole-value rule in `field_rules`.
    pub const VALUE_RULES: Self = Self(
        Self::PASSWORD.0
            | Self::SECRET.0
            | Self::SSN.0
            | Self::BIRTH_DATE.0
            | Self::PHONE.0
            | Self::NATIONAL_ID.0
            | Self::DIAGNOSIS.0
            | Self::MEDICAL_RECORD.0
            | Self::PERSON_NAME.0
            | Self::POSTAL_ADDRESS.0,
    );

    // Flags below describe an object's name and affect its children only.
    /// An object about a person, whose `name` child is a person's name.
    pub const PERSON_CONTEXT: Self = Self(1 << 16);
    /// An object about an address, whose `zip` or `line1` child is part of a
    /// postal address.
    pub const ADDRESS_CONTEXT: Self = Self(1 << 17);
    /// An object under a bare `name` key, whose `first` or `last` child is
    /// part of a person's name.
    pub const NAME_CONTEXT: Self = Self(1 << 18);

    // Flags below are intermediate and resolved against the parent.
    /// A bare `name`, a person's name only in a person context.
    const BARE_NAME: Self = Self(1 << 24);
    /// `zip`, `postcode`, `postal_code`: part of an address only in an
    /// address context.
    const POSTAL_CODE: Self = Self(1 << 25);
    /// `line1`, `line2`, `city`: part of an address only in an address context.
    const ADDRESS_PART: Self = Self(1 << 26);
    /// `first`, `last`, `given`: part of a person's name only in a name or
    /// person context.
    const NAME_PART: Self = Self(1 << 28);
    /// `number`, `value`, `code`: inherits the value flags of its parent, as in
    /// `{"phone": {"number": ...}}`.
    const GENERIC_VALUE: Self = Self(1 << 27);

    /// Flags that describe the value itself, which a generic child inherits.
    const VALUE_FLAGS: Self = Self(0xffff & !Self::IDENTIFIER.0);

    pub const fn empty() -> Self {
        Self(0)
    }

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    fn insert(&mut self, other: Self) {
        self.0 |= other.0;
    }

    fn remove(&mut self, other: Self) {
        self.0 &= !other.0;
    }
}

impl std::ops::BitOr for FieldKinds {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// The classification of one field name, resolved against its parent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldInfo {
    pub kinds: FieldKinds,
    /// Bit `i` set: the name is one of custom type `i`'s `field_names`.
    pub custom: u64,
}

impl FieldInfo {
    /// Returns whether a field rule can classify a value under this name:
    /// a flag of [`FieldKinds::VALUE_RULES`] or a custom type's field name.
    /// Identifier-like names (`id`, `created_at`) have none.
    pub fn has_value_rule(&self) -> bool {
        self.custom != 0 || self.kinds.intersects(FieldKinds::VALUE_RULES)
    }
}

/// Field names of custom data types, normalised as [`normalize_field_name`]
/// does.
#[derive(Clone, Debug)]
pub struct CustomFieldNames {
    names: HashMap<Vec<u8>, u64>,
    /// Identity of this table in the field cache, unique per process and
    /// never 0, so classifiers with different custom names share no entries.
    cache_owner: u64,
}

impl Default for CustomFieldNames {
    fn default() -> Self {
        static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);
        Self {
            names: HashMap::new(),
            cache_owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl CustomFieldNames {
    /// Adds `name` as a field name of custom type `index` (below 64).
    pub fn insert(&mut self, name: &str, index: usize) {
        let normalized = normalize_field_name(name);
        *self.names.entry(normalized).or_default() |= 1 << index;
    }

    fn lookup(&self, joined: &[u8]) -> u64 {
        if self.names.is_empty() {
            return 0;
        }
        self.names.get(joined).copied().unwrap_or(0)
    }
}

/// Returns the lowercase letters and digits of `name`, the form in which
/// field names are compared: `First-Name`, `first_name` and `firstName` all
/// become `firstname`.
pub fn normalize_field_name(name: &str) -> Vec<u8> {
    name.bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_lowercase())
        .collect()
}

/// Classifies the field name `key` inside an object whose own name was
/// classified as `parent`.
pub fn classify_field(key: &[u8], parent: &FieldInfo, custom: &CustomFieldNames) -> FieldInfo {
    with_field_cache(|cache| cache.classify(key, parent, custom))
}

fn classify_field_uncached(key: &[u8], parent: &FieldInfo, custom: &CustomFieldNames) -> FieldInfo {
    let Some(words) = Words::split(key) else {
        return FieldInfo::default();
    };

    let mut kinds = kinds_from_words(&words);
    let parent_kinds = parent.kinds;

    // Names whose meaning depends on the enclosing object.
    if kinds.contains(FieldKinds::BARE_NAME) && parent_kinds.contains(FieldKinds::PERSON_CONTEXT) {
        kinds.insert(FieldKinds::PERSON_NAME);
    }
    if kinds.contains(FieldKinds::NAME_PART)
        && parent_kinds.intersects(FieldKinds::PERSON_CONTEXT | FieldKinds::NAME_CONTEXT)
    {
        kinds.insert(FieldKinds::PERSON_NAME);
    }
    let in_address = kinds.contains(FieldKinds::ADDRESS_CONTEXT)
        || parent_kinds.contains(FieldKinds::ADDRESS_CONTEXT);
    if kinds.intersects(FieldKinds::POSTAL_CODE | FieldKinds::ADDRESS_PART) && in_address {
        kinds.insert(FieldKinds::POSTAL_ADDRESS);
    }
    if kinds.contains(FieldKinds::GENERIC_VALUE) {
        kinds.insert(FieldKinds(parent_kinds.0 & FieldKinds::VALUE_FLAGS.0));
    }
    kinds.remove(
        FieldKinds::BARE_NAME
            | FieldKinds::POSTAL_CODE
            | FieldKinds::ADDRESS_PART
            | FieldKinds::NAME_PART
            | FieldKinds::GENERIC_VALUE,
    );

    FieldInfo {
        kinds,
        custom: custom.lookup(words.joined()),
    }
}

/// A key split into lowercase words, kept in a fixed buffer.
struct Words {
    buffer: [u8; MAX_KEY_LEN],
    length: usize,
    /// End offsets of the words in `buffer`.
    ends: [u8; MAX_WORDS],
    count: usize,
}

impl Words {
    /// Splits `key`, or returns `None` when it is too long or has no letters
    /// or digits.
    fn split(key: &[u8]) -> Option<Self> {
        if key.len() > MAX_KEY_LEN {
            return None;
        }

        let mut words = Words {
            buffer: [0; MAX_KEY_LEN],
            length: 0,
            ends: [0; MAX_WORDS],
            count: 0,
        };
        let mut previous: u8 = 0;
        for &byte in key {
            if !byte.is_ascii_alphanumeric() {
                words.end_word();
                previous = 0;
                continue;
            }
            let boundary = (previous.is_ascii_lowercase() && byte.is_ascii_uppercase())
                || (previous.is_ascii_alphabetic() && byte.is_ascii_digit())
                || (previous.is_ascii_digit() && byte.is_ascii_alphabetic());
            if boundary {
                words.end_word();
            }
            words.buffer[words.length] = byte.to_ascii_lowercase();
            words.length += 1;
            previous = byte;
        }
        words.end_word();

        (words.count > 0).then_some(words)
    }

    fn end_word(&mut self) {
        let start = if self.count == 0 {
            0
        } else {
            usize::from(self.ends[self.count - 1])
        };
        if self.length > start {
            if self.count == MAX_WORDS {
                // Later words are merged into the last one, which keeps the
                // joined form exact.
                self.ends[MAX_WORDS - 1] = self.length as u8;
            } else {
                self.ends[self.count] = self.length as u8;
                self.count += 1;
            }
        }
    }

    fn get(&self, index: usize) -> &[u8] {
        let start = if index == 0 {
            0
        } else {
            usize::from(self.ends[index - 1])
        };
        &self.buffer[start..usize::from(self.ends[index])]
    }

    /// Index of the last word that is not all digits, or 0.
    fn last_alphabetic(&self) -> usize {
        (0..self.count)
            .rev()
            .find(|&index| !self.get(index).iter().all(u8::is_ascii_digit))
            .unwrap_or(0)
    }

    /// The words concatenated: the normalised name.
    fn joined(&self) -> &[u8] {
        &self.buffer[..self.length]
    }
}

/// What one word of a name says, before the words are combined.
struct WordFlags;

impl WordFlags {
    const PASSWORD: u32 = 1 << 0;
    /// Words that make a password-like name describe something else
    /// (`password_policy`, `password_last_changed`).
    const PASSWORD_NEGATION: u32 = 1 << 1;
    const SECRET: u32 = 1 << 2;
    /// Words that make a secret-like name describe something else
    /// (`token_type`, `next_page_token`, `max_tokens`).
    const SECRET_NEGATION: u32 = 1 << 3;
    const SSN: u32 = 1 << 4;
    const PHONE: u32 = 1 << 5;
    const NATIONAL_ID: u32 = 1 << 6;
    /// Words that make an identity-document name describe the document's
    /// metadata (`passport_expiry`, `passport_country`).
    const DOCUMENT_METADATA: u32 = 1 << 7;
    const DIAGNOSIS: u32 = 1 << 8;
    const MEDICAL_RECORD: u32 = 1 << 9;
    const ADDRESS: u32 = 1 << 10;
    /// Words that make `address` mean a network or e-mail address.
    const NON_POSTAL: u32 = 1 << 11;
    const ADDRESS_CONTEXT: u32 = 1 << 12;
    const POSTAL_CODE: u32 = 1 << 13;
    const ADDRESS_PART: u32 = 1 << 14;
    const PERSON: u32 = 1 << 15;
    /// A word that names a person's name on its own (`surname`,
    /// `firstname`).
    const PERSON_NAME: u32 = 1 << 16;
    const NAME: u32 = 1 << 17;
    /// A part of a name (`first`, `last`, `given`): a person's name when
    /// followed by `name`, or alone inside a `name` or person object.
    const NAME_PART: u32 = 1 << 23;
    const CARD: u32 = 1 << 18;
    const BANK: u32 = 1 << 19;
    const IDENTIFIER: u32 = 1 << 20;
    const GENERIC: u32 = 1 << 21;
    /// A word that pairs with a following `key` to name a secret
    /// (`api_key`, `private_key`).
    const KEY_QUALIFIER: u32 = 1 << 22;
}

/// Returns the flags of one lowercase word. Plural forms are looked up
/// without their trailing `s`.
fn word_flags(word: &[u8]) -> u32 {
    let flags = word_flags_exact(word);
    if flags != 0 || word.len() < 4 || !word.ends_with(b"s") {
        return flags;
    }
    word_flags_exact(&word[..word.len() - 1])
}

fn word_flags_exact(word: &[u8]) -> u32 {
    use WordFlags as W;
    match word {
        b"password" | b"passwd" | b"pwd" | b"passphrase" | b"passcode" => W::PASSWORD,
        b"policy" | b"hint" | b"reset" | b"strength" | b"required" | b"rule" | b"enabled"
        | b"changed" | b"forgot" | b"score" => W::PASSWORD_NEGATION,
        b"last" => W::PASSWORD_NEGATION | W::NAME_PART,
        b"secret" | b"token" | b"apikey" | b"accesskey" | b"privatekey" | b"secretkey"
        | b"clientsecret" | b"credential" | b"bearer" | b"authorization" | b"jwt" => W::SECRET,
        b"api" | b"access" | b"private" | b"signing" | b"encryption" | b"master" | b"auth"
        | b"app" | b"consumer" | b"subscription" | b"license" => W::KEY_QUALIFIER,
        b"page" | b"next" | b"cursor" | b"endpoint" | b"used" | b"fingerprint" | b"hash" => {
            W::SECRET_NEGATION | W::DOCUMENT_METADATA
        }
        b"type" | b"ttl" | b"url" | b"uri" | b"limit" | b"max" | b"min" | b"expire" | b"expiry"
        | b"expiration" => W::SECRET_NEGATION | W::DOCUMENT_METADATA | W::PASSWORD_NEGATION,
        b"ssn" | b"socialsecuritynumber" => W::SSN,
        b"phone" | b"telephone" | b"tel" | b"mobile" | b"cell" | b"cellphone" | b"fax"
        | b"msisdn" | b"phonenumber" | b"mobilephone" => W::PHONE,
        b"passport" | b"nationalid" | b"nino" | b"taxid" | b"taxpayerid" | b"aadhaar"
        | b"aadhar" | b"cpf" | b"curp" | b"dni" | b"nif" | b"nie" | b"personnummer"
        | b"driverslicense" | b"driverlicense" => W::NATIONAL_ID,
        b"country" | b"issuer" | b"issuing" | b"issued" | b"verified" | b"status"
        | b"authority" | b"date" | b"valid" | b"validity" | b"image" | b"photo" | b"scan"
        | b"file" => W::DOCUMENT_METADATA,
        b"diagnosis" | b"diagnose" | b"icd" | b"dx" | b"condition" => W::DIAGNOSIS,
        b"mrn" | b"medicalrecordnumber" | b"medicalrecord" => W::MEDICAL_RECORD,
        b"address" | b"addr" | b"street" | b"streetaddress" | b"addressline" => {
            W::ADDRESS | W::ADDRESS_CONTEXT
        }
        b"email" | b"e" | b"mail" | b"ip" | b"ipv4" | b"ipv6" | b"mac" | b"wallet" | b"server"
        | b"remote" | b"local" | b"host" | b"network" | b"net" | b"web" | b"bind" | b"listen"
        | b"contract" | b"bitcoin" | b"btc" | b"eth" | b"ethereum" | b"crypto" | b"peer"
        | b"socket" | b"proxy" | b"gateway" | b"public" | b"node" | b"src" | b"source" | b"dst"
        | b"destination" | b"forwarded" | b"hardware" | b"broadcast" | b"multicast" | b"memory" => {
            W::NON_POSTAL
        }
        b"billing" | b"shipping" | b"mailing" | b"home" | b"residential" | b"residence"
        | b"delivery" => W::ADDRESS_CONTEXT | W::PERSON,
        b"zip" | b"zipcode" | b"postcode" | b"postalcode" | b"plz" => W::POSTAL_CODE,
        b"line" | b"city" | b"town" | b"locality" => W::ADDRESS_PART,
        b"customer" | b"user" | b"patient" | b"person" | b"contact" | b"member" | b"employee"
        | b"cardholder" | b"holder" | b"accountholder" | b"recipient" | b"sender" | b"guardian"
        | b"beneficiary" | b"owner" | b"buyer" | b"passenger" | b"traveler" | b"traveller"
        | b"guest" | b"applicant" | b"student" | b"author" | b"subscriber" | b"shopper"
        | b"payer" | b"payee" | b"insured" | b"individual" | b"driver" | b"tenant" | b"spouse"
        | b"physician" | b"doctor" | b"practitioner" | b"signer" | b"attendee" | b"participant"
        | b"candidate" | b"donor" | b"profile" => W::PERSON,
        b"firstname" | b"lastname" | b"fullname" | b"givenname" | b"familyname" | b"surname"
        | b"middlename" | b"maidenname" | b"forename" | b"legalname" | b"nameoncard" => {
            W::PERSON_NAME
        }
        b"name" => W::NAME | W::SECRET_NEGATION,
        b"first" | b"full" | b"given" | b"family" | b"middle" | b"maiden" | b"legal" => {
            W::NAME_PART
        }
        b"card" | b"pan" | b"cc" | b"creditcard" | b"cardnumber" | b"ccnumber" => W::CARD,
        b"iban" | b"bban" | b"bank" => W::BANK,
        b"id" | b"uuid" | b"guid" | b"ref" | b"reference" | b"sku" | b"seq" | b"sequence"
        | b"timestamp" | b"ts" | b"time" | b"epoch" | b"created" | b"updated" | b"modified"
        | b"deleted" | b"at" | b"version" | b"ver" | b"build" | b"revision" | b"rev" | b"count"
        | b"total" | b"amount" | b"price" | b"cost" | b"order" | b"invoice" | b"tracking"
        | b"transaction" | b"txn" | b"trace" | b"span" | b"request" | b"correlation" | b"nonce"
        | b"sha" | b"etag" | b"checksum" | b"digest" | b"offset" | b"size" | b"length"
        | b"byte" | b"ms" | b"millis" | b"second" | b"duration" | b"latency" | b"port" | b"pid"
        | b"serial" | b"batch" | b"shipment" | b"confirmation" | b"receipt" | b"ticket"
        | b"quantity" | b"qty" => W::IDENTIFIER,
        b"number" | b"value" | b"code" | b"text" | b"no" | b"num" => W::GENERIC,
        _ => 0,
    }
}

/// Flags of two-word names, for [`pair_flags`].
struct PairFlags;

impl PairFlags {
    const SSN: u32 = 1 << 0;
    const PHONE: u32 = 1 << 1;
    const NATIONAL_ID: u32 = 1 << 2;
    const MEDICAL_RECORD: u32 = 1 << 3;
    const POSTAL_CODE: u32 = 1 << 4;
    const BANK: u32 = 1 << 5;
}

/// Returns what two adjacent words say together (`social security`,
/// `tax id`, `zip code`).
fn pair_flags(first: &[u8], second: &[u8]) -> u32 {
    use PairFlags as P;
    match (first, second) {
        (b"social", b"security") => P::SSN,
        (b"contact", b"number") => P::PHONE,
        (b"national", b"id" | b"identifier" | b"insurance")
        | (b"social", b"insurance")
        | (b"tax", b"id" | b"number")
        | (b"id" | b"identity", b"card")
        | (b"drivers" | b"driver", b"license")
        | (b"driving", b"licence") => P::NATIONAL_ID,
        (b"medical", b"record") => P::MEDICAL_RECORD,
        (b"postal" | b"zip" | b"post", b"code") => P::POSTAL_CODE,
        (b"account", b"number") => P::BANK,
        _ => 0,
    }
}

fn kinds_from_words(words: &Words) -> FieldKinds {
    use PairFlags as P;
    use WordFlags as W;

    let mut flags = [0u32; MAX_WORDS];
    let mut all = 0u32;
    let mut pairs = 0u32;
    for (index, flag) in flags.iter_mut().enumerate().take(words.count) {
        *flag = word_flags(words.get(index));
        all |= *flag;
        if index > 0 {
            pairs |= pair_flags(words.get(index - 1), words.get(index));
        }
    }
    let joined = words.joined();

    // A trailing number (`line1`, `address_2`) does not change what a name
    // is about, so the rules look at the last word that has letters.
    let last_word = words.last_alphabetic();
    let last = flags[last_word];
    let before_last = if last_word >= 1 {
        flags[last_word - 1]
    } else {
        0
    };
    let has = |flag: u32| all & flag != 0;
    let has_pair = |flag: u32| pairs & flag != 0;

    let mut kinds = FieldKinds::empty();

    let password = has(W::PASSWORD) || joined == b"pass";
    if password && !has(W::PASSWORD_NEGATION | W::IDENTIFIER) {
        kinds.insert(FieldKinds::PASSWORD);
    }

    let key_pair =
        words.get(last_word) == b"key" && before_last & (W::KEY_QUALIFIER | W::SECRET) != 0;
    if (has(W::SECRET) || key_pair) && !has(W::SECRET_NEGATION | W::IDENTIFIER) {
        kinds.insert(FieldKinds::SECRET);
    }

    if has(W::SSN) || has_pair(P::SSN) {
        kinds.insert(FieldKinds::SSN);
    }

    if birth_date_name(joined) {
        kinds.insert(FieldKinds::BIRTH_DATE);
    }

    if has(W::PHONE) || has_pair(P::PHONE) {
        kinds.insert(FieldKinds::PHONE);
    }

    let national_id = has(W::NATIONAL_ID)
        || matches!(joined, b"tin" | b"nin" | b"sin" | b"ssnumber")
        || has_pair(P::NATIONAL_ID);
    if national_id && !has(W::DOCUMENT_METADATA) && !kinds.contains(FieldKinds::SSN) {
        kinds.insert(FieldKinds::NATIONAL_ID);
    }

    if has(W::DIAGNOSIS) {
        kinds.insert(FieldKinds::DIAGNOSIS);
    }
    if has(W::MEDICAL_RECORD) || has_pair(P::MEDICAL_RECORD) {
        kinds.insert(FieldKinds::MEDICAL_RECORD);
    }

    // `address` alone is a postal address unless another word makes it a
    // network, e-mail or wallet address. `address_type`, `address_id` and
    // `address_verified` describe an address without containing one.
    let address_metadata = has(W::DOCUMENT_METADATA | W::IDENTIFIER | W::SECRET_NEGATION);
    if has(W::ADDRESS) && !has(W::NON_POSTAL) && !address_metadata {
        kinds.insert(FieldKinds::POSTAL_ADDRESS | FieldKinds::ADDRESS_CONTEXT);
    }
    if has(W::ADDRESS_CONTEXT) && !has(W::NON_POSTAL) {
        kinds.insert(FieldKinds::ADDRESS_CONTEXT);
    }
    if has(W::POSTAL_CODE) || has_pair(P::POSTAL_CODE) {
        kinds.insert(FieldKinds::POSTAL_CODE);
    }
    if last & W::ADDRESS_PART != 0 {
        kinds.insert(FieldKinds::ADDRESS_PART);
    }

    // A person's name: `first_name`, `customer_name`, `nameOnCard`. A bare
    // `name` or `first` depends on the parent object, and `user_name` is a
    // login name rather than a person's name.
    let last_is_name = last & W::NAME != 0;
    let person_named = last_is_name
        && before_last & (W::PERSON_NAME | W::NAME_PART | W::PERSON) != 0
        && words.get(last_word - 1) != b"user";
    let single_word = last_word == 0;
    if (last & W::PERSON_NAME != 0 && single_word) || person_named || joined == b"nameoncard" {
        kinds.insert(FieldKinds::PERSON_NAME);
    } else if last_is_name && single_word {
        kinds.insert(FieldKinds::BARE_NAME | FieldKinds::NAME_CONTEXT);
    } else if last & W::NAME_PART != 0 && single_word {
        kinds.insert(FieldKinds::NAME_PART);
    }
    if last & W::PERSON != 0 {
        kinds.insert(FieldKinds::PERSON_CONTEXT);
    }

    if has(W::CARD) {
        kinds.insert(FieldKinds::CARD);
    }
    if has(W::BANK) || has_pair(P::BANK) {
        kinds.insert(FieldKinds::BANK_ACCOUNT);
    }
    if has(W::IDENTIFIER) {
        kinds.insert(FieldKinds::IDENTIFIER);
    }
    if single_word && last & W::GENERIC != 0 {
        kinds.insert(FieldKinds::GENERIC_VALUE);
    }

    kinds
}

/// Returns whether a normalised name is a birth date field: `dob`,
/// `date_of_birth`, `birthDate`, `patient_dob`, `birthday`.
fn birth_date_name(joined: &[u8]) -> bool {
    const SUFFIXES: [&[u8]; 5] = [b"dob", b"birthdate", b"dateofbirth", b"birthday", b"bday"];
    SUFFIXES.iter().any(|suffix| joined.ends_with(suffix))
}
