//! Application and component variables, resolved as `spin up` does with its
//! default provider (the environment, `SPIN_VARIABLE_<NAME>`), and the host
//! side of `fermyon:spin/variables@2.0.0`.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::bindings::fermyon::spin2_0_0::variables as spin_variables;
use crate::identifiers::validate_variable_name;
use crate::manifest::Manifest;
use crate::state::HostState;
use crate::template::TemplateError;

/// The prefix of the environment variables that set application variables.
pub const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// Why the variables cannot be resolved.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VariablesError {
    /// Required variables have no value.
    #[error("no value for required variable(s) {}: set {}", .names.join(", "), .env.join(", "))]
    MissingRequired {
        /// The variable names.
        names: Vec<String>,
        /// The environment variables that would set them.
        env: Vec<String>,
    },
    /// A component variable's template could not be resolved.
    #[error("component {component:?}, variable {name:?}")]
    Template {
        /// The component.
        component: String,
        /// The component variable.
        name: String,
        /// The template error.
        source: TemplateError,
    },
}

/// Variable values, whose `Debug` output never shows them (they may be secrets).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Values(BTreeMap<String, String>);

impl Values {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The underlying map (for template resolution).
    pub(crate) fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

/// The name of the environment variable that sets application variable `name`.
pub fn env_name(name: &str) -> String {
    format!("{ENV_PREFIX}{}", name.to_ascii_uppercase())
}

/// Resolves every application variable: the environment wins over the default;
/// a required variable without a value is an error.
pub fn resolve_application(
    manifest: &Manifest,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Values, VariablesError> {
    let mut values = BTreeMap::new();
    let mut missing = Vec::new();
    for (name, decl) in &manifest.variables {
        match env(&env_name(name)).or_else(|| decl.default.clone()) {
            Some(value) => {
                values.insert(name.clone(), value);
            }
            None => missing.push(name.clone()),
        }
    }
    if missing.is_empty() {
        Ok(Values(values))
    } else {
        Err(VariablesError::MissingRequired {
            env: missing.iter().map(|n| env_name(n)).collect(),
            names: missing,
        })
    }
}

/// Resolves the component variables of component `id` from the application's.
pub fn resolve_component(
    manifest: &Manifest,
    id: &str,
    application: &Values,
) -> Result<Values, VariablesError> {
    let Some(component) = manifest.components.get(id) else {
        return Ok(Values::default());
    };
    component
        .variables
        .iter()
        .map(|(name, template)| {
            template
                .resolve(application.as_map())
                .map(|value| (name.clone(), value))
                .map_err(|source| VariablesError::Template {
                    component: id.to_owned(),
                    name: name.clone(),
                    source,
                })
        })
        .collect::<Result<_, _>>()
        .map(Values)
}

impl spin_variables::Host for HostState {
    /// Spin validates the name, then looks up the component's own variables.
    async fn get(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<String, spin_variables::Error>> {
        if let Err(reason) = validate_variable_name(&name) {
            return Ok(Err(spin_variables::Error::InvalidName(reason)));
        }
        Ok(match self.component.variables.get(&name) {
            Some(value) => Ok(value.to_owned()),
            None => Err(spin_variables::Error::Undefined(format!(
                "no variable for {:?}.{name:?}",
                self.component.id
            ))),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "app"
[variables]
region = { default = "eu" }
token = { required = true, secret = true }
[component.web]
source = "web.wasm"
[component.web.variables]
url = "https://{{ region }}.example.com"
auth = "Bearer {{ token }}"
"#;

    fn manifest() -> Manifest {
        Manifest::parse(MANIFEST, Path::new("/app/spin.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn environment_overrides_defaults() {
        let env = |name: &str| match name {
            "SPIN_VARIABLE_TOKEN" => Some("s3cret".to_owned()),
            "SPIN_VARIABLE_REGION" => Some("us".to_owned()),
            _ => None,
        };
        let app = resolve_application(&manifest(), &env).unwrap_or_else(|e| panic!("{e}"));
        let web = resolve_component(&manifest(), "web", &app).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(web.get("url"), Some("https://us.example.com"));
        assert_eq!(web.get("auth"), Some("Bearer s3cret"));
        assert!(!format!("{web:?}").contains("s3cret"));
    }

    #[test]
    fn a_required_variable_without_value_is_an_error() {
        let err = resolve_application(&manifest(), &|_| None).err();
        assert_eq!(
            err,
            Some(VariablesError::MissingRequired {
                names: vec!["token".into()],
                env: vec!["SPIN_VARIABLE_TOKEN".into()],
            })
        );
    }
}
