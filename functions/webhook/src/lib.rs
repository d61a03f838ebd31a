//! Switchboard's `webhook` Spin component. Receives the broker's webhooks: upstream signaling (`POST /v1/webhooks/mqtt`) and presence (`POST /v1/webhooks/presence`).
//!
//! Thin by design: the request goes to `switchboard_spin::serve` with this
//! component's surface; the logic lives in `switchboard-service`.

#![deny(missing_docs)]

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(request: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    switchboard_spin::serve(request, out, switchboard_service::Surface::Webhooks).await
}
