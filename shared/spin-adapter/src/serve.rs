//! The HTTP entry point: reads the request with a size limit before any
//! parsing, runs the service, writes the response.

use crate::platform::SpinPlatform;
use futures::StreamExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use switchboard_service::{handle, ErrorCode, Request, Response, Surface};

fn limit(surface: Surface) -> usize {
    match surface {
        Surface::Webhooks => switchboard_service::MAX_WEBHOOK_BODY_BYTES,
        Surface::Admin | Surface::Health => switchboard_service::MAX_ADMIN_BODY_BYTES,
    }
}

fn too_large(max: usize) -> Response {
    Response::refuse(
        ErrorCode::PayloadTooLarge,
        &format!("the body is larger than {max} bytes"),
    )
}

/// Reads the body, refusing (without reading further) once it exceeds the
/// surface's limit.
async fn read_body(request: IncomingRequest, max: usize) -> Result<Vec<u8>, Response> {
    let mut stream = request.into_body_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            Response::refuse(
                ErrorCode::InvalidEnvelope,
                "the request body could not be read",
            )
        })?;
        if body.len() + chunk.len() > max {
            return Err(too_large(max));
        }
        body.extend(chunk);
    }
    Ok(body)
}

/// Serves one request for `surface`.
pub async fn serve(request: IncomingRequest, out: ResponseOutparam, surface: Surface) {
    let method = request.method().to_string();
    let path_and_query = request.path_with_query().unwrap_or_default();
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query.as_str(), |(p, _)| p)
        .to_owned();
    let headers: Vec<(String, String)> = request
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| {
            (
                n.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let max = limit(surface);
    let declared = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    let response = if declared.is_some_and(|n| n > max) {
        too_large(max)
    } else {
        match read_body(request, max).await {
            Ok(body) => {
                let platform = SpinPlatform::new();
                handle(
                    &platform,
                    surface,
                    Request {
                        method,
                        path,
                        headers,
                        body,
                    },
                )
                .await
            }
            Err(refusal) => refusal,
        }
    };
    write(out, response).await;
}

async fn write(out: ResponseOutparam, response: Response) {
    let mut headers: Vec<(String, Vec<u8>)> = response
        .headers
        .into_iter()
        .map(|(n, v)| (n, v.into_bytes()))
        .collect();
    headers.push((
        "content-length".into(),
        response.body.len().to_string().into_bytes(),
    ));
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(response.status);
    if let Err(e) = out.set_with_body(outgoing, response.body).await {
        eprintln!("switchboard: writing the response failed: {e:?}");
    }
}
