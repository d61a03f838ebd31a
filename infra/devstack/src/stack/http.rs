//! The few HTTP calls the stack makes itself.

use std::time::Duration;

/// How long one request of the stack may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP agent that reports every status as a response, not an error.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(REQUEST_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into()
}

/// True when `url` answers a GET with any HTTP response.
pub(crate) fn answers(agent: &ureq::Agent, url: &str) -> bool {
    agent.get(url).call().is_ok()
}

/// `POST <base>/v1/tasks/expire` with the admin token; the response status.
pub(crate) fn post_expire(
    agent: &ureq::Agent,
    http_base: &str,
    admin_token: &str,
) -> Result<u16, ureq::Error> {
    agent
        .post(format!("{http_base}/v1/tasks/expire"))
        .header("Authorization", format!("Bearer {admin_token}"))
        .send_empty()
        .map(|response| response.status().as_u16())
}
