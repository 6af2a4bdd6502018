//! The opening handshake on a connection actix-http hands over (RFC 6455 §4.2): checking the
//! request, refusing it with an HTTP answer, or answering `101 Switching Protocols` and taking
//! the bare socket for the [`transport`](super::transport).

use actix_codec::{AsyncRead, AsyncWrite, Framed};
use actix_http::body::{BodySize, MessageBody};
use actix_http::ws::HandshakeError;
use actix_http::{h1, Request};
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::BytesMut;
use actix_web::HttpResponse;
use futures_util::SinkExt;
use tokio::net::TcpStream;

/// The only WebSocket version there is (RFC 6455 §4.4), named in every refusal about versions.
pub const VERSION: &str = "13";

/// A connection that is, or wraps, a TCP socket.
pub trait IntoTcp: AsyncRead + AsyncWrite + Unpin {
    /// The socket.
    fn into_tcp(self) -> TcpStream;
}

impl IntoTcp for TcpStream {
    fn into_tcp(self) -> TcpStream {
        self
    }
}

/// Checks that the request is a WebSocket opening handshake: `None` when it is, otherwise the
/// HTTP answer: 426 with `Sec-WebSocket-Version: 13` for a version the server does not
/// speak (RFC 6455 §4.2.2), 400 (also naming the version) for a malformed handshake.
pub fn refusal(req: &Request) -> Option<HttpResponse> {
    match actix_http::ws::verify_handshake(req.head()) {
        Ok(()) => None,
        Err(HandshakeError::UnsupportedVersion) => Some(
            HttpResponse::build(actix_web::http::StatusCode::UPGRADE_REQUIRED)
                .insert_header((header::SEC_WEBSOCKET_VERSION, VERSION))
                .insert_header((header::UPGRADE, "websocket"))
                .json(serde_json::json!({
                    "code": "unsupported_version",
                    "message": "this server speaks WebSocket version 13 (RFC 6455) only",
                })),
        ),
        Err(error) => Some(
            HttpResponse::BadRequest()
                .insert_header((header::SEC_WEBSOCKET_VERSION, VERSION))
                .json(serde_json::json!({
                    "code": "bad_handshake",
                    "message": format!("not a valid WebSocket handshake: {error}"),
                })),
        ),
    }
}

/// Writes an HTTP response on a connection that asked for an upgrade, then lets it close.
pub async fn refuse<T: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<T, h1::Codec>,
    response: HttpResponse,
) {
    let (mut head, body) = actix_http::Response::from(response).into_parts();
    let Ok(body) = body.try_into_bytes() else {
        // Every refusal is built from a JSON value: its body is always whole bytes.
        return;
    };
    head.head_mut()
        .set_connection_type(actix_http::ConnectionType::Close);
    let size = BodySize::Sized(body.len() as u64);
    // Head and body leave in one write, so a client reading the refusal sees all of it.
    let _ = framed.feed(h1::Message::Item((head, size))).await;
    let _ = framed.feed(h1::Message::Chunk(Some(body))).await;
    let _ = framed.send(h1::Message::Chunk(None)).await;
}

/// Answers `101 Switching Protocols` (echoing `subprotocol` when given) and returns the bare
/// socket with any bytes the client sent behind its handshake; `None` when the answer could
/// not be written.
pub async fn accept<T: IntoTcp>(
    req: &Request,
    mut framed: Framed<T, h1::Codec>,
    subprotocol: Option<&'static str>,
) -> Option<(TcpStream, BytesMut)> {
    let mut response = actix_http::ws::handshake_response(req.head());
    if let Some(protocol) = subprotocol {
        response.insert_header((header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol)));
    }
    let (head, _) = response.finish().into_parts();
    if framed
        .send(h1::Message::Item((head, BodySize::None)))
        .await
        .is_err()
    {
        return None;
    }
    // The HTTP buffers go; only bytes the client already sent behind its handshake are kept.
    let actix_codec::FramedParts { io, read_buf, .. } = framed.into_parts();
    let early = BytesMut::from(&read_buf[..]);
    let io = io.into_tcp();
    // Frames are small and latency matters: no Nagle delay waiting for the client's ACKs.
    let _ = io.set_nodelay(true);
    Some((io, early))
}
