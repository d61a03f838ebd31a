//! Switchboard's `health` Spin component. `GET /v1/health` (liveness and configuration sanity, no secrets) and a JSON 404 for every unknown path.
//!
//! Thin by design: the request goes to `switchboard_spin::serve` with this
//! component's surface; the logic lives in `switchboard-service`.

#![deny(missing_docs)]

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(request: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    switchboard_spin::serve(request, out, switchboard_service::Surface::Health).await
}
