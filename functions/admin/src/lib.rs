//! Switchboard's `admin` Spin component. The app backend's API: devices (`/v1/users/...`), calls (`/v1/calls/...`) and the scheduled expiry task (`POST /v1/tasks/expire`).
//!
//! Thin by design: the request goes to `switchboard_spin::serve` with this
//! component's surface; the logic lives in `switchboard-service`.

#![deny(missing_docs)]

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(request: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    switchboard_spin::serve(request, out, switchboard_service::Surface::Admin).await
}
