//! An echo server on sdrhub's own WebSocket transport (`sdrhub::ws::transport`: the frame
//! reader, writer, timers and closing handshake that serve `/ws`), for the standard peer suite:
//! the Autobahn|Testsuite fuzzing client. `scripts/autobahn.sh` runs it; see
//! docs/measurements.md for the results.
//!
//! ```text
//! cargo run --release --example ws_echo -- 127.0.0.1:9001
//! ```
//!
//! Every text and binary message comes back unchanged. Limits are the production ones except
//! the message size, raised so that the suite's 16 MiB messages (section 9) fit.

use actix_service::ServiceFactoryExt;
use sdrhub::frame;
use sdrhub::hub::Outgoing;
use sdrhub::ws::handshake;
use sdrhub::ws::transport::{self, Data, End, Handler, Limits};
use sdrhub::ws::writer::Writer;
use std::task::{Context, Poll};
use std::time::Duration;

/// Largest message echoed: the suite's biggest is 16 MiB.
const MAX_MESSAGE_BYTES: usize = 20 << 20;

struct Echo;

impl Handler for Echo {
    async fn on_message(&mut self, message: Data, writer: &mut Writer) -> Option<End> {
        let frame = match message {
            // The transport hands over only valid UTF-8 text.
            Data::Text(text) => frame::text(std::str::from_utf8(&text).unwrap_or_default()),
            Data::Binary(bytes) => frame::binary(&bytes),
        };
        writer.push_control(frame);
        None
    }

    fn poll_outgoing(&mut self, _: &mut Context<'_>, _: &mut Writer, _: bool) -> Poll<Option<End>> {
        Poll::Pending
    }

    fn sent(&self, _: &Outgoing) {}
}

async fn echo(
    req: actix_http::Request,
    framed: actix_codec::Framed<tokio::net::TcpStream, actix_http::h1::Codec>,
) {
    let mut framed = framed;
    if let Some(refusal) = handshake::refusal(&req) {
        handshake::refuse(&mut framed, refusal).await;
        return;
    }
    let Some((stream, early)) = handshake::accept(&req, framed, None).await else {
        return;
    };
    let limits = Limits {
        heartbeat_interval: Duration::from_secs(30),
        heartbeat_timeout: Duration::from_secs(90),
        send_timeout: Duration::from_secs(10),
        max_message_bytes: MAX_MESSAGE_BYTES,
        write_backlog_bytes: 2 * MAX_MESSAGE_BYTES,
    };
    let mut handler = Echo;
    let ending = transport::run(stream, early, limits, &mut handler).await;
    ending.close(&handler).await;
}

fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let server = actix_server::Server::build()
            .workers(1)
            .bind("echo", &address, || {
                actix_http::HttpService::build()
                    .upgrade(actix_service::fn_service(
                        |(req, framed): (actix_http::Request, _)| async move {
                            echo(req, framed).await;
                            Ok::<(), actix_web::Error>(())
                        },
                    ))
                    .finish(actix_service::fn_service(|_req: actix_http::Request| async {
                        Ok::<_, actix_web::Error>(actix_http::Response::new(
                            actix_http::StatusCode::NOT_FOUND,
                        ))
                    }))
                    .tcp()
                    .map_err(|_| ())
            })?
            .run();
        println!("echo server on ws://{address}/");
        server.await
    })
}
