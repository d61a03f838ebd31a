//! HTTP routing and the `spin-*` request headers, following Spin's
//! `spin-http` router (built on the same `routefinder` crate) and
//! `spin-trigger-http` header computation.
//!
//! Exact routes beat wildcards and the longest wildcard prefix wins; a route
//! ending in `/...` matches its prefix and everything below it. When two
//! triggers declare the same route, the last one wins (Spin warns, as this
//! host does).

use std::net::SocketAddr;

use http::{HeaderName, HeaderValue};
use thiserror::Error;

use crate::manifest::HttpTrigger;

/// A route that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("Error parsing route {route} associated with component {component}: {message}")]
pub struct RouteError {
    route: String,
    component: String,
    message: String,
}

#[derive(Clone, Debug)]
struct RouteHandler {
    component_id: String,
    /// The route as written in the manifest.
    raw_route: String,
    /// The route with the (always `/`) base applied.
    based_route: String,
    /// The prefix of a wildcard route, `None` for an exact route.
    wildcard_prefix: Option<String>,
}

/// The routing table of the application.
#[derive(Debug)]
pub struct Router {
    inner: routefinder::Router<RouteHandler>,
}

/// A route as printed at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteInfo {
    /// The component serving it.
    pub component_id: String,
    /// `/v1/health`, or `/v1/users (wildcard)` for a trailing wildcard.
    pub display: String,
}

/// The outcome of routing a request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch {
    /// The component to run.
    pub component_id: String,
    raw_route: String,
    based_route: String,
    path_info: String,
    named_wildcards: Vec<(String, String)>,
}

impl Router {
    /// Builds the table from the manifest's HTTP triggers; also returns the
    /// `(route, replaced component, effective component)` duplicates.
    #[allow(clippy::type_complexity)]
    pub fn build(
        triggers: &[HttpTrigger],
    ) -> Result<(Self, Vec<(String, String, String)>), RouteError> {
        let mut by_raw_route: Vec<RouteHandler> = Vec::new();
        let mut duplicates = Vec::new();
        for trigger in triggers {
            let based_route = based(&trigger.route);
            let wildcard_prefix = based_route
                .strip_suffix("/...")
                .or_else(|| based_route.strip_suffix("/*"))
                .map(str::to_owned);
            let handler = RouteHandler {
                component_id: trigger.component.clone(),
                raw_route: trigger.route.clone(),
                based_route,
                wildcard_prefix,
            };
            match by_raw_route
                .iter_mut()
                .find(|h| h.raw_route == handler.raw_route)
            {
                Some(existing) => {
                    duplicates.push((
                        handler.raw_route.clone(),
                        existing.component_id.clone(),
                        handler.component_id.clone(),
                    ));
                    *existing = handler;
                }
                None => by_raw_route.push(handler),
            }
        }

        let mut inner = routefinder::Router::new();
        for handler in by_raw_route {
            let spec = match handler.based_route.strip_suffix("/...") {
                Some(prefix) => format!("{prefix}/*"),
                None => handler.based_route.clone(),
            };
            let route_error = |message: String| RouteError {
                route: handler.based_route.clone(),
                component: handler.component_id.clone(),
                message,
            };
            inner.add(spec, handler.clone()).map_err(route_error)?;
        }
        Ok((Self { inner }, duplicates))
    }

    /// The routes in matching order, for the start-up listing.
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.inner
            .iter()
            .map(|(_, handler)| RouteInfo {
                component_id: handler.component_id.clone(),
                display: match &handler.wildcard_prefix {
                    Some(prefix) => format!("{prefix} (wildcard)"),
                    None => handler.based_route.clone(),
                },
            })
            .collect()
    }

    /// The best route for `path`, if any.
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let best = self.inner.best_match(path)?;
        let handler = best.handler();
        let captures = best.captures();
        // Spin keeps the trailing slash that routefinder drops.
        let path_info = match captures.wildcard() {
            None => String::new(),
            Some(rest) => match (rest.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            },
        };
        Some(RouteMatch {
            component_id: handler.component_id.clone(),
            raw_route: handler.raw_route.clone(),
            based_route: handler.based_route.clone(),
            path_info,
            named_wildcards: captures
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        })
    }
}

/// Applies the base (`/`) the way Spin does: make absolute, then strip one
/// trailing slash.
fn based(route: &str) -> String {
    let absolute = if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    };
    match absolute.strip_suffix('/') {
        Some(stripped) => stripped.to_owned(),
        None => absolute,
    }
}

impl RouteMatch {
    /// The headers Spin adds to the request a component receives, in Spin's
    /// order. `host` is the request's `Host` (Spin uses `localhost` without
    /// one) and `path_and_query` its target.
    pub fn spin_headers(
        &self,
        host: &str,
        path_and_query: &str,
        client_addr: SocketAddr,
    ) -> Vec<(String, String)> {
        let component_route = self
            .raw_route
            .strip_suffix("/...")
            .unwrap_or(&self.raw_route)
            .to_owned();
        let mut headers = vec![
            ("spin-path-info".to_owned(), self.path_info.clone()),
            (
                "spin-full-url".to_owned(),
                format!("http://{host}{path_and_query}"),
            ),
            ("spin-matched-route".to_owned(), self.based_route.clone()),
            ("spin-base-path".to_owned(), "/".to_owned()),
            (
                "spin-raw-component-route".to_owned(),
                self.raw_route.clone(),
            ),
            ("spin-component-route".to_owned(), component_route),
            ("spin-client-addr".to_owned(), client_addr.to_string()),
        ];
        headers.extend(self.named_wildcards.iter().map(|(name, value)| {
            (
                format!(
                    "spin-path-match-{}",
                    name.to_ascii_lowercase().replace('_', "-")
                ),
                value.clone(),
            )
        }));
        headers
    }
}

/// Appends `headers` to `map`, skipping any that are not valid HTTP (as Spin).
pub fn append_headers(map: &mut http::HeaderMap, headers: Vec<(String, String)>) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            name.parse::<HeaderName>(),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let triggers: Vec<_> = routes
            .iter()
            .map(|(route, component)| HttpTrigger {
                route: (*route).to_owned(),
                component: (*component).to_owned(),
            })
            .collect();
        Router::build(&triggers).unwrap_or_else(|e| panic!("{e}")).0
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component_id)
    }

    #[test]
    fn most_specific_route_wins() {
        let r = router(&[
            ("/...", "catch-all"),
            ("/v1/health", "health"),
            ("/v1/users/...", "users"),
            ("/v1/users/me/...", "me"),
        ]);
        assert_eq!(component(&r, "/v1/health").as_deref(), Some("health"));
        assert_eq!(component(&r, "/v1/health/x").as_deref(), Some("catch-all"));
        assert_eq!(component(&r, "/v1/users").as_deref(), Some("users"));
        assert_eq!(component(&r, "/v1/users/42").as_deref(), Some("users"));
        assert_eq!(component(&r, "/v1/users/me/x").as_deref(), Some("me"));
        assert_eq!(component(&r, "/").as_deref(), Some("catch-all"));
        assert_eq!(component(&router(&[("/a", "a")]), "/b"), None);
    }

    #[test]
    fn duplicates_keep_the_last() {
        let triggers = [
            HttpTrigger {
                route: "/x".into(),
                component: "first".into(),
            },
            HttpTrigger {
                route: "/x".into(),
                component: "second".into(),
            },
        ];
        let (r, duplicates) = Router::build(&triggers).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(component(&r, "/x").as_deref(), Some("second"));
        assert_eq!(duplicates, [("/x".into(), "first".into(), "second".into())]);
    }

    #[test]
    fn headers_match_spin() {
        let r = router(&[("/foo/...", "c")]);
        let addr: SocketAddr = "127.0.0.1:8777".parse().unwrap_or_else(|e| panic!("{e}"));
        let m = r.route("/foo/bar").unwrap_or_else(|| panic!("no match"));
        let headers = m.spin_headers("fermyon.dev", "/foo/bar?key1=value1", addr);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("spin-full-url"),
            Some("http://fermyon.dev/foo/bar?key1=value1")
        );
        assert_eq!(get("spin-path-info"), Some("/bar"));
        assert_eq!(get("spin-matched-route"), Some("/foo/..."));
        assert_eq!(get("spin-base-path"), Some("/"));
        assert_eq!(get("spin-raw-component-route"), Some("/foo/..."));
        assert_eq!(get("spin-component-route"), Some("/foo"));
        assert_eq!(get("spin-client-addr"), Some("127.0.0.1:8777"));
    }

    #[test]
    fn path_info_keeps_trailing_slashes() {
        let r = router(&[("/test/...", "c")]);
        let info = |p: &str| r.route(p).map(|m| m.path_info);
        assert_eq!(info("/test").as_deref(), Some(""));
        assert_eq!(info("/test/").as_deref(), Some("/"));
        assert_eq!(info("/test/hello").as_deref(), Some("/hello"));
        assert_eq!(info("/test/hello/").as_deref(), Some("/hello/"));
    }

    #[test]
    fn routes_are_listed_like_spin() {
        let r = router(&[("/whee/...", "w"), ("/exact", "e")]);
        let listed: Vec<_> = r.routes().into_iter().map(|i| i.display).collect();
        assert!(
            listed.contains(&"/whee (wildcard)".to_owned()),
            "{listed:?}"
        );
        assert!(listed.contains(&"/exact".to_owned()), "{listed:?}");
    }
}
