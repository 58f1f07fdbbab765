//! Classifier configuration: built-in types to disable, sensitivity and
//! compliance overrides, custom data types and the per-transaction scan
//! budget, with the checks that turn a bad setting into an error naming its
//! key.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use super::field_names::{normalize_field_name, CustomFieldNames};
use super::finding::{Compliance, Sensitivity};
use super::registry::{builtin_id, builtin_names, Registry, TypeId};
use super::validators;

/// Default for [`ClassifierConfig::scan_budget_bytes`]: 256 KiB.
pub const DEFAULT_SCAN_BUDGET_BYTES: usize = 256 * 1024;

/// Maximum number of custom types, so a field name's custom types fit in one
/// 64-bit set.
pub const MAX_CUSTOM_TYPES: usize = 64;

/// Maximum compiled size of one custom regex, in bytes. It bounds memory and
/// keeps a pattern with huge repetition counts from being accepted.
const MAX_REGEX_SIZE: usize = 1 << 20;

/// Classifier settings, as read from the daemon's configuration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Built-in data types that are not reported.
    pub disabled: Vec<String>,
    /// New sensitivity or compliance for built-in or custom types.
    pub overrides: Vec<TypeOverride>,
    /// Data types defined by the operator.
    pub custom: Vec<CustomType>,
    /// Maximum number of input bytes scanned per transaction: header values,
    /// the query string and both bodies together. Header names are not
    /// counted.
    pub scan_budget_bytes: usize,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            disabled: Vec::new(),
            overrides: Vec::new(),
            custom: Vec::new(),
            scan_budget_bytes: DEFAULT_SCAN_BUDGET_BYTES,
        }
    }
}

/// A change to the reported attributes of one data type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeOverride {
    /// Name of a built-in or custom type.
    pub name: String,
    pub sensitivity: Option<Sensitivity>,
    /// Replaces the type's compliance list when present.
    pub compliance: Option<Vec<Compliance>>,
}

/// A data type defined by the operator.
///
/// With a `regex`, every match in a value is a finding once `validator`
/// accepts it. When `field_names` or `keywords` are also given they are
/// required context: the value must sit under one of the field names, or a
/// keyword must occur in the field name or in the 64 bytes before the match
/// (ASCII case ignored).
///
/// Without a `regex`, every non-empty value under one of `field_names` is a
/// finding, and so is every occurrence of a keyword (ASCII case ignored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomType {
    /// Stable name, in lowercase letters, digits and underscores.
    pub name: String,
    pub sensitivity: Sensitivity,
    #[serde(default)]
    pub compliance: Vec<Compliance>,
    /// Pattern in the `regex` crate's syntax, matched against values.
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Field names, compared as [`normalize_field_name`] spells them, so
    /// `employeeId` also matches `employee_id`.
    #[serde(default)]
    pub field_names: Vec<String>,
    /// Check run on each regex match: `luhn`, `iban` or `none`.
    #[serde(default)]
    pub validator: Option<String>,
}

/// An invalid classifier setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid classifier setting {key}: {reason}")]
pub struct ClassifierConfigError {
    /// Path of the setting, such as `custom[2].regex`.
    pub key: String,
    pub reason: String,
}

impl ClassifierConfigError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Check applied to a custom type's regex matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validator {
    None,
    /// The match's digits pass the Luhn check.
    Luhn,
    /// The match's letters and digits form a valid IBAN.
    Iban,
}

impl Validator {
    /// Returns whether `matched` passes the check.
    pub fn accepts(self, matched: &[u8]) -> bool {
        match self {
            Validator::None => true,
            Validator::Luhn => {
                let digits: Vec<u8> = matched.iter().copied().filter(u8::is_ascii_digit).collect();
                validators::luhn_valid(&digits)
            }
            Validator::Iban => {
                let compact: Vec<u8> = matched
                    .iter()
                    .filter(|b| b.is_ascii_alphanumeric())
                    .map(u8::to_ascii_uppercase)
                    .collect();
                validators::iban_valid(&compact)
            }
        }
    }
}

/// A custom type compiled for matching.
#[derive(Clone, Debug)]
pub struct CustomMatcher {
    pub type_id: TypeId,
    /// Bit of this type in [`super::field_names::FieldInfo::custom`].
    pub field_bit: u64,
    pub regex: Option<Regex>,
    /// Keywords, matched ignoring ASCII case.
    pub keywords: Option<AhoCorasick>,
    pub has_field_names: bool,
    pub validator: Validator,
}

/// The parts of a classifier built from its configuration.
pub struct CompiledConfig {
    pub registry: Registry,
    pub custom: Vec<CustomMatcher>,
    pub custom_fields: CustomFieldNames,
    pub scan_budget_bytes: usize,
}

/// Checks `config` and compiles it. The error names the first invalid key.
pub fn compile(config: &ClassifierConfig) -> Result<CompiledConfig, ClassifierConfigError> {
    let mut registry = Registry::builtin();

    if config.scan_budget_bytes == 0 {
        return Err(ClassifierConfigError::new(
            "scan_budget_bytes",
            "must be greater than 0",
        ));
    }

    for (index, name) in config.disabled.iter().enumerate() {
        let Some(id) = builtin_id(name) else {
            return Err(unknown_builtin(format!("disabled[{index}]"), name));
        };
        registry.get_mut(id).enabled = false;
    }

    if config.custom.len() > MAX_CUSTOM_TYPES {
        return Err(ClassifierConfigError::new(
            "custom",
            format!(
                "{} custom types given, at most {MAX_CUSTOM_TYPES} are supported",
                config.custom.len()
            ),
        ));
    }
    let mut custom = Vec::with_capacity(config.custom.len());
    let mut custom_fields = CustomFieldNames::default();
    for (index, definition) in config.custom.iter().enumerate() {
        let matcher = compile_custom(index, definition, &mut registry, &mut custom_fields)?;
        custom.push(matcher);
    }

    // Overrides come last so they can name custom types too.
    for (index, change) in config.overrides.iter().enumerate() {
        let Some(id) = registry.id(&change.name) else {
            return Err(ClassifierConfigError::new(
                format!("overrides[{index}].name"),
                format!(
                    "unknown data type {:?}; expected a built-in type ({}) or a custom type's name",
                    change.name,
                    builtin_names().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        let info = registry.get_mut(id);
        if let Some(sensitivity) = change.sensitivity {
            info.sensitivity = sensitivity;
        }
        if let Some(compliance) = &change.compliance {
            info.compliance = compliance.clone();
        }
    }

    Ok(CompiledConfig {
        registry,
        custom,
        custom_fields,
        scan_budget_bytes: config.scan_budget_bytes,
    })
}

fn unknown_builtin(key: String, name: &str) -> ClassifierConfigError {
    ClassifierConfigError::new(
        key,
        format!(
            "unknown built-in data type {name:?}; expected one of {}",
            builtin_names().collect::<Vec<_>>().join(", ")
        ),
    )
}

fn compile_custom(
    index: usize,
    definition: &CustomType,
    registry: &mut Registry,
    custom_fields: &mut CustomFieldNames,
) -> Result<CustomMatcher, ClassifierConfigError> {
    let key = |field: &str| format!("custom[{index}].{field}");

    let name = &definition.name;
    let name_is_id = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_is_id {
        return Err(ClassifierConfigError::new(
            key("name"),
            format!("{name:?} is not a valid name: use lowercase letters, digits and underscores"),
        ));
    }
    if registry.id(name).is_some() {
        return Err(ClassifierConfigError::new(
            key("name"),
            format!("{name:?} is already the name of a built-in or earlier custom type"),
        ));
    }

    if definition.regex.is_none()
        && definition.keywords.is_empty()
        && definition.field_names.is_empty()
    {
        return Err(ClassifierConfigError::new(
            format!("custom[{index}]"),
            "needs at least one of regex, keywords or field_names, or it can never match",
        ));
    }

    let validator = match definition.validator.as_deref() {
        None | Some("none") => Validator::None,
        Some("luhn") => Validator::Luhn,
        Some("iban") => Validator::Iban,
        Some(other) => {
            return Err(ClassifierConfigError::new(
                key("validator"),
                format!("unknown validator {other:?}; expected one of luhn, iban, none"),
            ))
        }
    };
    if validator != Validator::None && definition.regex.is_none() {
        return Err(ClassifierConfigError::new(
            key("validator"),
            "a validator checks regex matches, so it needs a regex",
        ));
    }

    let regex = match &definition.regex {
        None => None,
        Some(pattern) => Some(
            compile_regex(pattern)
                .map_err(|reason| ClassifierConfigError::new(key("regex"), reason))?,
        ),
    };

    for (keyword_index, keyword) in definition.keywords.iter().enumerate() {
        if keyword.trim().is_empty() {
            return Err(ClassifierConfigError::new(
                format!("custom[{index}].keywords[{keyword_index}]"),
                "is empty",
            ));
        }
    }
    let keywords = if definition.keywords.is_empty() {
        None
    } else {
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&definition.keywords)
            .map_err(|error| ClassifierConfigError::new(key("keywords"), error.to_string()))?;
        Some(automaton)
    };

    for (field_index, field_name) in definition.field_names.iter().enumerate() {
        if normalize_field_name(field_name).is_empty() {
            return Err(ClassifierConfigError::new(
                format!("custom[{index}].field_names[{field_index}]"),
                format!("{field_name:?} has no letters or digits, so no field can match it"),
            ));
        }
        custom_fields.insert(field_name, index);
    }

    let type_id = registry.add_custom(name, definition.sensitivity, definition.compliance.clone());
    Ok(CustomMatcher {
        type_id,
        field_bit: 1 << index,
        regex,
        keywords,
        has_field_names: !definition.field_names.is_empty(),
        validator,
    })
}

fn compile_regex(pattern: &str) -> Result<Regex, String> {
    let regex = RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_SIZE)
        .build()
        .map_err(|error| format!("invalid regex: {error}"))?;

    // A pattern that matches the empty string would report a finding in
    // every value.
    if regex.is_match(b"") {
        return Err(format!(
            "regex {pattern:?} matches the empty string, so it would match every value"
        ));
    }
    Ok(regex)
}
