//! The data types a classifier reports: the built-in ones with their default
//! sensitivity and compliance, then the configured custom ones.
//!
//! A data type is addressed by its index, a [`TypeId`]. Built-in types have
//! the fixed indices in [`builtin`]; custom types follow in configuration
//! order.

use serde::{Deserialize, Serialize};

use super::finding::{Compliance, Sensitivity, TypeLabel};

/// Index of a data type in a [`Registry`].
pub type TypeId = u16;

/// Indices of the built-in data types.
pub mod builtin {
    use super::TypeId;

    pub const CARD_NUMBER: TypeId = 0;
    pub const IBAN: TypeId = 1;
    pub const US_SSN: TypeId = 2;
    pub const EMAIL: TypeId = 3;
    pub const PHONE_NUMBER: TypeId = 4;
    pub const DATE_OF_BIRTH: TypeId = 5;
    pub const POSTAL_ADDRESS: TypeId = 6;
    pub const PERSON_NAME: TypeId = 7;
    pub const NATIONAL_ID: TypeId = 8;
    pub const IP_ADDRESS: TypeId = 9;
    pub const JWT: TypeId = 10;
    pub const API_KEY: TypeId = 11;
    pub const PRIVATE_KEY: TypeId = 12;
    pub const PASSWORD: TypeId = 13;
    pub const HEALTH_DATA: TypeId = 14;
    pub const CREDENTIALS: TypeId = 15;

    /// Number of built-in types; custom types start at this index.
    pub const COUNT: usize = 16;
}

use Compliance::{Ccpa, Gdpr, Hipaa, PciDss};
use Sensitivity::{Critical, High, Low, Medium};

/// Name, default sensitivity and default compliance of each built-in type,
/// in [`builtin`] index order.
const BUILTIN_TYPES: [(&str, Sensitivity, &[Compliance]); builtin::COUNT] = [
    ("card_number", Critical, &[PciDss]),
    ("iban", High, &[Gdpr]),
    ("us_ssn", Critical, &[Gdpr, Ccpa]),
    ("email", Medium, &[Gdpr, Ccpa]),
    ("phone_number", Medium, &[Gdpr, Ccpa]),
    ("date_of_birth", High, &[Gdpr, Hipaa]),
    ("postal_address", Medium, &[Gdpr, Ccpa]),
    ("person_name", Medium, &[Gdpr]),
    ("national_id", High, &[Gdpr]),
    ("ip_address", Low, &[Gdpr]),
    ("jwt", High, &[]),
    ("api_key", Critical, &[]),
    ("private_key", Critical, &[]),
    ("password", Critical, &[]),
    ("health_data", High, &[Hipaa]),
    ("credentials", Critical, &[]),
];

/// Returns the index of the built-in type called `name`.
pub fn builtin_id(name: &str) -> Option<TypeId> {
    BUILTIN_TYPES
        .iter()
        .position(|(builtin_name, _, _)| *builtin_name == name)
        .map(|index| index as TypeId)
}

/// Returns the names of the built-in types, in index order.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN_TYPES.iter().map(|(name, _, _)| *name)
}

/// A data type as a classifier reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataTypeInfo {
    pub name: String,
    pub sensitivity: Sensitivity,
    pub compliance: Vec<Compliance>,
    /// False for types defined in the configuration's `custom` list.
    pub builtin: bool,
    /// False when the configuration's `disabled` list names the type.
    pub enabled: bool,
}

/// The data types of one classifier, indexed by [`TypeId`].
#[derive(Clone, Debug)]
pub struct Registry {
    types: Vec<DataTypeInfo>,
}

impl Registry {
    /// Returns the built-in types with their defaults, all enabled.
    pub fn builtin() -> Self {
        let types = BUILTIN_TYPES
            .iter()
            .map(|(name, sensitivity, compliance)| DataTypeInfo {
                name: (*name).to_string(),
                sensitivity: *sensitivity,
                compliance: compliance.to_vec(),
                builtin: true,
                enabled: true,
            })
            .collect();
        Self { types }
    }

    /// Appends a custom type and returns its index.
    pub fn add_custom(
        &mut self,
        name: &str,
        sensitivity: Sensitivity,
        compliance: Vec<Compliance>,
    ) -> TypeId {
        self.types.push(DataTypeInfo {
            name: name.to_string(),
            sensitivity,
            compliance,
            builtin: false,
            enabled: true,
        });
        (self.types.len() - 1) as TypeId
    }

    pub fn id(&self, name: &str) -> Option<TypeId> {
        self.types
            .iter()
            .position(|info| info.name == name)
            .map(|index| index as TypeId)
    }

    pub fn get_mut(&mut self, id: TypeId) -> &mut DataTypeInfo {
        &mut self.types[usize::from(id)]
    }

    pub fn enabled(&self, id: TypeId) -> bool {
        self.types[usize::from(id)].enabled
    }

    pub fn label(&self, id: TypeId) -> TypeLabel<'_> {
        let info = &self.types[usize::from(id)];
        TypeLabel {
            name: &info.name,
            sensitivity: info.sensitivity,
            compliance: &info.compliance,
        }
    }

    pub fn all(&self) -> &[DataTypeInfo] {
        &self.types
    }
}
