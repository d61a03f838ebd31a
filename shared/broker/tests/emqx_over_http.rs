//! The EMQX publisher against a real HTTP server on 127.0.0.1 that answers
//! like EMQX's REST API: each status maps to its outcome, and the request
//! arrives with Basic auth and the bulk body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use switchboard_broker::*;

/// A real HTTP client for native tests.
struct Ureq(ureq::Agent);

impl HttpClient for Ureq {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut builder = ureq::http::Request::builder()
            .method(request.method)
            .uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let req = builder
            .body(request.body)
            .map_err(|e| TransportError(e.to_string()))?;
        let mut response = self.0.run(req).map_err(|e| TransportError(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_vec()
            .map_err(|e| TransportError(e.to_string()))?;
        Ok(HttpResponse { status, body })
    }
}

fn client() -> Ureq {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    Ureq(ureq::Agent::new_with_config(config))
}

struct Received {
    head: String,
    body: String,
}

/// Serves one request with `status` and `body`, reporting what it got.
fn serve_once(status: u16, body: &'static str) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let mut buf = vec![0; length];
        reader.read_exact(&mut buf).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        tx.send(Received {
            head,
            body: String::from_utf8(buf).unwrap(),
        })
        .unwrap();
    });
    (url, rx)
}

fn items(n: usize) -> Vec<PublishItem> {
    (0..n)
        .map(|i| PublishItem {
            topic: format!("sig-dn/p2p/GID_test@@@dev{i}"),
            payload: format!("{{\"v\":1,\"id\":\"e-{i}\"}}"),
            expiry_seconds: Some(30),
        })
        .collect()
}

fn publish(
    status: u16,
    body: &'static str,
    n: usize,
) -> (Result<Vec<ItemOutcome>, PublishError>, Received) {
    let (url, rx) = serve_once(status, body);
    let publisher = EmqxPublisher::new(client(), &url, "app-key", "app-secret");
    let result = pollster::block_on(publisher.publish(&items(n)));
    (result, rx.recv().unwrap())
}

#[test]
fn ok_200_accepts_all_and_sends_basic_auth_and_bulk_body() {
    let (result, got) = publish(200, r#"[{"id":"A"},{"id":"B"}]"#, 2);
    assert_eq!(
        result,
        Ok(vec![ItemOutcome::Accepted, ItemOutcome::Accepted])
    );
    assert!(got.head.starts_with("POST /api/v5/publish/bulk HTTP/1.1"));
    assert!(got
        .head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("authorization: Basic YXBwLWtleTphcHAtc2VjcmV0")));
    let body: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(body.as_array().unwrap().len(), 2);
    assert_eq!(body[1]["topic"], "sig-dn/p2p/GID_test@@@dev1");
    assert_eq!(body[1]["qos"], 1);
}

#[test]
fn accepted_202_means_no_subscribers() {
    let (result, _) = publish(
        202,
        r#"[{"id":"A"},{"reason_code":16,"message":"no_matching_subscribers"}]"#,
        2,
    );
    assert_eq!(
        result,
        Ok(vec![ItemOutcome::Accepted, ItemOutcome::NoSubscribers])
    );
}

#[test]
fn unavailable_503_reports_which_failed() {
    let (result, _) = publish(
        503,
        r#"[{"id":"A"},{"reason_code":131,"message":"failed_to_dispatch"}]"#,
        2,
    );
    assert_eq!(result, Ok(vec![ItemOutcome::Accepted, ItemOutcome::Failed]));
    let (result, _) = publish(
        503,
        r#"{"reason_code":131,"message":"failed_to_dispatch"}"#,
        1,
    );
    assert!(matches!(result, Err(PublishError::Unavailable(_))));
}

#[test]
fn bad_request_400_and_unauthorized_401() {
    let (result, _) = publish(
        400,
        r#"{"reason_code":144,"message":"topic_name_invalid"}"#,
        1,
    );
    assert!(matches!(result, Err(PublishError::Rejected(m)) if m.contains("topic_name_invalid")));
    let (result, _) = publish(
        401,
        r#"{"code":"BAD_API_KEY_OR_SECRET","message":"Check api_key/api_secret"}"#,
        1,
    );
    assert_eq!(result, Err(PublishError::Unauthorized(401)));
}

#[test]
fn connection_refused_is_unavailable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let publisher = EmqxPublisher::new(client(), &format!("http://127.0.0.1:{port}"), "k", "s");
    let result = pollster::block_on(publisher.publish(&items(1)));
    assert!(matches!(result, Err(PublishError::Unavailable(_))));
}
