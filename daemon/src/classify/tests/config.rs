use super::*;

fn custom(name: &str) -> CustomType {
    CustomType {
        name: name.to_string(),
        sensitivity: Sensitivity::High,
        compliance: vec![Compliance::Gdpr],
        regex: None,
        keywords: Vec::new(),
        field_names: Vec::new(),
        validator: None,
    }
}

fn config_error(config: &ClassifierConfig) -> ClassifierConfigError {
    match Classifier::new(config, Fingerprinter::from_key(TEST_KEY)) {
        Ok(_) => panic!("configuration should be rejected: {config:?}"),
        Err(error) => error,
    }
}

#[test]
fn default_budget_is_256_kib() {
    assert_eq!(
        ClassifierConfig::default().scan_budget_bytes,
        256 * 1024,
        "default budget"
    );
}

#[test]
fn config_parses_from_toml() {
    let text = r#"
        disabled = ["ip_address"]
        scan_budget_bytes = 1024

        [[overrides]]
        name = "email"
        sensitivity = "high"
        compliance = ["gdpr", "hipaa"]

        [[custom]]
        name = "employee_id"
        sensitivity = "medium"
        regex = 'EMP-\d{6}'
    "#;
    let config: ClassifierConfig = toml::from_str(text).expect("valid TOML");
    assert_eq!(config.disabled, ["ip_address"], "disabled");
    assert_eq!(config.scan_budget_bytes, 1024, "budget");
    assert_eq!(
        config.overrides[0].compliance,
        Some(vec![Compliance::Gdpr, Compliance::Hipaa]),
        "override"
    );
    assert_eq!(
        config.custom[0].regex.as_deref(),
        Some(r"EMP-\d{6}"),
        "custom regex"
    );
}

#[test]
fn config_rejects_unknown_keys() {
    let error =
        toml::from_str::<ClassifierConfig>("disable = [\"email\"]").expect_err("typo in key");
    assert!(
        error.to_string().contains("disable"),
        "message names the key: {error}"
    );
}

#[test]
fn unknown_builtin_rejected() {
    let config = ClassifierConfig {
        disabled: vec!["email".into(), "credit_card".into()],
        ..ClassifierConfig::default()
    };
    let error = config_error(&config);
    assert_eq!(error.key, "disabled[1]", "key");
    assert!(
        error.reason.contains("credit_card"),
        "reason names the value: {error}"
    );
    assert!(
        error.reason.contains("card_number"),
        "reason lists known types: {error}"
    );
}

#[test]
fn bad_regex_names_key_and_reason() {
    let mut bad = custom("order_code");
    bad.regex = Some("ORD-(\\d+".into());
    let config = ClassifierConfig {
        custom: vec![custom("a"), custom("b"), bad],
        ..ClassifierConfig::default()
    };
    let mut config = config;
    config.custom[0].field_names = vec!["a".into()];
    config.custom[1].field_names = vec!["b".into()];

    let error = config_error(&config);
    assert_eq!(error.key, "custom[2].regex", "key");
    assert!(error.reason.contains("invalid regex"), "reason: {error}");
    assert!(
        error.to_string().contains("custom[2].regex"),
        "message: {error}"
    );
}

#[test]
fn empty_matching_regex_rejected() {
    let mut definition = custom("anything");
    definition.regex = Some("x*".into());
    let error = config_error(&ClassifierConfig {
        custom: vec![definition],
        ..ClassifierConfig::default()
    });
    assert_eq!(error.key, "custom[0].regex", "key");
    assert!(error.reason.contains("empty string"), "reason: {error}");
}

#[test]
fn unknown_validator_rejected() {
    let mut definition = custom("order_code");
    definition.regex = Some("\\d{8}".into());
    definition.validator = Some("crc32".into());
    let error = config_error(&ClassifierConfig {
        custom: vec![definition],
        ..ClassifierConfig::default()
    });
    assert_eq!(error.key, "custom[0].validator", "key");
    assert!(error.reason.contains("crc32"), "reason: {error}");
}

#[test]
fn empty_custom_type_rejected() {
    let error = config_error(&ClassifierConfig {
        custom: vec![custom("nothing")],
        ..ClassifierConfig::default()
    });
    assert_eq!(error.key, "custom[0]", "key");
    assert!(
        error.reason.contains("regex, keywords or field_names"),
        "reason: {error}"
    );
}

#[test]
fn custom_name_clash_rejected() {
    let mut definition = custom("email");
    definition.field_names = vec!["mail".into()];
    let error = config_error(&ClassifierConfig {
        custom: vec![definition],
        ..ClassifierConfig::default()
    });
    assert_eq!(error.key, "custom[0].name", "key");
}

#[test]
fn zero_budget_rejected() {
    let error = config_error(&ClassifierConfig {
        scan_budget_bytes: 0,
        ..ClassifierConfig::default()
    });
    assert_eq!(error.key, "scan_budget_bytes", "key");
}

#[test]
fn custom_regex_with_validator() {
    let mut definition = custom("loyalty_card");
    definition.regex = Some(r"\bLC\d{10}\b".into());
    definition.validator = Some("luhn".into());
    let classifier = classifier_with(&ClassifierConfig {
        custom: vec![definition],
        ..ClassifierConfig::default()
    });

    // 1234567897 passes Luhn; 1234567890 does not.
    let types = text_types(&classifier, "member LC1234567897 and LC1234567890");
    assert_eq!(types, ["loyalty_card"], "valid match");
    let result = scan_body(
        &classifier,
        "text/plain",
        b"member LC1234567897 and LC1234567890",
    );
    assert_eq!(result.findings[0].count, 1, "only the valid one");
    assert_eq!(
        result.findings[0].sensitivity,
        Sensitivity::High,
        "configured sensitivity"
    );
}

#[test]
fn custom_regex_needs_context() {
    let mut definition = custom("employee_id");
    definition.regex = Some(r"\bE\d{6}\b".into());
    definition.field_names = vec!["employeeId".into()];
    definition.keywords = vec!["employee".into()];
    let classifier = classifier_with(&ClassifierConfig {
        custom: vec![definition],
        ..ClassifierConfig::default()
    });

    assert_eq!(
        field_types(&classifier, "employee_id", "\"E123456\""),
        ["employee_id"],
        "field name"
    );
    assert_eq!(
        text_types(&classifier, "Employee number: E123456"),
        ["employee_id"],
        "keyword"
    );
    assert!(
        text_types(&classifier, "part E123456").is_empty(),
        "no context"
    );
}

#[test]
fn custom_field_names_and_keywords() {
    let mut by_field = custom("member_code");
    by_field.field_names = vec!["member_code".into()];
    let mut by_keyword = custom("project_name");
    by_keyword.keywords = vec!["Project Falcon".into()];
    let classifier = classifier_with(&ClassifierConfig {
        custom: vec![by_field, by_keyword],
        ..ClassifierConfig::default()
    });

    assert_eq!(
        field_types(&classifier, "memberCode", "\"abc\""),
        ["member_code"],
        "field name"
    );
    assert_eq!(
        text_types(&classifier, "status of project falcon"),
        ["project_name"],
        "keyword"
    );
}

#[test]
fn disabled_type_not_reported() {
    let classifier = classifier_with(&ClassifierConfig {
        disabled: vec!["email".into()],
        ..ClassifierConfig::default()
    });
    assert!(
        text_types(&classifier, "ada@example.com").is_empty(),
        "email disabled"
    );
    let email = classifier
        .data_types()
        .into_iter()
        .find(|info| info.name == "email");
    assert_eq!(
        email.map(|info| info.enabled),
        Some(false),
        "listed as disabled"
    );
}

#[test]
fn override_changes_finding() {
    let classifier = classifier_with(&ClassifierConfig {
        overrides: vec![TypeOverride {
            name: "email".into(),
            sensitivity: Some(Sensitivity::Critical),
            compliance: Some(vec![Compliance::Hipaa]),
        }],
        ..ClassifierConfig::default()
    });
    let result = scan_body(&classifier, "text/plain", b"ada@example.com");
    assert_eq!(
        result.findings[0].sensitivity,
        Sensitivity::Critical,
        "sensitivity"
    );
    assert_eq!(
        result.findings[0].compliance,
        [Compliance::Hipaa],
        "compliance"
    );
}

#[test]
fn data_types_lists_builtin_and_custom() {
    let mut definition = custom("member_code");
    definition.field_names = vec!["member_code".into()];
    let classifier = classifier_with(&ClassifierConfig {
        custom: vec![definition],
        ..ClassifierConfig::default()
    });
    let types = classifier.data_types();
    assert_eq!(types.len(), 17, "16 built-in and 1 custom");
    assert!(
        types[..16].iter().all(|info| info.builtin),
        "built-in first"
    );
    assert_eq!(types[16].name, "member_code", "custom last");
    assert!(!types[16].builtin, "custom flag");
    let card = types.iter().find(|info| info.name == "card_number");
    assert_eq!(
        card.map(|info| info.compliance.clone()),
        Some(vec![Compliance::PciDss]),
        "card compliance"
    );
}

#[test]
fn compliance_names() {
    assert_eq!("pci".parse::<Compliance>(), Ok(Compliance::PciDss), "pci");
    assert_eq!(
        "GDPR".parse::<Compliance>(),
        Ok(Compliance::Gdpr),
        "case ignored"
    );
    assert!("sox".parse::<Compliance>().is_err(), "unknown");
    let json =
        serde_json::to_string(&[Compliance::PciDss, Compliance::Ccpa]).expect("serialisable");
    assert_eq!(json, r#"["pci","ccpa"]"#, "serialised names");
    let json = serde_json::to_string(&Sensitivity::Critical).expect("serialisable");
    assert_eq!(json, r#""critical""#, "sensitivity name");
    assert!(Sensitivity::Critical > Sensitivity::High, "ordering");
}
