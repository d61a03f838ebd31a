//! Spin's `{{ variable }}` templates, as used in component variables and in
//! `allowed_outbound_hosts`.

use std::collections::BTreeMap;

use thiserror::Error;

/// A template that failed to parse or to resolve.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TemplateError {
    /// A `{{` without a matching `}}`.
    #[error("invalid variable template: unmatched '{{{{' in template")]
    Unmatched,
    /// The template names a variable the application does not declare.
    #[error("invalid variable template: unknown variable {0:?}")]
    UnknownVariable(String),
}

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

/// A parsed template: literal text and `{{ name }}` references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses a template the way Spin does (expressions are trimmed, nothing
    /// else is validated here).
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            if let Some(after_open) = rest.strip_prefix("{{") {
                let (expr, after_close) = after_open
                    .split_once("}}")
                    .ok_or(TemplateError::Unmatched)?;
                parts.push(Part::Variable(expr.trim().to_owned()));
                rest = after_close;
            } else {
                let end = rest.find("{{").unwrap_or(rest.len());
                parts.push(Part::Literal(rest[..end].to_owned()));
                rest = &rest[end..];
            }
        }
        Ok(Self { parts })
    }

    /// Whether the template contains no variable reference.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The variable names the template refers to.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Substitutes the application variables' values.
    pub fn resolve(&self, values: &BTreeMap<String, String>) -> Result<String, TemplateError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(
                    values
                        .get(name)
                        .ok_or_else(|| TemplateError::UnknownVariable(name.clone()))?,
                ),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves_like_spin() {
        let values = BTreeMap::from([("host".to_owned(), "example.com".to_owned())]);
        let template =
            Template::parse("https://{{ host }}:{{host}}/").unwrap_or_else(|e| panic!("{e}"));
        assert!(!template.is_literal());
        assert_eq!(template.variables().collect::<Vec<_>>(), ["host", "host"]);
        assert_eq!(
            template.resolve(&values),
            Ok("https://example.com:example.com/".to_owned())
        );
        assert!(Template::parse("plain").is_ok_and(|t| t.is_literal()));
        assert_eq!(Template::parse("{{ open"), Err(TemplateError::Unmatched));
        assert_eq!(
            Template::parse("{{ nope }}").and_then(|t| t.resolve(&values)),
            Err(TemplateError::UnknownVariable("nope".to_owned()))
        );
    }
}
