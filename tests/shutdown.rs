//! Graceful shutdown under load: every client gets a close frame 1001. A test binary of its
//! own, so its 200 busy clients do not share the machine with the timing-sensitive tests.

mod common;

use common::{fake_signal, quiet_config, start};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_sends_every_client_1001() {
    // 200 clients receiving 200 events/s each (40 000 deliveries/s in a debug build on two
    // cores, with the clients in the same process): busy, but every client keeps up.
    let mut config = quiet_config();
    // Room for scheduling hiccups while other tests share the machine.
    config.server.client_queue = 4096;
    let server = start(config);
    let url = format!("ws://{}/ws", server.addr);
    let mut clients = Vec::new();
    for _ in 0..200 {
        let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        clients.push(ws);
    }
    let hub = server.hub().clone();
    let publisher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        for n in 0.. {
            tick.tick().await;
            hub.publish(fake_signal("shutdown", n, 10)).await;
        }
    });
    // Every client reads while events flow, then the server stops.
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                while let Ok(Some(frame)) =
                    tokio::time::timeout(Duration::from_secs(10), futures_util::StreamExt::next(&mut ws))
                        .await
                {
                    match frame {
                        Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) => {
                            return frame.map(|f| u16::from(f.code))
                        }
                        Ok(_) => continue,
                        Err(_) => return None,
                    }
                }
                None
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    server.stop().await.unwrap();
    publisher.abort();
    let mut codes = Vec::new();
    for reader in readers {
        codes.push(reader.await.unwrap());
    }
    let going_away = codes.iter().filter(|c| **c == Some(1001)).count();
    assert_eq!(going_away, 200, "close codes: {codes:?}");
}
