//! The Spin variables a stack gives the service.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use super::error::StackError;
use super::options::{Parents, StackOptions, WebhookAuth};

/// Secrets and identifiers generated afresh for every stack.
#[derive(Clone)]
pub(crate) struct Generated {
    pub admin_token: String,
    pub webhook_token: String,
    pub webhook_secret: String,
    pub broker_api_key: String,
    pub broker_api_secret: String,
    pub rtc_app_id: String,
    pub rtc_app_key: String,
}

impl Generated {
    pub fn new() -> Result<Self, StackError> {
        let generate = super::secret::generate;
        Ok(Self {
            admin_token: generate()?,
            webhook_token: generate()?,
            webhook_secret: generate()?,
            broker_api_key: generate()?,
            broker_api_secret: generate()?,
            rtc_app_id: generate()?,
            rtc_app_key: generate()?,
        })
    }
}

/// The variables declared in `spin.toml`: name → whether it is a secret.
#[derive(Debug, Clone, Default)]
pub(crate) struct Declared {
    secret: BTreeMap<String, bool>,
}

impl Declared {
    /// Reads `[variables]` from the manifest.
    pub fn read(manifest: &Path) -> Result<Self, StackError> {
        let text = fs::read_to_string(manifest).map_err(|source| {
            StackError::io(format!("cannot read {}", manifest.display()), source)
        })?;
        Self::parse(&text).map_err(|reason| {
            StackError::InvalidOption(format!("{}: {reason}", manifest.display()))
        })
    }

    fn parse(text: &str) -> Result<Self, String> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        let variables = table
            .get("variables")
            .and_then(toml::Value::as_table)
            .ok_or("no [variables] table")?;
        let secret = variables
            .iter()
            .map(|(name, spec)| {
                let is_secret = spec
                    .get("secret")
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(false);
                (name.clone(), is_secret)
            })
            .collect();
        Ok(Self { secret })
    }

    /// The names of the secret variables.
    pub fn secret_names(&self) -> BTreeSet<String> {
        self.secret
            .iter()
            .filter(|(_, secret)| **secret)
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn check(&self, name: &str) -> Result<(), StackError> {
        if self.secret.contains_key(name) {
            Ok(())
        } else {
            Err(StackError::InvalidOption(format!(
                "variable {name:?} is not declared in spin.toml [variables]"
            )))
        }
    }
}

/// The full variable set: what the stack generates and wires together,
/// then the caller's overrides, which must be declared in `spin.toml`.
pub(crate) fn stack_variables(
    declared: &Declared,
    options: &StackOptions,
    generated: &Generated,
    bridge_api_url: &str,
) -> Result<BTreeMap<String, String>, StackError> {
    let (token, secret) = match options.webhook_auth {
        WebhookAuth::Token => (generated.webhook_token.as_str(), ""),
        WebhookAuth::Signature => ("", generated.webhook_secret.as_str()),
        WebhookAuth::Both => (
            generated.webhook_token.as_str(),
            generated.webhook_secret.as_str(),
        ),
    };
    let Parents {
        upstream,
        downstream,
        bulk,
    } = &options.parents;
    let mut variables: BTreeMap<String, String> = [
        ("admin_token", generated.admin_token.as_str()),
        ("webhook_token", token),
        ("webhook_secret", secret),
        ("broker_api", "emqx"),
        ("broker_api_url", bridge_api_url),
        ("broker_api_key", generated.broker_api_key.as_str()),
        ("broker_api_secret", generated.broker_api_secret.as_str()),
        ("rtc_app_id", generated.rtc_app_id.as_str()),
        ("rtc_app_key", generated.rtc_app_key.as_str()),
        ("upstream_parent", upstream.as_str()),
        ("downstream_parent", downstream.as_str()),
        ("bulk_parent", bulk.as_str()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    for (name, value) in &options.variables {
        declared.check(name)?;
        variables.insert(name.clone(), value.clone());
    }
    Ok(variables)
}

/// The parents in effect after overrides.
pub(crate) fn effective_parents(variables: &BTreeMap<String, String>, base: &Parents) -> Parents {
    let pick = |name: &str, fallback: &String| {
        variables
            .get(name)
            .cloned()
            .unwrap_or_else(|| fallback.clone())
    };
    Parents {
        upstream: pick("upstream_parent", &base.upstream),
        downstream: pick("downstream_parent", &base.downstream),
        bulk: pick("bulk_parent", &base.bulk),
    }
}

/// `SPIN_VARIABLE_<NAME>` environment entries for the runtime.
pub(crate) fn spin_env(variables: &BTreeMap<String, String>) -> Vec<(String, String)> {
    variables
        .iter()
        .map(|(name, value)| {
            (
                format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
                value.clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
        spin_manifest_version = 2
        [variables]
        admin_token = { required = true, secret = true }
        ring_timeout_seconds = { default = "30" }
        upstream_parent = { default = "sig-up" }
    "#;

    fn generated() -> Generated {
        Generated {
            admin_token: "admin".into(),
            webhook_token: "wtoken".into(),
            webhook_secret: "wsecret".into(),
            broker_api_key: "key".into(),
            broker_api_secret: "secret".into(),
            rtc_app_id: "app".into(),
            rtc_app_key: "appkey".into(),
        }
    }

    #[test]
    fn the_manifest_declares_names_and_secrets() {
        let declared = Declared::parse(MANIFEST).expect("parse");
        assert_eq!(
            declared.secret_names(),
            BTreeSet::from(["admin_token".to_owned()])
        );
        assert!(Declared::parse("[application]\nname = 'x'").is_err());
    }

    #[test]
    fn the_real_manifest_parses() {
        let workspace = super::super::Workspace::locate().expect("workspace");
        let declared = Declared::read(&workspace.spin_manifest()).expect("spin.toml");
        assert!(declared.secret_names().contains("admin_token"));
        assert!(declared.check("ring_timeout_seconds").is_ok());
    }

    #[test]
    fn overrides_win_and_must_be_declared() {
        let declared = Declared::parse(MANIFEST).expect("parse");
        let options = StackOptions::default()
            .variable("ring_timeout_seconds", "2")
            .variable("upstream_parent", "up2");
        let vars =
            stack_variables(&declared, &options, &generated(), "http://127.0.0.1:9").expect("vars");
        assert_eq!(vars["ring_timeout_seconds"], "2");
        assert_eq!(vars["broker_api_url"], "http://127.0.0.1:9");
        assert_eq!(vars["admin_token"], "admin");
        assert_eq!(
            effective_parents(&vars, &Parents::default()).upstream,
            "up2"
        );

        let typo = StackOptions::default().variable("ring_timeout", "2");
        let error = stack_variables(&declared, &typo, &generated(), "x").expect_err("typo");
        assert!(error.to_string().contains("ring_timeout"));
    }

    #[test]
    fn webhook_auth_mode_chooses_what_the_service_accepts() {
        let declared = Declared::parse(MANIFEST).expect("parse");
        let cases = [
            (WebhookAuth::Token, "wtoken", ""),
            (WebhookAuth::Signature, "", "wsecret"),
            (WebhookAuth::Both, "wtoken", "wsecret"),
        ];
        for (mode, token, secret) in cases {
            let options = StackOptions::default().webhook_auth(mode);
            let vars = stack_variables(&declared, &options, &generated(), "x").expect("vars");
            assert_eq!(vars["webhook_token"], token, "{mode:?}");
            assert_eq!(vars["webhook_secret"], secret, "{mode:?}");
        }
    }

    #[test]
    fn variables_become_upper_case_spin_env() {
        let vars = BTreeMap::from([("ring_timeout_seconds".to_owned(), "2".to_owned())]);
        assert_eq!(
            spin_env(&vars),
            [(
                "SPIN_VARIABLE_RING_TIMEOUT_SECONDS".to_owned(),
                "2".to_owned()
            )]
        );
    }
}
