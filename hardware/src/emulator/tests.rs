//! The emulator against a hand-written client speaking the driver's side of the protocol.

use super::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn connect(emulator: &RedPitayaEmulator, rate_index: u32, frequency: u32) -> (TcpStream, TcpStream) {
    let mut control = TcpStream::connect(emulator.addr()).unwrap();
    control.write_all(&0u32.to_le_bytes()).unwrap();
    let mut data = TcpStream::connect(emulator.addr()).unwrap();
    data.write_all(&1u32.to_le_bytes()).unwrap();
    control.write_all(&frequency.to_le_bytes()).unwrap();
    control
        .write_all(&(rate_index | (1 << 28)).to_le_bytes())
        .unwrap();
    (control, data)
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn streams_in_real_time_at_the_commanded_rate_and_frequency() {
    let emulator = RedPitayaEmulator::start(EmulatorConfig::default()).unwrap();
    let (_control, mut data) = connect(&emulator, 3, 7_100_000); // 250 kS/s
    let mut first = [0u8; 8];
    data.read_exact(&mut first).unwrap();
    let start = Instant::now();
    let mut total = 0usize;
    let mut buf = vec![0u8; 65536];
    while start.elapsed() < Duration::from_millis(800) {
        total += data.read(&mut buf).unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rate = total as f64 / 8.0 / elapsed;
    // Delivery is in 2048-sample blocks (8.2 ms at 250 kS/s), so allow a couple of blocks.
    assert!(
        (rate - 250e3).abs() < 250e3 * 0.1,
        "delivered {rate:.0} samples/s"
    );
    let stats = emulator.stats();
    assert_eq!(stats.frequency_hz, Some(7_100_000));
    assert_eq!(stats.sample_rate_hz, Some(250e3));
    assert_eq!(stats.data_clients, 1);
    assert_eq!(stats.blocks_dropped, 0);
}

#[test]
fn a_client_that_does_not_read_loses_blocks_instead_of_buffering_them() {
    let emulator = RedPitayaEmulator::start(EmulatorConfig::default()).unwrap();
    let (_control, mut data) = connect(&emulator, 5, 1_000_000); // 1.25 MS/s = 10 MB/s
    wait_for("drops", Duration::from_secs(5), || {
        emulator.stats().blocks_dropped > 50
    });
    // What the client finds queued is bounded by the socket buffers, not by the time it slept.
    data.set_nonblocking(true).unwrap();
    let mut queued = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(n) = data.read(&mut buf) {
        if n == 0 {
            break;
        }
        queued += n;
    }
    let stats = emulator.stats();
    assert!(
        (queued as u64) <= (stats.blocks_sent + 1) * protocol::BLOCK_BYTES as u64,
        "queued {queued} bytes for {} blocks sent",
        stats.blocks_sent
    );
    assert!(stats.blocks_sent + stats.blocks_dropped > 60);
}

#[test]
fn stop_closes_every_connection_and_restart_serves_the_same_port() {
    let mut emulator = RedPitayaEmulator::start(EmulatorConfig::default()).unwrap();
    let port = emulator.port();
    let (_control, mut data) = connect(&emulator, 2, 1_000_000);
    let mut buf = [0u8; 8];
    data.read_exact(&mut buf).unwrap();
    emulator.stop();
    assert!(emulator.is_stopped());
    // The client sees its stream end (EOF or reset) once queued bytes are read.
    data.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut sink = vec![0u8; 1 << 16];
    loop {
        match data.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port still open after stop"
    );
    emulator.restart().unwrap();
    assert_eq!(emulator.port(), port);
    let (_control, mut data) = connect(&emulator, 2, 1_000_000);
    data.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    data.read_exact(&mut buf).unwrap();
}
