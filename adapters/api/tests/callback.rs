//! `ApiChannel::send` against a real (tiny, hand-rolled) HTTP/1.1 server on 127.0.0.1, so the
//! signature, headers, body and every answer class are checked over an actual socket.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_api_channel::{ApiChannel, ApiChannelSettings, SIGNATURE_HEADER, verify};
use switchboard_channel::{
    Channel, ChannelError, ContactProfile, OutboundAttachment, OutboundMessage, SendReceipt,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use url::Url;

const SECRET: &str = "callback-secret";

/// One request as the server saw it.
#[derive(Debug)]
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Serves one connection per canned response, in order, and hands back what it received.
async fn serve(responses: Vec<String>) -> (SocketAddr, JoinHandle<Vec<Received>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = tokio::spawn(async move {
        let mut received = Vec::new();
        for response in responses {
            let (mut stream, _) = listener.accept().await.expect("accept");
            received.push(read_request(&mut stream).await);
            // A client that stops reading early (capped body) may reset the connection; what
            // it got is checked on the client side.
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        received
    });
    (addr, server)
}

async fn read_request(stream: &mut TcpStream) -> Received {
    let mut data = Vec::new();
    let mut buf = [0_u8; 4096];
    let head_end = loop {
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = stream.read(&mut buf).await.expect("read head");
        assert!(n > 0, "client closed before sending the request head");
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(data[..head_end].to_vec()).expect("UTF-8 head");
    let mut lines = head.split("\r\n");
    let request_line = lines.next().expect("request line").to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("header colon");
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.parse().expect("numeric content-length"))
        .expect("content-length header");
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).await.expect("read body");
        assert!(n > 0, "client closed mid-body");
        body.extend_from_slice(&buf[..n]);
    }
    Received {
        request_line,
        headers,
        body,
    }
}

fn response(status: &str, extra_headers: &[&str], body: &str) -> String {
    let mut text = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for header in extra_headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}

fn channel_to(addr: SocketAddr, timeout: Duration) -> ApiChannel {
    ApiChannel::new(ApiChannelSettings {
        secret: SECRET.to_owned(),
        callback_url: Some(Url::parse(&format!("http://{addr}/hooks/switchboard")).expect("URL")),
        timeout,
    })
    .expect("valid settings")
}

fn message() -> OutboundMessage {
    OutboundMessage {
        mail_thread: None,
        survey: None,
        message_id: "msg-17".into(),
        conversation_id: "conv-3".into(),
        content: "Your parcel is on its way 📦".into(),
        private: false,
        attachments: vec![OutboundAttachment {
            id: "att-1".into(),
            file_name: "label.pdf".into(),
            content_type: "application/pdf".into(),
            byte_size: 2048,
            url: "https://hub.example.com/files/att-1".into(),
            width: None,
            height: None,
            thumbnail_url: None,
            data: None,
        }],
        recipient: ContactProfile {
            identifier: "cust-42".into(),
            name: Some("Ann".into()),
            email: Some("ann@example.com".into()),
            phone: Some("+4366...".into()),
            language: None,
            avatar_url: None,
            details: serde_json::Map::new(),
        },
        reply_to_external_id: Some("m-1".into()),
        thread_id: None,
        template: None,
    }
}

fn transient_reason(result: Result<SendReceipt, ChannelError>) -> (String, Option<Duration>) {
    match result {
        Err(ChannelError::Transient {
            reason,
            retry_after,
        }) => (reason, retry_after),
        other => panic!("expected Transient, got {other:?}"),
    }
}

#[tokio::test]
async fn signed_json_callback_and_receipt() {
    let (addr, server) = serve(vec![response(
        "200 OK",
        &["Content-Type: application/json"],
        r#"{"external_id":"ext-9"}"#,
    )])
    .await;
    let channel = channel_to(addr, Duration::from_secs(5));

    let receipt = channel.send(&message()).await;
    assert_eq!(
        receipt,
        Ok(SendReceipt {
            external_id: Some("ext-9".into())
        })
    );

    let received = server.await.expect("server task");
    let [request] = received.as_slice() else {
        panic!("expected exactly one request, got {received:?}");
    };
    assert_eq!(request.request_line, "POST /hooks/switchboard HTTP/1.1");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(
        request
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("Switchboard/")),
        "user-agent {:?}",
        request.header("user-agent")
    );
    assert_eq!(
        verify(
            SECRET.as_bytes(),
            &request.body,
            request.header(SIGNATURE_HEADER)
        ),
        Ok(()),
        "signature must cover the exact bytes received"
    );
    let body: Value = serde_json::from_slice(&request.body).expect("JSON body");
    assert_eq!(
        body,
        json!({"message": {
            "id": "msg-17",
            "conversation_id": "conv-3",
            "content": "Your parcel is on its way 📦",
            "private": false,
            "attachments": [{
                "id": "att-1",
                "file_name": "label.pdf",
                "content_type": "application/pdf",
                "byte_size": 2048,
                "url": "https://hub.example.com/files/att-1",
                "width": null,
                "height": null,
                "thumbnail_url": null
            }],
            "contact": {"identifier": "cust-42", "name": "Ann", "email": "ann@example.com", "phone": "+4366..."},
            "reply_to": "m-1"
        }})
    );
}

#[tokio::test]
async fn answer_classes_over_one_pooled_client() {
    let (addr, server) = serve(vec![
        response("429 Too Many Requests", &["Retry-After: 2"], ""),
        response("500 Internal Server Error", &[], "boom"),
        response(
            "400 Bad Request",
            &["Content-Type: application/json"],
            r#"{"error":{"code":"bad_contact","message":"unknown customer"}}"#,
        ),
        response(
            "301 Moved Permanently",
            &["Location: http://example.com/"],
            "",
        ),
        response("204 No Content", &[], ""),
    ])
    .await;
    let channel = channel_to(addr, Duration::from_secs(5));
    let message = message();

    let (reason, retry_after) = transient_reason(channel.send(&message).await);
    assert_eq!(reason, "callback answered 429 Too Many Requests");
    assert_eq!(retry_after, Some(Duration::from_secs(2)));

    let (reason, retry_after) = transient_reason(channel.send(&message).await);
    assert_eq!(reason, "callback answered 500 Internal Server Error");
    assert_eq!(retry_after, None);

    assert_eq!(
        channel.send(&message).await,
        Err(ChannelError::Permanent {
            code: Some("bad_contact".into()),
            reason: "callback answered 400: unknown customer".into(),
        })
    );

    assert_eq!(
        channel.send(&message).await,
        Err(ChannelError::Permanent {
            code: Some("301".into()),
            reason: "callback answered a redirect (not followed)".into(),
        })
    );

    assert_eq!(
        channel.send(&message).await,
        Ok(SendReceipt { external_id: None })
    );

    // Five answers, five requests: the redirect was not followed.
    assert_eq!(server.await.expect("server task").len(), 5);
}

#[tokio::test]
async fn closed_port_is_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    let channel = channel_to(addr, Duration::from_secs(5));

    let (reason, retry_after) = transient_reason(channel.send(&message()).await);
    assert!(
        reason.starts_with("could not connect to the callback: "),
        "{reason}"
    );
    assert!(!reason.contains(SECRET), "{reason}");
    assert_eq!(retry_after, None);
}

#[tokio::test]
async fn silent_server_times_out_as_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    // Accept and read, but never answer; ends when the client gives up and closes.
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink).await;
    });
    let channel = channel_to(addr, Duration::from_millis(300));

    let started = Instant::now();
    let (reason, _) = transient_reason(channel.send(&message()).await);
    let elapsed = started.elapsed();
    assert_eq!(reason, "callback did not answer within 300 ms");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(5),
        "took {elapsed:?}"
    );
    server.await.expect("server task");
}

#[tokio::test]
async fn oversized_answer_is_capped_and_still_delivered() {
    let huge = format!(
        r#"{{"external_id":"ext-1","padding":"{}"}}"#,
        "x".repeat(200 * 1024)
    );
    let (addr, server) = serve(vec![response("200 OK", &[], &huge)]).await;
    let channel = channel_to(addr, Duration::from_secs(5));

    // Only the first 64 KiB are read, so the JSON is cut off: delivered, but no usable id.
    assert_eq!(
        channel.send(&message()).await,
        Ok(SendReceipt { external_id: None })
    );
    drop(channel);
    let _ = server.await;
}

#[tokio::test]
async fn missing_callback_url_is_permanent() {
    let channel = ApiChannel::new(ApiChannelSettings {
        secret: SECRET.to_owned(),
        callback_url: None,
        timeout: Duration::from_secs(1),
    })
    .expect("valid settings");
    assert_eq!(
        channel.send(&message()).await,
        Err(ChannelError::Permanent {
            code: Some("no_callback_url".into()),
            reason: "this inbox has no callback_url; set one in its settings".into(),
        })
    );
}
