//! TDOA localization: exactness without noise, the Cramer-Rao bound against a naive matrix
//! computation, Monte Carlo accuracy and calibration of the whole chain (simulated IQ ->
//! delay estimation -> fix) at regional and continental scale, outlier rejection and degenerate
//! inputs.

mod common;

use common::{db_to_linear, noise_power_for, noisy, random_phase, BandSignal};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use sdrhub_dsp::delay::{DelayError, DelayEstimator};
use sdrhub_dsp::geo::{GeoPoint, LocalFrame, SPEED_OF_LIGHT_M_S};
use sdrhub_dsp::locate::tdoa::{
    locate_tdoa, tdoa_crlb, tdoa_inputs, Propagation, TdoaConfig, TdoaFix, TdoaReceiver,
};
use sdrhub_dsp::locate::{LocateError, ONE_SIGMA_PROBABILITY};
use sdrhub_dsp::Complex32;
use std::time::Instant;

const FS: f64 = 12_000.0;
/// The simulated signal fills this band, cycles per sample (70 %, off centre).
const BAND: (f64, f64) = (-0.3, 0.4);
/// GPS-disciplined receiver clocks: 50 ns standard deviation each.
const CLOCK_SIGMA_S: f64 = 50e-9;

fn assert_all_finite(fix: &TdoaFix) {
    let numbers = [
        fix.position.lat_deg,
        fix.position.lon_deg,
        fix.ellipse.semi_major_m,
        fix.ellipse.semi_minor_m,
        fix.ellipse.orientation_deg,
        fix.uncertainty_m,
        fix.confidence,
        fix.chi2,
        fix.gdop,
    ];
    assert!(
        numbers
            .iter()
            .chain(fix.covariance_en.iter().flatten())
            .chain(&fix.residuals_m)
            .all(|v| v.is_finite()),
        "{fix:?}"
    );
    assert!((0.0..=1.0).contains(&fix.confidence));
}

/// Exact delays of `receivers[1..]` relative to `receivers[0]` for a transmitter at `tx`.
fn true_delays(receivers: &[GeoPoint], tx: GeoPoint, propagation: Propagation) -> Vec<f64> {
    let t0 = propagation.distance_m(receivers[0], tx) / SPEED_OF_LIGHT_M_S;
    receivers[1..]
        .iter()
        .map(|&r| propagation.distance_m(r, tx) / SPEED_OF_LIGHT_M_S - t0)
        .collect()
}

fn with_sigmas(positions: &[GeoPoint], sigmas_s: &[f64]) -> Vec<TdoaReceiver> {
    positions
        .iter()
        .zip(sigmas_s)
        .map(|(&position, &sigma_s)| TdoaReceiver { position, sigma_s })
        .collect()
}

/// A random network: `m` receivers around a centre at bearings spread evenly +-20 degrees, at
/// 0.4-1.0 network radii, and a transmitter uniform within `tx_radii` network radii.
fn scene(rng: &mut SmallRng, m: usize, radius_m: f64, tx_radii: f64) -> (Vec<GeoPoint>, GeoPoint) {
    // Longitudes kept clear of the antimeridian, where offsets would leave [-180, 180].
    let centre = GeoPoint::new(rng.random_range(-60.0..60.0), rng.random_range(-150.0..150.0));
    let frame = LocalFrame::new(centre);
    let phase = rng.random_range(0.0..360.0);
    let receivers = (0..m)
        .map(|i| {
            let bearing = phase + 360.0 * i as f64 / m as f64 + rng.random_range(-20.0..20.0);
            frame.offset(bearing, radius_m * rng.random_range(0.4..1.0))
        })
        .collect();
    let tx = frame.offset(
        rng.random_range(0.0..360.0),
        tx_radii * radius_m * rng.random_range(0.0f64..1.0).sqrt(),
    );
    (receivers, tx)
}

#[test]
fn noise_free_delays_give_the_exact_position_regionally_and_continentally() {
    let mut rng = SmallRng::seed_from_u64(1);
    for (name, radius, propagation) in [
        ("regional", 30e3, Propagation::LineOfSight),
        ("continental", 1_000e3, Propagation::LineOfSight),
        ("continental, great circle", 1_000e3, Propagation::GreatCircle),
        ("continental, outside", 800e3, Propagation::LineOfSight),
    ] {
        for m in [3, 4, 6] {
            for _ in 0..10 {
                let tx_radii = if name.ends_with("outside") { 1.5 } else { 0.8 };
                let (rx, tx) = scene(&mut rng, m, radius, tx_radii);
                let receivers = with_sigmas(&rx, &vec![1e-6; m]);
                let config = TdoaConfig {
                    propagation,
                    ..TdoaConfig::default()
                };
                let fix = locate_tdoa(&receivers, &true_delays(&rx, tx, propagation), &config).unwrap();
                assert_all_finite(&fix);
                // Three receivers outside their triangle can have a twin; the truth is then one
                // of the two.
                let miss = fix.position.distance_m(tx).min(
                    fix.alternative
                        .map_or(f64::INFINITY, |a| a.position.distance_m(tx)),
                );
                // Tolerance 0.05 m: the solver stops on 1 mm steps.
                assert!(miss < 0.05, "{name}, M = {m}: {miss} m off; {fix:?}");
                assert!(fix.chi2 < 1e-6 && fix.rejected.is_empty(), "{name}: {fix:?}");
                assert_eq!(fix.dof, m - 3);
                if m == 3 {
                    assert_eq!(fix.confidence, 0.5);
                }
            }
        }
    }
}

#[test]
fn crlb_matches_the_difference_form_computed_naively() {
    // c^2 (H^T Q^-1 H)^-1 with H rows the gradients of r_i - r_0 and
    // Q = diag(sigma_i^2) + sigma_0^2 1 1^T, built and inverted as dense matrices, against the
    // profiled form tdoa_crlb uses. Gradients by central differences in the tangent plane at
    // the transmitter; tolerance 1e-6 relative (the differences' truncation error).
    let mut rng = SmallRng::seed_from_u64(2);
    for radius in [30e3, 1_500e3] {
        let (rx, tx) = scene(&mut rng, 6, radius, 1.0);
        let sigmas: Vec<f64> = (0..6).map(|_| rng.random_range(0.5e-6..3e-6)).collect();
        let frame = LocalFrame::new(tx);
        let h = 1.0;
        let range = |i: usize, e: f64, n: f64| frame.to_geo([e, n]).distance_m(rx[i]);
        let gradient = |i: usize| {
            [
                (range(i, h, 0.0) - range(i, -h, 0.0)) / (2.0 * h),
                (range(i, 0.0, h) - range(i, 0.0, -h)) / (2.0 * h),
            ]
        };
        let m = rx.len() - 1;
        let g0 = gradient(0);
        let rows: Vec<[f64; 2]> = (1..=m)
            .map(|i| {
                let g = gradient(i);
                [g[0] - g0[0], g[1] - g0[1]]
            })
            .collect();
        // Q (s^2) and its inverse by Gauss-Jordan elimination.
        let q: Vec<Vec<f64>> = (0..m)
            .map(|i| {
                (0..m)
                    .map(|j| sigmas[0].powi(2) + if i == j { sigmas[i + 1].powi(2) } else { 0.0 })
                    .collect()
            })
            .collect();
        let qi = invert(q);
        let mut info = [[0.0; 2]; 2];
        for i in 0..m {
            for j in 0..m {
                for a in 0..2 {
                    for b in 0..2 {
                        info[a][b] += rows[i][a] * qi[i][j] * rows[j][b];
                    }
                }
            }
        }
        let det = info[0][0] * info[1][1] - info[0][1] * info[1][0];
        let c2 = SPEED_OF_LIGHT_M_S * SPEED_OF_LIGHT_M_S;
        let want = [
            [c2 * info[1][1] / det, -c2 * info[0][1] / det],
            [-c2 * info[1][0] / det, c2 * info[0][0] / det],
        ];
        let got = tdoa_crlb(&rx, tx, &sigmas, Propagation::LineOfSight);
        let scale = want[0][0] + want[1][1];
        for a in 0..2 {
            for b in 0..2 {
                assert!(
                    (got[a][b] - want[a][b]).abs() < 1e-6 * scale,
                    "radius {radius}: {got:?} vs {want:?}"
                );
            }
        }
        // At the truth, with exact delays, the fix's covariance is the bound itself.
        let fix = locate_tdoa(
            &with_sigmas(&rx, &sigmas),
            &true_delays(&rx, tx, Propagation::LineOfSight),
            &TdoaConfig::default(),
        )
        .unwrap();
        assert!(((fix.covariance_en[0][0] + fix.covariance_en[1][1]) / scale - 1.0).abs() < 1e-4);
    }
}

fn invert(mut a: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let n = a.len();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let p = a[col][col];
        for k in 0..n {
            a[col][k] /= p;
            inv[col][k] /= p;
        }
        for row in 0..n {
            if row != col {
                let f = a[row][col];
                for k in 0..n {
                    a[row][k] -= f * a[col][k];
                    inv[row][k] -= f * inv[col][k];
                }
            }
        }
    }
    inv
}

/// One scene through the whole chain: IQ snippets with the true propagation delays (plus each
/// receiver's clock error and `extra_delay_s`), delays estimated against receiver 0, then the
/// fix. Returns the fix and the Cramer-Rao bound from the true SNRs.
struct Chain {
    len: usize,
    estimator: DelayEstimator,
}

struct Shot {
    fix: Result<TdoaFix, LocateError>,
    crlb: [[f64; 2]; 2],
    tx: GeoPoint,
}

impl Chain {
    fn new(len: usize, max_lag: usize) -> Self {
        Self {
            len,
            estimator: DelayEstimator::new(len, max_lag, FS),
        }
    }

    fn run(
        &mut self,
        rng: &mut SmallRng,
        receivers: &[GeoPoint],
        tx: GeoPoint,
        snr_db: &[f64],
        extra_delay_s: &[f64],
    ) -> Shot {
        let m = receivers.len();
        let arrival: Vec<f64> = receivers
            .iter()
            .zip(extra_delay_s)
            .map(|(&r, extra)| {
                let clock = Normal::new(0.0, CLOCK_SIGMA_S).unwrap().sample(rng);
                r.distance_m(tx) / SPEED_OF_LIGHT_M_S + clock + extra
            })
            .collect();
        // The emission time is unknown to the receivers: centre the delays on zero.
        let mean = arrival.iter().sum::<f64>() / m as f64;
        let spread = arrival.iter().map(|a| (a - mean).abs()).fold(0.0, f64::max);
        let signal = BandSignal::new(rng, self.len, spread * FS, BAND.0, BAND.1);
        let snippets: Vec<Vec<Complex32>> = arrival
            .iter()
            .zip(snr_db)
            .map(|(a, &snr)| {
                let phase = random_phase(rng);
                let clean = signal.snippet((a - mean) * FS, phase, 1.0);
                noisy(rng, &clean, noise_power_for(db_to_linear(snr), signal.occupancy))
            })
            .collect();
        self.estimator.set_reference(&snippets[0]).unwrap();
        let estimates: Vec<_> = snippets[1..]
            .iter()
            .map(|s| {
                self.estimator
                    .estimate(s)
                    .expect("SNRs are well above the threshold")
            })
            .collect();
        let (rx, delays) = tdoa_inputs(receivers, &estimates, CLOCK_SIGMA_S);
        let fix = locate_tdoa(&rx, &delays, &TdoaConfig::default());

        // Timing sigmas from the true SNRs: the delay bound split into the reference's share
        // K / g_0 and the others' K (1/g_i + 1/(g_0 g_i)), plus the clocks.
        let b = signal.occupancy * FS;
        let k = 1.0 / (8.0 * std::f64::consts::PI.powi(2) * b * b / 12.0 * b * (self.len as f64 / FS));
        let g: Vec<f64> = snr_db.iter().map(|&s| db_to_linear(s)).collect();
        let clock = CLOCK_SIGMA_S * CLOCK_SIGMA_S;
        let sigmas: Vec<f64> = (0..m)
            .map(|i| {
                let var = if i == 0 {
                    k / g[0]
                } else {
                    k * (1.0 / g[i] + 1.0 / (g[0] * g[i]))
                };
                (var + clock).sqrt()
            })
            .collect();
        Shot {
            fix,
            crlb: tdoa_crlb(receivers, tx, &sigmas, Propagation::LineOfSight),
            tx,
        }
    }
}

/// Outcome of a Monte Carlo run.
#[derive(Debug, Default)]
struct Calibration {
    fixes: usize,
    failures: usize,
    rejections: usize,
    inside_circle: usize,
    inside_ellipse: usize,
    square_error: f64,
    trace_crlb: f64,
    confidence_below_5_percent: usize,
    /// Fixes off by more than 5 sqrt(tr CRLB): the data favoured another minimum.
    outliers: usize,
    /// Sum over fixes of |error|^2 / tr(CRLB): every fix weighs the same, whatever its geometry.
    normalised_square_error: f64,
    /// `square_error` and `trace_crlb` over the other fixes.
    trimmed_square_error: f64,
    trimmed_trace_crlb: f64,
    seconds: f64,
}

impl Calibration {
    fn record(&mut self, shot: Shot) {
        match shot.fix {
            Ok(fix) => {
                assert_all_finite(&fix);
                let miss = fix.position.distance_m(shot.tx);
                self.fixes += 1;
                self.rejections += fix.rejected.len();
                self.inside_circle += usize::from(miss <= fix.uncertainty_m);
                self.inside_ellipse += usize::from(inside_ellipse(&fix, shot.tx));
                self.square_error += miss * miss;
                let trace = shot.crlb[0][0] + shot.crlb[1][1];
                self.normalised_square_error += miss * miss / trace;
                if miss * miss > 25.0 * trace {
                    self.outliers += 1;
                } else {
                    self.trimmed_square_error += miss * miss;
                    self.trimmed_trace_crlb += trace;
                }
                self.trace_crlb += trace;
                self.confidence_below_5_percent += usize::from(fix.confidence < 0.05);
            }
            Err(e) => {
                eprintln!("fix failed: {e}");
                self.failures += 1;
            }
        }
    }
    /// Position RMSE over the root of the mean trace of the CRLB.
    fn rmse_over_crlb(&self) -> f64 {
        (self.square_error / self.trace_crlb).sqrt()
    }
    /// The same without the outliers.
    fn trimmed_rmse_over_crlb(&self) -> f64 {
        (self.trimmed_square_error / self.trimmed_trace_crlb).sqrt()
    }
    fn circle(&self) -> f64 {
        self.inside_circle as f64 / self.fixes as f64
    }
    fn ellipse(&self) -> f64 {
        self.inside_ellipse as f64 / self.fixes as f64
    }
    fn report(&self, name: &str) {
        eprintln!(
            "{name}: {} fixes, {} failed, {} receivers rejected, RMSE {:.0} m, sqrt(mean tr CRLB) {:.0} m, \
             RMSE/sqrt(tr CRLB) {:.3}, inside 68 % circle {:.3}, inside 68 % ellipse {:.3}, \
             confidence < 5 % in {:.3}, {} fixes off by more than 5 sqrt(tr CRLB) (without them \
             RMSE/sqrt(tr CRLB) {:.3}), RMS of |error|/sqrt(tr CRLB) per fix {:.3}, {:.2} ms per scene",
            self.fixes,
            self.failures,
            self.rejections,
            (self.square_error / self.fixes as f64).sqrt(),
            (self.trace_crlb / self.fixes as f64).sqrt(),
            self.rmse_over_crlb(),
            self.circle(),
            self.ellipse(),
            self.confidence_below_5_percent as f64 / self.fixes as f64,
            self.outliers,
            self.trimmed_rmse_over_crlb(),
            (self.normalised_square_error / self.fixes as f64).sqrt(),
            1e3 * self.seconds / (self.fixes + self.failures) as f64
        );
    }
}

/// Whether `truth` lies inside the fix's 68 % ellipse, from the reported axes and bearing.
fn inside_ellipse(fix: &TdoaFix, truth: GeoPoint) -> bool {
    let d = LocalFrame::new(fix.position).to_enu(truth);
    let (s, c) = fix.ellipse.orientation_deg.to_radians().sin_cos();
    let along = d[0] * s + d[1] * c;
    let across = d[0] * c - d[1] * s;
    (along / fix.ellipse.semi_major_m).powi(2) + (across / fix.ellipse.semi_minor_m).powi(2) <= 1.0
}

/// `trials` scenes of 4-6 receivers over a network of radius `radius` (m, uniform in the
/// range), transmitter within one network radius, in-band SNR -6..10 dB per receiver,
/// 0.5 s snippets.
fn full_chain_monte_carlo(
    seed: u64,
    trials: usize,
    radius: std::ops::Range<f64>,
    max_lag: usize,
) -> Calibration {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut chain = Chain::new(6_000, max_lag);
    let mut cal = Calibration::default();
    for _ in 0..trials {
        let m = rng.random_range(4..=6);
        let r = rng.random_range(radius.clone());
        let (rx, tx) = scene(&mut rng, m, r, 1.0);
        let snr: Vec<f64> = (0..m).map(|_| rng.random_range(-6.0..10.0)).collect();
        let start = Instant::now();
        let shot = chain.run(&mut rng, &rx, tx, &snr, &vec![0.0; m]);
        cal.seconds += start.elapsed().as_secs_f64();
        cal.record(shot);
    }
    cal
}

/// The assertions on a full-chain run. RMSE within 1.5x of the bound (the estimator pays a
/// few % for the band it finds itself and the 2 x `max_lag` samples its window costs); the 68 %
/// circle held 60-78 % of the time (binomial standard error 2.7 % at 300 fixes).
///
/// The RMSE ratio is fragile: with 4-5 receivers and the transmitter near the network's edge,
/// about 1 fix in 1000 lands on another minimum that the noisy delays favour (chi2 at the truth
/// above the fix's), usually with a reported radius to match, and one such fix among 300 can
/// lift the ratio to 2-5. Over ten other seeds (`full_chain_seed_sweep`) the regional ratio was
/// 0.87-5.3 (above 1.5 in three) and the continental one 0.90-1.59, while coverage stayed within
/// 0.64-0.72. So the ratio is also asserted without fixes off by more than 5 sqrt(tr CRLB), and
/// those must stay below 1 %.
fn assert_calibrated(cal: &Calibration) {
    assert_eq!(cal.failures, 0, "{cal:?}");
    assert!(cal.rmse_over_crlb() < 1.5, "{cal:?}");
    assert!(cal.trimmed_rmse_over_crlb() < 1.25, "{cal:?}");
    assert!(cal.outliers * 100 <= cal.fixes, "{cal:?}");
    assert!(cal.circle() > 0.60 && cal.circle() < 0.78, "{cal:?}");
}

#[test]
fn full_chain_regional_monte_carlo_reaches_the_crlb_and_is_calibrated() {
    // 20-60 km networks: delays of at most 0.2 ms (2.4 samples), window +-8 samples.
    let cal = full_chain_monte_carlo(2026, 300, 10e3..30e3, 8);
    cal.report("full chain, regional (20-60 km)");
    assert_calibrated(&cal);
}

#[test]
fn full_chain_continental_monte_carlo_reaches_the_crlb_and_is_calibrated() {
    // 500-2000 km networks: delays up to 6.7 ms (80 samples), window +-100 samples.
    let cal = full_chain_monte_carlo(2027, 300, 250e3..1_000e3, 100);
    cal.report("full chain, continental (500-2000 km)");
    assert_calibrated(&cal);
}

/// `trials` scenes with delays drawn from the timing model itself (independent N(0, sigma_i^2)
/// arrival errors, sigma 0.1-1 us), to check the solver's calibration more tightly than the
/// full chain can afford.
fn drawn_delays_monte_carlo(
    seed: u64,
    trials: usize,
    radius: std::ops::Range<f64>,
    propagation: Propagation,
) -> Calibration {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut cal = Calibration::default();
    let config = TdoaConfig {
        propagation,
        ..TdoaConfig::default()
    };
    for _ in 0..trials {
        let m = rng.random_range(4..=6);
        let r = rng.random_range(radius.clone());
        let (rx, tx) = scene(&mut rng, m, r, 1.0);
        let sigmas: Vec<f64> = (0..m).map(|_| rng.random_range(0.1e-6..1e-6)).collect();
        let errors: Vec<f64> = sigmas
            .iter()
            .map(|&s| Normal::new(0.0, s).unwrap().sample(&mut rng))
            .collect();
        let delays: Vec<f64> = true_delays(&rx, tx, propagation)
            .iter()
            .enumerate()
            .map(|(i, d)| d + errors[i + 1] - errors[0])
            .collect();
        let start = Instant::now();
        let fix = locate_tdoa(&with_sigmas(&rx, &sigmas), &delays, &config);
        cal.seconds += start.elapsed().as_secs_f64();
        cal.record(Shot {
            fix,
            crlb: tdoa_crlb(&rx, tx, &sigmas, propagation),
            tx,
        });
    }
    cal
}

#[test]
fn drawn_delays_monte_carlo_is_calibrated_at_both_scales() {
    for (name, radius, propagation, seed) in [
        (
            "drawn delays, regional",
            10e3..30e3,
            Propagation::LineOfSight,
            113,
        ),
        (
            "drawn delays, continental",
            250e3..1_000e3,
            Propagation::LineOfSight,
            12,
        ),
        (
            "drawn delays, continental, great circle",
            250e3..1_000e3,
            Propagation::GreatCircle,
            13,
        ),
    ] {
        let cal = drawn_delays_monte_carlo(seed, 2000, radius, propagation);
        cal.report(name);
        assert!(cal.failures <= 2, "{name}: {cal:?}");
        // Tolerances at 2000 fixes: binomial standard error 1 %, so +-0.035 on coverage. The
        // RMSE ratio's sampling error is about 2 % while the errors are Gaussian, as they are
        // at continental scale; regionally, with 4-5 receivers and the transmitter near the
        // network's edge, about 1 fix in 1000 lands on another minimum that the noisy delays
        // favour (chi2 at the truth 5-12 against under 1 there), and single such fixes move
        // the RMSE ratio between 0.9 and 3 from seed to seed while leaving the coverage alone.
        if name.contains("regional") {
            assert!(cal.rmse_over_crlb() < 1.5, "{name}: {cal:?}");
        } else {
            assert!((cal.rmse_over_crlb() - 1.0).abs() < 0.08, "{name}: {cal:?}");
        }
        assert!(
            (cal.circle() - ONE_SIGMA_PROBABILITY).abs() < 0.035,
            "{name}: {cal:?}"
        );
        assert!(
            (cal.ellipse() - ONE_SIGMA_PROBABILITY).abs() < 0.035,
            "{name}: {cal:?}"
        );
        // The confidence is a p-value: uniform, so below 5 % in about 5 % of fixes.
        let low = cal.confidence_below_5_percent as f64 / cal.fixes as f64;
        assert!(low < 0.08, "{name}: {cal:?}");
    }
}

#[test]
fn a_receiver_with_a_wrong_clock_is_rejected_and_the_fix_stays_good() {
    // Six receivers over 40 km, one clock 20 us late (6 km of range, ~10 sigma here): it must be
    // named, and the fix must hold the truth within its 3-sigma-ish radius.
    let mut rng = SmallRng::seed_from_u64(77);
    let mut chain = Chain::new(6_000, 8);
    for bad in [3, 0] {
        for _ in 0..5 {
            let (rx, tx) = scene(&mut rng, 6, 20e3, 0.8);
            let mut extra = vec![0.0; 6];
            extra[bad] = 20e-6;
            let shot = chain.run(&mut rng, &rx, tx, &[3.0; 6], &extra);
            let fix = shot.fix.unwrap();
            assert_all_finite(&fix);
            assert_eq!(fix.rejected.len(), 1, "{fix:?}");
            let rejection = &fix.rejected[0];
            assert_eq!(rejection.receiver, bad, "{fix:?}");
            assert!(
                rejection.reason.contains(&format!("receiver {bad}")),
                "{}",
                rejection.reason
            );
            // The rejected receiver's residual shows the 6 km it is off.
            assert!(
                (fix.residuals_m[bad].abs() - 20e-6 * SPEED_OF_LIGHT_M_S).abs() < 1_000.0,
                "{fix:?}"
            );
            let miss = fix.position.distance_m(tx);
            assert!(
                miss < 2.5 * fix.uncertainty_m,
                "{miss} m off, radius {}",
                fix.uncertainty_m
            );
            assert!(fix.confidence > 1e-3, "{fix:?}");
            eprintln!(
                "wrong clock at receiver {bad}: rejected ({}), fix {miss:.0} m off, 68 % radius {:.0} m",
                rejection.reason, fix.uncertainty_m
            );
        }
    }
}

#[test]
fn outlier_rejection_needs_five_receivers_and_can_be_disabled() {
    let mut rng = SmallRng::seed_from_u64(8);
    let (rx, tx) = scene(&mut rng, 4, 20e3, 0.8);
    let mut delays = true_delays(&rx, tx, Propagation::LineOfSight);
    delays[1] += 20e-6;
    let receivers = with_sigmas(&rx, &[1e-6; 4]);
    // Four receivers: nothing is rejected, and the confidence says the fit is implausible.
    let fix = locate_tdoa(&receivers, &delays, &TdoaConfig::default()).unwrap();
    assert!(fix.rejected.is_empty() && fix.confidence < 1e-3, "{fix:?}");

    let (rx, tx) = scene(&mut rng, 6, 20e3, 0.8);
    let mut delays = true_delays(&rx, tx, Propagation::LineOfSight);
    delays[1] += 20e-6;
    let receivers = with_sigmas(&rx, &[1e-6; 6]);
    let off = TdoaConfig {
        outlier_p_value: 0.0,
        ..TdoaConfig::default()
    };
    let fix = locate_tdoa(&receivers, &delays, &off).unwrap();
    assert!(fix.rejected.is_empty() && fix.confidence < 1e-3, "{fix:?}");
    let fix = locate_tdoa(&receivers, &delays, &TdoaConfig::default()).unwrap();
    assert_eq!(fix.rejected.len(), 1);
    assert_eq!(fix.rejected[0].receiver, 2);
}

#[test]
fn collinear_too_few_and_invalid_inputs_give_clear_errors() {
    let frame = LocalFrame::new(GeoPoint::new(52.0, 13.0));
    let tx = frame.offset(30.0, 8_000.0);

    // Two receivers.
    let two: Vec<GeoPoint> = [0.0, 180.0].iter().map(|&b| frame.offset(b, 10e3)).collect();
    let err = locate_tdoa(
        &with_sigmas(&two, &[1e-6; 2]),
        &true_delays(&two, tx, Propagation::LineOfSight),
        &TdoaConfig::default(),
    )
    .unwrap_err();
    assert_eq!(err, LocateError::TooFewReceivers { have: 2, need: 3 });

    // Five receivers on an East-West line, regionally and over 2000 km.
    for span in [15e3, 1_000e3] {
        let line: Vec<GeoPoint> = [-1.0, -0.4, 0.1, 0.6, 1.0]
            .iter()
            .map(|&f| frame.to_geo([f * span, 0.0]))
            .collect();
        let err = locate_tdoa(
            &with_sigmas(&line, &[1e-6; 5]),
            &true_delays(&line, tx, Propagation::LineOfSight),
            &TdoaConfig::default(),
        )
        .unwrap_err();
        assert!(matches!(err, LocateError::Degenerate(_)), "{err:?}");
        assert!(err.to_string().contains("line"), "{err}");
    }

    // Nearly collinear (500 m off a 30 km line) with noise: an error or a finite fix.
    let mut rng = SmallRng::seed_from_u64(9);
    let bent: Vec<GeoPoint> = [(-15e3, 0.0), (-4e3, 500.0), (6e3, 0.0), (15e3, 0.0)]
        .iter()
        .map(|&(e, n)| frame.to_geo([e, n]))
        .collect();
    for _ in 0..50 {
        let delays: Vec<f64> = true_delays(&bent, tx, Propagation::LineOfSight)
            .iter()
            .map(|d| d + Normal::new(0.0, 1e-6).unwrap().sample(&mut rng))
            .collect();
        match locate_tdoa(&with_sigmas(&bent, &[1e-6; 4]), &delays, &TdoaConfig::default()) {
            Ok(fix) => assert_all_finite(&fix),
            Err(e) => assert!(matches!(e, LocateError::Degenerate(_)), "{e:?}"),
        }
    }

    // A transmitter far outside a small network: an error or a finite fix, never NaN.
    let small: Vec<GeoPoint> = [0.0, 120.0, 240.0, 300.0]
        .iter()
        .map(|&b| frame.offset(b, 2e3))
        .collect();
    let far = frame.offset(70.0, 300e3);
    for _ in 0..20 {
        let delays: Vec<f64> = true_delays(&small, far, Propagation::LineOfSight)
            .iter()
            .map(|d| d + Normal::new(0.0, 1e-6).unwrap().sample(&mut rng))
            .collect();
        match locate_tdoa(&with_sigmas(&small, &[1e-6; 4]), &delays, &TdoaConfig::default()) {
            Ok(fix) => assert_all_finite(&fix),
            Err(e) => assert!(matches!(e, LocateError::Degenerate(_)), "{e:?}"),
        }
    }

    let four: Vec<GeoPoint> = [0.0, 90.0, 180.0, 270.0]
        .iter()
        .map(|&b| frame.offset(b, 10e3))
        .collect();
    let delays = true_delays(&four, tx, Propagation::LineOfSight);
    let invalid = |receivers: &[TdoaReceiver], delays: &[f64]| {
        matches!(
            locate_tdoa(receivers, delays, &TdoaConfig::default()),
            Err(LocateError::InvalidInput(_))
        )
    };
    assert!(invalid(&with_sigmas(&four, &[1e-6, 0.0, 1e-6, 1e-6]), &delays));
    assert!(invalid(
        &with_sigmas(&four, &[1e-6, f64::NAN, 1e-6, 1e-6]),
        &delays
    ));
    assert!(invalid(&with_sigmas(&four, &[1e-6; 4]), &[f64::NAN, 0.0, 0.0]));
    assert!(invalid(&with_sigmas(&four, &[1e-6; 4]), &delays[..2]));
    let mut bad = four.clone();
    bad[2] = GeoPoint::new(95.0, 0.0);
    assert!(invalid(&with_sigmas(&bad, &[1e-6; 4]), &delays));
}

#[test]
fn an_unmodulated_carrier_gives_an_error_not_a_fix() {
    // A pure tone carries no timing information: its correlation is flat in the lag. With and
    // without noise, the estimator must refuse rather than report a confident delay.
    let len = 6_000;
    let mut estimator = DelayEstimator::new(len, 100, FS);
    let mut rng = SmallRng::seed_from_u64(10);
    let tone = |delay: f64, phase: f64| -> Vec<num_complex::Complex64> {
        (0..len)
            .map(|n| num_complex::Complex64::from_polar(1.0, phase + 0.123 * (n as f64 - delay)))
            .collect()
    };
    for noise_power in [0.0, 1e-3, 1e-1, 1.0] {
        let reference = noisy(&mut rng, &tone(0.0, 0.0), noise_power);
        let other = noisy(&mut rng, &tone(37.3, 1.0), noise_power);
        estimator.set_reference(&reference).unwrap();
        let result = estimator.estimate(&other);
        assert!(
            matches!(
                result,
                Err(DelayError::NoTimingInformation { .. } | DelayError::WeakCorrelation { .. })
            ),
            "noise {noise_power}: {result:?}"
        );
    }
}

#[test]
#[ignore = "slow (about 30 s): the full chain over ten seeds, to quote the spread of the numbers"]
fn full_chain_seed_sweep() {
    for (name, radius, max_lag) in [("regional", 10e3..30e3, 8), ("continental", 250e3..1_000e3, 100)] {
        let mut pooled = Calibration::default();
        for seed in 0..10 {
            let cal = full_chain_monte_carlo(9000 + seed, 300, radius.clone(), max_lag);
            cal.report(&format!("{name}, seed {}", 9000 + seed));
            pooled.fixes += cal.fixes;
            pooled.failures += cal.failures;
            pooled.rejections += cal.rejections;
            pooled.inside_circle += cal.inside_circle;
            pooled.inside_ellipse += cal.inside_ellipse;
            pooled.square_error += cal.square_error;
            pooled.trace_crlb += cal.trace_crlb;
            pooled.confidence_below_5_percent += cal.confidence_below_5_percent;
            pooled.outliers += cal.outliers;
            pooled.normalised_square_error += cal.normalised_square_error;
            pooled.trimmed_square_error += cal.trimmed_square_error;
            pooled.trimmed_trace_crlb += cal.trimmed_trace_crlb;
            pooled.seconds += cal.seconds;
        }
        pooled.report(&format!("{name}, ten seeds pooled"));
    }
}
