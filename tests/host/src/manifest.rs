//! Loading and validating a Spin application manifest (`spin.toml`,
//! `spin_manifest_version = 2`).
//!
//! Only the subset Switchboard uses is accepted; any other field is refused
//! with an error naming it, so the host never runs an application whose
//! meaning it would silently change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::allowed_hosts::{AllowedHostConfig, AllowedHostsError};
use crate::identifiers::{is_kebab_id, is_store_label, validate_variable_name};
use crate::template::{Template, TemplateError};

/// Why a manifest cannot be used.
#[derive(Debug, Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read manifest {path}")]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a manifest this host understands.
    #[error("invalid manifest {path}: {message}")]
    Parse {
        /// The manifest path.
        path: PathBuf,
        /// What the TOML parser reported.
        message: String,
    },
    /// The manifest parses but breaks one of Spin's rules.
    #[error("invalid manifest {path}: {message}")]
    Invalid {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// An application variable declared in `[variables]`.
#[derive(Clone, PartialEq, Eq)]
pub struct VariableDecl {
    /// The default value, if any (absent for required variables).
    pub default: Option<String>,
    /// Whether a value must be supplied at run time.
    pub required: bool,
    /// Whether the value is sensitive.
    pub secret: bool,
}

impl std::fmt::Debug for VariableDecl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let default = match (&self.default, self.secret) {
            (Some(_), true) => Some("<redacted>"),
            (Some(value), false) => Some(value.as_str()),
            (None, _) => None,
        };
        f.debug_struct("VariableDecl")
            .field("default", &default)
            .field("required", &self.required)
            .field("secret", &self.secret)
            .finish()
    }
}

/// One entry of `allowed_outbound_hosts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedHostEntry {
    /// A literal entry, already validated (as `spin up` does at start).
    Literal(AllowedHostConfig),
    /// An entry using `{{ variable }}` templates, resolved when the host starts.
    Templated(Template),
}

/// A component declared in `[component.<id>]`.
#[derive(Clone, Debug)]
pub struct ComponentDecl {
    /// The component ID.
    pub id: String,
    /// The absolute path of the Wasm file.
    pub source: PathBuf,
    /// The human-readable description (printed next to its routes).
    pub description: String,
    /// Component variables: name → template over application variables.
    pub variables: BTreeMap<String, Template>,
    /// `allowed_outbound_hosts`, in manifest order.
    pub allowed_outbound_hosts: Vec<AllowedHostEntry>,
    /// `key_value_stores` labels the component may open.
    pub key_value_stores: Vec<String>,
}

/// One `[[trigger.http]]` entry with a routable path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTrigger {
    /// The route as written (`/v1/health`, `/v1/users/...`).
    pub route: String,
    /// The component handling it.
    pub component: String,
}

/// A validated Spin manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// Where the manifest was read from.
    pub path: PathBuf,
    /// The folder holding the manifest (sources are relative to it).
    pub dir: PathBuf,
    /// `[application] name`.
    pub name: String,
    /// `[variables]`.
    pub variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.http]]` entries, in manifest order (private ones left out).
    pub http_triggers: Vec<HttpTrigger>,
    /// `[component.<id>]` tables by ID.
    pub components: BTreeMap<String, ComponentDecl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: i64,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(rename = "trigger", default)]
    triggers: BTreeMap<String, Vec<RawHttpTrigger>>,
    #[serde(rename = "component", default)]
    components: BTreeMap<String, RawComponent>,
}

/// Keys that carry no meaning for `spin up` and are accepted without effect.
const IGNORED_APPLICATION_KEYS: &[&str] = &["version", "description", "authors"];
const IGNORED_VARIABLE_KEYS: &[&str] = &["description"];
const IGNORED_TRIGGER_KEYS: &[&str] = &["id"];
const IGNORED_COMPONENT_KEYS: &[&str] = &["build"];

#[derive(Deserialize)]
struct RawApplication {
    name: String,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct RawVariable {
    #[serde(default)]
    required: bool,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    secret: bool,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: String,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
struct RawComponent {
    source: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

/// Refuses any key of `table` this host does not implement, except the
/// `ignored` ones, which `spin up` does not act on either.
fn reject_unsupported(
    table: &str,
    other: &BTreeMap<String, toml::Value>,
    ignored: &[&str],
) -> Result<(), String> {
    match other.keys().find(|k| !ignored.contains(&k.as_str())) {
        Some(key) => Err(format!(
            "`{key}` in {table} is not supported by switchboard-host"
        )),
        None => Ok(()),
    }
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        let path = std::path::absolute(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path)
    }

    /// Validates manifest `text` as if it had been read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        let invalid = |message: String| ManifestError::Invalid {
            path: path.to_owned(),
            message,
        };
        if raw.spin_manifest_version != 2 {
            return Err(invalid(format!(
                "spin_manifest_version must be 2, found {}",
                raw.spin_manifest_version
            )));
        }
        let dir = path.parent().map(Path::to_owned).unwrap_or_default();
        reject_unsupported(
            "[application]",
            &raw.application.other,
            IGNORED_APPLICATION_KEYS,
        )
        .map_err(&invalid)?;

        let variables = raw
            .variables
            .into_iter()
            .map(|(name, var)| {
                validate_variable_name(&name).map_err(|e| invalid(format!("variable {e}")))?;
                reject_unsupported(&format!("variable {name:?}"), &var.other, IGNORED_VARIABLE_KEYS)
                    .map_err(&invalid)?;
                if var.required == var.default.is_some() {
                    return Err(invalid(format!(
                        "variable {name:?} must either be `required = true` or have a `default`, not both or neither"
                    )));
                }
                let decl = VariableDecl {
                    default: var.default,
                    required: var.required,
                    secret: var.secret,
                };
                Ok((name, decl))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;

        let components = raw
            .components
            .into_iter()
            .map(|(id, component)| {
                let decl = component_decl(&id, component, &dir, &variables).map_err(&invalid)?;
                Ok((id, decl))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;

        let mut http_triggers = Vec::new();
        for (trigger_type, triggers) in raw.triggers {
            if trigger_type != "http" {
                return Err(invalid(format!(
                    "trigger type {trigger_type:?} is not supported by switchboard-host (only \"http\")"
                )));
            }
            for trigger in triggers {
                reject_unsupported("[[trigger.http]]", &trigger.other, IGNORED_TRIGGER_KEYS)
                    .map_err(&invalid)?;
                if !components.contains_key(&trigger.component) {
                    return Err(invalid(format!(
                        "trigger refers to unknown component {:?}",
                        trigger.component
                    )));
                }
                match trigger.route {
                    RawRoute::Path(route) => http_triggers.push(HttpTrigger {
                        route,
                        component: trigger.component,
                    }),
                    RawRoute::Private { private: true } => {}
                    RawRoute::Private { private: false } => {
                        return Err(invalid(format!(
                            "route must be a string pattern or '{{ private = true }}': component '{}' has {{ private = false }}",
                            trigger.component
                        )));
                    }
                }
            }
        }

        Ok(Self {
            path: path.to_owned(),
            dir,
            name: raw.application.name,
            variables,
            http_triggers,
            components,
        })
    }
}

fn component_decl(
    id: &str,
    raw: RawComponent,
    dir: &Path,
    app_variables: &BTreeMap<String, VariableDecl>,
) -> Result<ComponentDecl, String> {
    if !is_kebab_id(id) {
        return Err(format!("component ID {id:?} is not kebab-case"));
    }
    reject_unsupported(
        &format!("[component.{id}]"),
        &raw.other,
        IGNORED_COMPONENT_KEYS,
    )?;
    let parse_template = |source: &str| -> Result<Template, String> {
        let template = Template::parse(source).map_err(|e| format!("component {id:?}: {e}"))?;
        if let Some(unknown) = template
            .variables()
            .find(|name| !app_variables.contains_key(*name))
        {
            let e = TemplateError::UnknownVariable(unknown.to_owned());
            return Err(format!("component {id:?}: {e}"));
        }
        Ok(template)
    };

    let variables = raw
        .variables
        .iter()
        .map(|(name, value)| {
            validate_variable_name(name)
                .map_err(|e| format!("component {id:?}: invalid variable name: {e}"))?;
            Ok((name.clone(), parse_template(value)?))
        })
        .collect::<Result<BTreeMap<_, _>, String>>()?;

    if raw.allowed_outbound_hosts.len() == 1
        && raw.allowed_outbound_hosts[0] == "insecure:allow-all"
    {
        return Err(format!(
            "component {id:?}: 'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic'"
        ));
    }
    let allowed_outbound_hosts = raw
        .allowed_outbound_hosts
        .iter()
        .map(|entry| {
            let template = Template::parse(entry).map_err(|e| format!("component {id:?}: {e}"))?;
            if template.is_literal() {
                AllowedHostConfig::parse(entry)
                    .map(AllowedHostEntry::Literal)
                    .map_err(|e: AllowedHostsError| format!("component {id:?}: {e}"))
            } else {
                Ok(AllowedHostEntry::Templated(template))
            }
        })
        .collect::<Result<Vec<_>, String>>()?;

    if let Some(bad) = raw.key_value_stores.iter().find(|l| !is_store_label(l)) {
        return Err(format!(
            "component {id:?}: key-value store label {bad:?} is not kebab-case or snake_case"
        ));
    }

    Ok(ComponentDecl {
        id: id.to_owned(),
        source: dir.join(&raw.source),
        description: raw.description,
        variables,
        allowed_outbound_hosts,
        key_value_stores: raw.key_value_stores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "app"
[variables]
api_url = { default = "http://127.0.0.1:9" }
token = { required = true, secret = true }
hmac_key = { default = "s3cr3t", secret = true }
[[trigger.http]]
route = "/..."
component = "web"
[[trigger.http]]
route = { private = true }
component = "web"
[component.web]
source = "web.wasm"
key_value_stores = ["default"]
allowed_outbound_hosts = ["{{ api_url }}", "https://*.example.com"]
[component.web.variables]
token = "Bearer {{ token }}"
[component.web.build]
command = "cargo build"
"#;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("/apps/demo/spin.toml"))
    }

    #[test]
    fn accepts_the_switchboard_subset() {
        let manifest = parse(GOOD).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(manifest.name, "app");
        assert_eq!(manifest.dir, Path::new("/apps/demo"));
        assert_eq!(
            manifest.http_triggers,
            [HttpTrigger {
                route: "/...".into(),
                component: "web".into()
            }]
        );
        let web = &manifest.components["web"];
        assert_eq!(web.source, Path::new("/apps/demo/web.wasm"));
        assert_eq!(web.key_value_stores, ["default"]);
        assert!(matches!(
            web.allowed_outbound_hosts[..],
            [AllowedHostEntry::Templated(_), AllowedHostEntry::Literal(_)]
        ));
        assert!(manifest.variables["token"].required);
        let debug = format!("{:?}", manifest.variables);
        assert!(
            !debug.contains("s3cr3t") && debug.contains("<redacted>"),
            "{debug}"
        );
    }

    fn rejects(text: &str, needle: &str) {
        match parse(text) {
            Ok(_) => panic!("accepted a manifest that should mention {needle:?}"),
            Err(e) => assert!(e.to_string().contains(needle), "{e}"),
        }
    }

    #[test]
    fn rejects_what_spin_rejects() {
        rejects(&GOOD.replace("= 2", "= 1"), "spin_manifest_version");
        rejects(
            &GOOD.replace(
                "required = true, secret",
                "required = true, default = \"x\", secret",
            ),
            "not both",
        );
        rejects(
            &GOOD.replace("{{ token }}", "{{ nope }}"),
            "unknown variable",
        );
        rejects(
            &GOOD.replace("\"web\"\n[[", "\"nope\"\n[["),
            "unknown component",
        );
        rejects(
            &GOOD.replace("https://*.example.com", "http://host/api"),
            "must not contain paths",
        );
        rejects(&GOOD.replace("[\"default\"]", "[\"Default\"]"), "label");
        rejects(&GOOD.replace("source =", "files = []\nsource ="), "files");
        rejects(
            &GOOD.replace(
                "[[trigger.http]]\nroute = \"/...\"",
                "[[trigger.redis]]\nroute = \"/...\"",
            ),
            "redis",
        );
    }
}
