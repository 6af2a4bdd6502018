//! The demodulator as a stream: block splits, squelch, other input rates, latency, retuning
//! and the validation of its configuration. Signals and measurements as in `tests.rs`.

use super::tests::*;
use super::*;
use num_complex::Complex64;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::f64::consts::TAU;

/// The same input in one call and in random-sized blocks (1 sample to 50 000, fixed seed)
/// gives bit-identical audio: the mixer's phase, every filter's decimation phase and the
/// resampler's position depend only on the sample index. Covers the fractional resampler
/// (2.048 MS/s), the product detector's shift (USB), WFM and a 12 kHz KiwiSDR stream; each
/// call's output also stays within [`Demodulator::max_output_len`].
#[test]
fn blocks_of_any_size_give_the_same_audio() {
    let cases = [
        (
            Mode::Nfm,
            2.048e6,
            -300e3,
            fm(2.048e6, -300e3, 0.1, 3_000.0, 1_000.0),
        ),
        (Mode::Usb, RATE, OFFSET, tones(RATE, &[(OFFSET + 1_000.0, 0.05)])),
        (Mode::Wfm, RATE, OFFSET, fm(RATE, OFFSET, 0.1, 50_000.0, 1_000.0)),
        (Mode::Am, 12e3, 1_000.0, am(12e3, 1_000.0, 0.1, 0.5, 1_000.0)),
    ];
    let mut rng = SmallRng::seed_from_u64(7);
    for (mode, rate, offset, mut input) in cases {
        add_noise(&mut input, 3, 1e-4);
        let cfg = DemodConfig::new(mode, rate, offset);
        let mut whole = Vec::new();
        Demodulator::new(&cfg).unwrap().process(&input, &mut whole);
        let mut demod = Demodulator::new(&cfg).unwrap();
        let mut pieces = Vec::new();
        let mut rest = &input[..];
        while !rest.is_empty() {
            let len = rng.random_range(1..=50_000).min(rest.len());
            let before = pieces.len();
            demod.process(&rest[..len], &mut pieces);
            assert!(
                pieces.len() - before <= demod.max_output_len(len),
                "{mode}: {len} in"
            );
            rest = &rest[len..];
        }
        assert_eq!(whole.len(), pieces.len(), "{mode}");
        assert!(whole == pieces, "{mode}: audio differs");
        let expected = input.len() as f64 * mode.output_rate_hz() / rate;
        assert!(
            (whole.len() as f64 - expected).abs() <= 1.0,
            "{mode}: {} for {expected}",
            whole.len()
        );
    }
}

/// Squelch at -40 dBFS on an NFM channel. Noise alone, -50 dBFS in the channel: the squelch
/// stays closed and every output sample is exactly zero, while the channel power reads the
/// noise power (to 0.5 dB: the filter's noise bandwidth is 1-2 % under the passband width,
/// and the 20 ms average of a 12 kHz channel scatters by 0.3 dB). A -20 dBFS carrier arrives:
/// the squelch opens within 30 ms and the tone plays; it leaves: the squelch closes and the
/// output returns to exact zeros within 200 ms (the power meter falls 23 dB in 5.3 time
/// constants, then the audio filter empties).
#[test]
fn squelch_passes_signals_and_silences_noise() {
    let segment = (0.3 * RATE) as usize;
    let mut input = synth(RATE, 3 * segment, |t| {
        let on = if (0.3..0.6).contains(&t) { 0.1 } else { 0.0 };
        Complex64::from_polar(on, TAU * OFFSET * t + 3.0 * (TAU * 1_000.0 * t).sin())
    });
    add_noise(&mut input, 11, noise_for(1e-5, 0.0, 12e3, RATE));
    let cfg = DemodConfig {
        squelch_dbfs: Some(-40.0),
        ..config(Mode::Nfm)
    };
    let mut demod = Demodulator::new(&cfg).unwrap();
    let mut out = Vec::new();
    let out_segment = (0.3 * 12e3) as usize;

    demod.process(&input[..segment], &mut out);
    assert!(!demod.squelch_open());
    assert!(out.iter().all(|&y| y == 0.0), "noise alone leaks through");
    let noise_db = demod.channel_power_dbfs();
    assert!((noise_db + 50.0).abs() < 0.5, "noise reads {noise_db} dBFS");

    demod.process(&input[segment..2 * segment], &mut out);
    assert!(demod.squelch_open());
    assert!(
        (demod.channel_power_dbfs() + 20.0).abs() < 0.1,
        "{}",
        demod.channel_power_dbfs()
    );
    let opened = out[out_segment..].iter().position(|&y| y != 0.0).unwrap();
    assert!(opened < (0.03 * 12e3) as usize, "opened after {opened} samples");
    assert_tone(&out[out_segment + 1200..2 * out_segment], 12e3, 1_000.0, 0.99);

    demod.process(&input[2 * segment..], &mut out);
    assert!(!demod.squelch_open());
    let silent_from = 2 * out_segment + (0.2 * 12e3) as usize;
    assert!(
        out[silent_from..].iter().all(|&y| y == 0.0),
        "noise after the signal leaks through"
    );
}

/// Receiver rates that are not a multiple of the channel rate, or are below it: the tone
/// comes out at 1 kHz (to 0.5 Hz) at the level of the integer-ratio case (to 1 %). NFM at
/// 2.048 MS/s and 12 kHz (a KiwiSDR stream, resampled up to the 24 kHz NFM channel), WFM at
/// 2.048 MS/s, USB at 250 kS/s, AM at 12 kHz (no resampling at all) and at 1 000 003 S/s.
#[test]
fn other_input_rates_give_the_same_tone() {
    let nfm = |rate: f64, offset: f64| {
        (
            Mode::Nfm,
            rate,
            offset,
            fm(rate, offset, 0.1, 3_000.0, 1_000.0),
            0.6,
        )
    };
    let wfm_level = 1.0 / (1.0 + (TAU * 1_000.0 * 50e-6f64).powi(2)).sqrt();
    let cases = [
        nfm(2.048e6, 400e3),
        nfm(12e3, 0.0),
        (
            Mode::Wfm,
            2.048e6,
            -500e3,
            fm(2.048e6, -500e3, 0.1, 75_000.0, 1_000.0),
            wfm_level,
        ),
        (
            Mode::Usb,
            250e3,
            -60e3,
            tones(250e3, &[(-60e3 + 1_000.0, 0.05)]),
            AGC_TARGET as f64,
        ),
        (Mode::Am, 12e3, 1_500.0, am(12e3, 1_500.0, 0.1, 0.5, 1_000.0), 0.5),
        (
            Mode::Am,
            1_000_003.0,
            123_456.0,
            am(1_000_003.0, 123_456.0, 0.1, 0.5, 1_000.0),
            0.5,
        ),
    ];
    for (mode, rate, offset, input, want) in cases {
        let out = run(&DemodConfig::new(mode, rate, offset), &input);
        let audio_rate = mode.output_rate_hz();
        let fit = assert_tone(steady(&out, audio_rate), audio_rate, 1_000.0, 0.999);
        eprintln!("{mode} at {rate} S/s: {fit:?}");
        assert!(
            (fit.amplitude / want - 1.0).abs() < 0.01,
            "{mode} at {rate}: {fit:?}"
        );
    }
}

/// The reported latency is the delay of the chain: a short pulse (Gaussian, sigma 0.5 ms) in
/// the AM envelope or the FM frequency at input time t0 peaks in the output at
/// (t0 + latency) * output rate, to 0.02 output samples (the peak is found by a parabola
/// through the three largest samples), once the shift of the peak by the slow high-pass that
/// removes DC (time constant tau: the AM carrier estimate, the FM DC blocker) is allowed for:
/// it subtracts about the pulse's running integral over tau, which moves the peak sigma^2 / tau
/// earlier (0.03 samples for AM, 0.09 for FM at 12 kHz). With and without the fractional
/// resampler. (The FM pulse is 60 % of the peak deviation: the parabola through a pulse this
/// broad is sensitive to small errors, and the resampler's -100 dB interpolation error,
/// periodic in its phase, moves the peak of a 4 % pulse in 48 kHz WFM audio by 0.05 samples.)
#[test]
fn latency_is_the_delay_of_a_pulse() {
    let (t0, sigma) = (0.3, 0.5e-3);
    let pulse = |t: f64| (-0.5 * ((t - t0) / sigma).powi(2)).exp();
    for (mode, rate) in [
        (Mode::Am, RATE),
        (Mode::Am, 2.048e6),
        (Mode::Nfm, RATE),
        (Mode::Wfm, 2.048e6),
    ] {
        let deviation = mode.default_deviation_hz();
        let input: Vec<Complex32> = match mode {
            Mode::Am => synth(rate, input_len(rate), |t| {
                carrier(OFFSET * t, 0.1 * (1.0 + 0.5 * pulse(t)), 0.0)
            }),
            _ => {
                // Integrate the instantaneous frequency sample by sample: the step to sample n
                // is the frequency midway from sample n - 1.
                let mut phase = 0.0;
                synth(rate, input_len(rate), |t| {
                    phase += TAU * (OFFSET + 0.6 * deviation * pulse(t - 0.5 / rate)) / rate;
                    Complex64::from_polar(0.1, phase)
                })
            }
        };
        let cfg = DemodConfig {
            agc: false,
            deemphasis_us: None,
            ..DemodConfig::new(mode, rate, OFFSET)
        };
        let demod = Demodulator::new(&cfg).unwrap();
        let out = run(&cfg, &input);
        let around = (t0 * demod.output_rate_hz()) as usize;
        let k = (around..around + 1000)
            .max_by(|&a, &b| out[a].total_cmp(&out[b]))
            .unwrap();
        let (l, c, r) = (f64::from(out[k - 1]), f64::from(out[k]), f64::from(out[k + 1]));
        let peak = k as f64 + 0.5 * (l - r) / (l - 2.0 * c + r);
        let tau = if mode == Mode::Am {
            f64::from(AM_CARRIER_S)
        } else {
            1.0 / (TAU * f64::from(DC_BLOCK_HZ))
        };
        let want = (t0 + demod.latency_s() - sigma * sigma / tau) * demod.output_rate_hz();
        eprintln!(
            "{mode} at {rate}: latency {:.3} ms, pulse at {peak:.3}, want {want:.3}",
            demod.latency_s() * 1e3
        );
        assert!(
            (peak - want).abs() < 0.02,
            "{mode} at {rate}: peak {peak:.3}, want {want:.3}"
        );
        assert!((demod.latency_samples() - demod.latency_s() * demod.output_rate_hz()).abs() < 1e-9);
    }
}

/// Every mode parses from its lowercase name and prints it back; other names are refused.
#[test]
fn modes_parse_from_their_names() {
    for mode in Mode::ALL {
        assert_eq!(Mode::parse(mode.as_str()), Ok(mode));
        assert_eq!(mode.to_string().parse::<Mode>(), Ok(mode));
    }
    assert_eq!(Mode::parse("fm"), Err(DemodError::UnknownMode("fm".into())));
    assert!(Mode::parse("NFM").is_err());
    assert_eq!(
        DemodError::UnknownMode("fm".into()).to_string(),
        "unknown mode \"fm\": expected one of am, nfm, wfm, usb, lsb, cw"
    );
}

/// Bad rates, offsets outside the input band, passbands beyond the channel and other
/// out-of-range settings are refused with the matching error.
#[test]
fn bad_configs_are_refused() {
    let base = config(Mode::Usb);
    let error = |cfg: DemodConfig| Demodulator::new(&cfg).unwrap_err();
    for rate in [0.0, -1.0, f64::NAN, 5e3, 2e8] {
        let e = error(DemodConfig {
            input_rate_hz: rate,
            ..base.clone()
        });
        assert!(matches!(e, DemodError::InputRate { .. }), "{rate}: {e}");
    }
    for offset in [1.2e6, -1.3e6, f64::INFINITY, f64::NAN] {
        let e = error(DemodConfig {
            offset_hz: offset,
            ..base.clone()
        });
        assert!(
            matches!(e, DemodError::OffsetOutsideInput { .. }),
            "{offset}: {e}"
        );
    }
    let passbands = [
        (Mode::Usb, 300.0, 7_000.0),
        (Mode::Usb, 2_700.0, 300.0),
        (Mode::Usb, f64::NAN, 300.0),
        (Mode::Am, -6_000.0, 6_000.0),
        (Mode::Nfm, -12_000.0, 12_000.0),
        (Mode::Wfm, -120e3, 120e3),
        // 5000 Hz plus the 700 Hz BFO is beyond 5400 Hz.
        (Mode::Cw, -200.0, 5_000.0),
    ];
    for (mode, low_hz, high_hz) in passbands {
        let e = error(DemodConfig {
            passband: Passband { low_hz, high_hz },
            ..config(mode)
        });
        assert!(
            matches!(e, DemodError::Passband { .. }),
            "{mode} [{low_hz}, {high_hz}]: {e}"
        );
    }
    let e = error(DemodConfig {
        passband: Passband {
            low_hz: 300.0,
            high_hz: 7_000.0,
        },
        ..base.clone()
    });
    assert!(e.to_string().contains("[300, 7000] Hz does not fit usb"), "{e}");
    assert!(e.to_string().contains("+-5400 Hz"), "{e}");
    let parameters = [
        DemodConfig {
            fm_deviation_hz: 0.0,
            ..config(Mode::Nfm)
        },
        DemodConfig {
            deemphasis_us: Some(-50.0),
            ..config(Mode::Wfm)
        },
        DemodConfig {
            squelch_dbfs: Some(f32::NAN),
            ..base.clone()
        },
        DemodConfig {
            cw_bfo_hz: f64::NAN,
            ..config(Mode::Cw)
        },
    ];
    for cfg in parameters {
        assert!(
            matches!(error(cfg.clone()), DemodError::Parameter { .. }),
            "{cfg:?}"
        );
    }
    // The extremes that are allowed.
    for (mode, low_hz, high_hz) in [
        (Mode::Usb, 100.0, 5_400.0),
        (Mode::Wfm, -108e3, 108e3),
        (Mode::Cw, -500.0, 4_700.0),
    ] {
        let cfg = DemodConfig {
            passband: Passband { low_hz, high_hz },
            ..config(mode)
        };
        assert!(Demodulator::new(&cfg).is_ok(), "{mode} [{low_hz}, {high_hz}]");
    }
    let mut demod = Demodulator::new(&base).unwrap();
    assert!(matches!(
        demod.retune(1.2e6),
        Err(DemodError::OffsetOutsideInput { .. })
    ));
    assert_eq!(demod.config().offset_hz, OFFSET);
}

/// Retuning moves the channel without rebuilding: a USB tone 1 kHz above 150 kHz, then one
/// 1.5 kHz above -400 kHz after `retune(-400 kHz)`.
#[test]
fn retune_moves_the_channel() {
    let input = tones(RATE, &[(OFFSET + 1_000.0, 0.05), (-400e3 + 1_500.0, 0.05)]);
    let mut demod = Demodulator::new(&config(Mode::Usb)).unwrap();
    let half = input.len() / 2;
    let mut first = Vec::new();
    demod.process(&input[..half], &mut first);
    demod.retune(-400e3).unwrap();
    assert_eq!(demod.config().offset_hz, -400e3);
    let mut second = Vec::new();
    demod.process(&input[half..], &mut second);
    assert_tone(&first[first.len() - 2400..], 12e3, 1_000.0, 0.9999);
    assert_tone(&second[second.len() - 2400..], 12e3, 1_500.0, 0.9999);
}

/// Passbands off-centre on the listened frequency (the mixer then centres the passband, and
/// the detector undoes the shift) give the same tone at the same level: NFM [-6, +9] kHz, AM
/// [-3, +5] kHz without AGC (the envelope of the remaining sidebands, both within it), USB
/// [100, 3000] Hz and CW [-100, +300] Hz (800 Hz for a carrier 100 Hz up).
#[test]
fn off_centre_passbands_keep_tone_and_level() {
    let band = |low_hz, high_hz| Passband { low_hz, high_hz };
    let cases = [
        (
            Mode::Nfm,
            band(-6e3, 9e3),
            fm(RATE, OFFSET, 0.1, 3_000.0, 1_000.0),
            1_000.0,
            0.6,
        ),
        (
            Mode::Am,
            band(-3e3, 5e3),
            am(RATE, OFFSET, 0.1, 0.5, 1_000.0),
            1_000.0,
            0.05,
        ),
        (
            Mode::Usb,
            band(100.0, 3e3),
            tones(RATE, &[(OFFSET + 1_000.0, 0.05)]),
            1_000.0,
            0.05,
        ),
        (
            Mode::Cw,
            band(-100.0, 300.0),
            tones(RATE, &[(OFFSET + 100.0, 0.05)]),
            800.0,
            0.05,
        ),
    ];
    for (mode, passband, input, tone, want) in cases {
        let cfg = DemodConfig {
            passband,
            agc: false,
            ..config(mode)
        };
        let out = run(&cfg, &input);
        let fit = assert_tone(steady(&out, 12e3), 12e3, tone, 0.999);
        assert!(
            (fit.amplitude / want - 1.0).abs() < 0.01,
            "{mode} {passband:?}: {fit:?}"
        );
    }
}

/// `process_with_channel` gives the audio of `process` and, besides, the channel it
/// demodulated: at the channel rate, centred on the passband (`channel_offset_hz` from the
/// listened frequency), so a USB tone 1 kHz above the carrier sits at 1000 - 1500 = -500 Hz,
/// with its amplitude (0.05, to 1 %).
#[test]
fn the_channel_comes_out_beside_the_audio() {
    let input = tones(RATE, &[(OFFSET + 1_000.0, 0.05)]);
    let cfg = config(Mode::Usb);
    let want = run(&cfg, &input);
    let mut demod = Demodulator::new(&cfg).unwrap();
    assert_eq!(demod.channel_rate_hz(), 12e3);
    assert_eq!(demod.channel_offset_hz(), 1_500.0);
    let (mut audio, mut channel) = (Vec::new(), Vec::new());
    for block in input.chunks((RATE / 100.0) as usize) {
        demod.process_with_channel(block, &mut audio, &mut channel);
    }
    assert!(audio == want, "audio differs from process");
    assert_eq!(channel.len(), audio.len());
    let start = (SETTLE_S * 12e3) as usize;
    let steady = &channel[start..start + (MEASURE_S * 12e3) as usize];
    let amplitude = steady
        .iter()
        .enumerate()
        .map(|(n, z)| {
            Complex64::new(z.re.into(), z.im.into())
                * Complex64::from_polar(1.0, TAU * 500.0 * n as f64 / 12e3)
        })
        .sum::<Complex64>()
        .norm()
        / steady.len() as f64;
    assert!((amplitude / 0.05 - 1.0).abs() < 0.01, "{amplitude}");
}
