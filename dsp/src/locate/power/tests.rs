//! Tests of the power fix against noise-free truth, Monte Carlo calibration and the CRLB.

use super::*;
use crate::locate::ellipse::ONE_SIGMA_PROBABILITY;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::time::Instant;

const ORIGIN: GeoPoint = GeoPoint {
    lat_deg: 46.5,
    lon_deg: 6.6,
};
/// Transmitter power at the reference distance, dBFS.
const P0: f64 = -20.0;

/// Powers the model predicts at `receivers` for a transmitter at `tx`, plus N(0, sigma_i^2)
/// noise when `rng` is given.
fn observe(
    receivers: &[GeoPoint],
    sigmas: &[f64],
    tx: GeoPoint,
    model: &PathLossModel,
    mut rng: Option<&mut SmallRng>,
) -> Vec<PowerObservation> {
    receivers
        .iter()
        .zip(sigmas)
        .map(|(&position, &sigma_db)| {
            let r = position.distance_m(tx).max(model.ref_distance_m);
            let noise = match rng.as_deref_mut() {
                Some(rng) => Normal::new(0.0, sigma_db).unwrap().sample(rng),
                None => 0.0,
            };
            let power_db = P0 - 10.0 * model.exponent * (r / model.ref_distance_m).log10() + noise;
            PowerObservation {
                position,
                power_db,
                sigma_db,
            }
        })
        .collect()
}

fn ring(frame: &LocalFrame, bearings_deg: &[f64], radius_m: f64) -> Vec<GeoPoint> {
    bearings_deg.iter().map(|&b| frame.offset(b, radius_m)).collect()
}

fn assert_all_finite(fix: &PowerFix) {
    let numbers = [
        fix.position.lat_deg,
        fix.position.lon_deg,
        fix.ellipse.semi_major_m,
        fix.ellipse.semi_minor_m,
        fix.ellipse.orientation_deg,
        fix.uncertainty_m,
        fix.confidence,
        fix.ref_power_db,
        fix.chi2,
        fix.gdop,
    ];
    assert!(numbers
        .iter()
        .chain(fix.covariance_en.iter().flatten())
        .chain(&fix.residuals_db)
        .all(|v| v.is_finite()));
    assert!((0.0..=1.0).contains(&fix.confidence));
    assert!((0.0..180.0).contains(&fix.ellipse.orientation_deg));
}

/// Whether `truth` lies inside the fix's reported 68 % ellipse, using the reported geometry
/// (axes and bearing), which also exercises the orientation convention.
fn inside_ellipse(fix: &PowerFix, truth: GeoPoint) -> bool {
    let d = LocalFrame::new(fix.position).to_enu(truth);
    let (s, c) = fix.ellipse.orientation_deg.to_radians().sin_cos();
    let along = d[0] * s + d[1] * c;
    let across = d[0] * c - d[1] * s;
    (along / fix.ellipse.semi_major_m).powi(2) + (across / fix.ellipse.semi_minor_m).powi(2) <= 1.0
}

/// Receivers at the given (bearing deg, distance m) from the origin.
fn scatter(frame: &LocalFrame, polar: &[(f64, f64)]) -> Vec<GeoPoint> {
    polar.iter().map(|&(b, r)| frame.offset(b, r)).collect()
}

#[test]
fn noise_free_fix_is_within_a_metre_of_truth() {
    let frame = LocalFrame::new(ORIGIN);
    let model = PathLossModel {
        exponent: 3.0,
        ref_distance_m: 1.0,
    };
    // Irregular layouts (not on one circle, which would make a twin fit equally well).
    let five = scatter(
        &frame,
        &[(0.0, 10e3), (70.0, 6e3), (150.0, 9e3), (220.0, 4e3), (290.0, 8e3)],
    );
    let four = scatter(&frame, &[(10.0, 10e3), (100.0, 5e3), (190.0, 8e3), (280.0, 7e3)]);
    let three = ring(&frame, &[0.0, 120.0, 240.0], 10_000.0);
    let cases = [
        ("inside", five.clone(), frame.offset(35.0, 3_000.0)),
        (
            "150 m from a receiver",
            five.clone(),
            LocalFrame::new(five[2]).offset(300.0, 150.0),
        ),
        ("outside at 1.5 radii", four.clone(), frame.offset(55.0, 15_000.0)),
        (
            "outside at 1.5 radii, behind a receiver",
            four,
            frame.offset(12.0, 15_000.0),
        ),
        ("five, outside at 1.5 radii", five, frame.offset(250.0, 15_000.0)),
        // Three receivers always have a twin outside their circle; the inner one is reported.
        (
            "three receivers, inside",
            three.clone(),
            frame.offset(200.0, 4_000.0),
        ),
        (
            "three receivers, near the centre",
            three,
            frame.offset(80.0, 500.0),
        ),
    ];
    for (name, receivers, tx) in cases {
        let sigmas = vec![2.0; receivers.len()];
        let fix = locate_power(&observe(&receivers, &sigmas, tx, &model, None), &model).unwrap();
        assert_all_finite(&fix);
        let miss = fix.position.distance_m(tx);
        // Tolerance 1 m: the plane at the centroid differs from chord distances by centimetres.
        assert!(miss < 1.0, "{name}: {miss} m off; {fix:?}");
        assert!(
            (fix.ref_power_db - P0).abs() < 1e-3,
            "{name}: P0 {}",
            fix.ref_power_db
        );
        assert!(fix.chi2 < 1e-6, "{name}: chi2 {}", fix.chi2);
        assert!(fix.residuals_db.iter().all(|r| r.abs() < 1e-3));
        if name == "three receivers, inside" {
            // Its twin, the inversion through the receivers' circle, lies 10^2 / 4 = 25 km out.
            let twin = frame.offset(200.0, 25_000.0);
            let alt = fix.alternative.expect("three receivers always have a twin");
            assert!(
                alt.position.distance_m(twin) < 1.0 && alt.delta_chi2.abs() < 1e-6,
                "{alt:?}"
            );
        }
    }
}

#[test]
fn concyclic_receivers_report_the_inverted_twin() {
    // Four receivers on a 10 km circle, transmitter 15 km out: its inversion through the circle,
    // 10^2 / 15 = 6.667 km out on the same bearing, produces identical power ratios.
    let frame = LocalFrame::new(ORIGIN);
    let model = PathLossModel {
        exponent: 3.0,
        ref_distance_m: 1.0,
    };
    let receivers = ring(&frame, &[10.0, 100.0, 190.0, 280.0], 10_000.0);
    let tx = frame.offset(55.0, 15_000.0);
    let twin = frame.offset(55.0, 10_000.0 * 10_000.0 / 15_000.0);
    let fix = locate_power(&observe(&receivers, &[2.0; 4], tx, &model, None), &model).unwrap();
    let alt = fix.alternative.expect("the twin fits exactly");
    // The nearer-the-centre twin is reported; tolerance 1 m as above.
    assert!(fix.position.distance_m(twin) < 1.0, "{fix:?}");
    assert!(alt.position.distance_m(tx) < 1.0, "{alt:?}");
    assert!(alt.delta_chi2.abs() < 1e-6 && alt.uncertainty_m > fix.uncertainty_m);
}

#[test]
fn symmetric_ring_matches_closed_form_crlb_and_gdop() {
    // Transmitter at the centre of a ring of M receivers with equal sigma: sum u u^T = M/2 I
    // and sum u = 0, so P0 decouples and CRLB = 2 sigma^2 r^2 / (b^2 M) I, b = 10 n / ln 10;
    // GDOP = sqrt(4 / M), and sqrt(tr CRLB) = GDOP r sigma / b.
    let frame = LocalFrame::new(ORIGIN);
    let model = PathLossModel {
        exponent: 2.5,
        ref_distance_m: 1.0,
    };
    let (m, r, sigma) = (6usize, 12_000.0, 3.0);
    let bearings: Vec<f64> = (0..m).map(|i| 360.0 * i as f64 / m as f64).collect();
    let receivers = ring(&frame, &bearings, r);
    let b = 10.0 * model.exponent / std::f64::consts::LN_10;
    let want = 2.0 * sigma * sigma * r * r / (b * b * m as f64);
    let crlb = power_crlb(ORIGIN, &receivers, &vec![sigma; m], &model);
    // Tolerance 1e-4 relative: plane vs chord geometry.
    assert!(
        (crlb[0][0] / want - 1.0).abs() < 1e-4 && (crlb[1][1] / want - 1.0).abs() < 1e-4,
        "{crlb:?}"
    );
    assert!(crlb[0][1].abs() < 1e-4 * want);

    let fix = locate_power(
        &observe(&receivers, &vec![sigma; m], ORIGIN, &model, None),
        &model,
    )
    .unwrap();
    // At the truth the linearised covariance is the CRLB itself.
    assert!(
        (fix.linearised_covariance_en[0][0] / want - 1.0).abs() < 1e-3,
        "{:?}",
        fix.linearised_covariance_en
    );
    assert!(
        (fix.gdop - (4.0 / m as f64).sqrt()).abs() < 1e-4,
        "gdop {}",
        fix.gdop
    );
    let predicted = fix.gdop * r * sigma / b;
    assert!((predicted / (2.0 * want).sqrt() - 1.0).abs() < 1e-3);
    // Circular: the 68 % radius is 1.5152 per-axis sigma. The reported radius is the 68 %
    // quantile of 96 resampled re-fits: its relative standard error is ~8 %, and at 3 dB the
    // model is nearly linear over the spread, so it lands within 20 % of the closed form.
    assert!(
        (fix.uncertainty_m / (1.5152 * want.sqrt()) - 1.0).abs() < 0.2,
        "{} m vs {} m",
        fix.uncertainty_m,
        1.5152 * want.sqrt()
    );
    assert!(
        (fix.covariance_en[0][0] / want - 1.0).abs() < 0.4,
        "{:?}",
        fix.covariance_en
    );
}

#[test]
fn p0_nuisance_costs_information() {
    // With P0 unknown the bound must be no tighter than with P0 known (the Schur complement),
    // and strictly looser off-centre, where sum_i u_i / r_i no longer vanishes.
    let frame = LocalFrame::new(ORIGIN);
    let model = PathLossModel {
        exponent: 3.0,
        ref_distance_m: 1.0,
    };
    let receivers = ring(&frame, &[0.0, 90.0, 180.0, 270.0], 10_000.0);
    let tx = frame.offset(45.0, 6_000.0);
    let crlb = power_crlb(tx, &receivers, &[2.0; 4], &model);
    let b = 10.0 * model.exponent / std::f64::consts::LN_10;
    let local = LocalFrame::new(ORIGIN);
    let x = local.to_enu(tx);
    let mut f = [[0.0; 2]; 2];
    for s in &receivers {
        let s = local.to_enu(*s);
        let d = [x[0] - s[0], x[1] - s[1]];
        let r2 = d[0] * d[0] + d[1] * d[1];
        for j in 0..2 {
            for k in 0..2 {
                f[j][k] += b * b * d[j] * d[k] / (r2 * r2) / 4.0;
            }
        }
    }
    let det = f[0][0] * f[1][1] - f[0][1] * f[1][0];
    let known_trace = (f[0][0] + f[1][1]) / det;
    assert!(
        crlb[0][0] + crlb[1][1] > 1.05 * known_trace,
        "{crlb:?} vs known-P0 trace {known_trace}"
    );
}

#[test]
fn too_few_collinear_or_invalid_inputs_give_clear_errors() {
    let frame = LocalFrame::new(ORIGIN);
    let model = PathLossModel {
        exponent: 3.0,
        ref_distance_m: 1.0,
    };
    let tx = frame.offset(30.0, 4_000.0);

    let two = ring(&frame, &[0.0, 180.0], 10_000.0);
    let err = locate_power(&observe(&two, &[2.0; 2], tx, &model, None), &model).unwrap_err();
    assert_eq!(err, LocateError::TooFewReceivers { have: 2, need: 3 });
    assert!(err.to_string().contains("at least 3 receivers"));

    // Four receivers on an East-West line; tx off the line, so its mirror image fits as well.
    let line: Vec<GeoPoint> = [-15e3, -4e3, 6e3, 14e3]
        .iter()
        .map(|&e| frame.to_geo([e, 0.0]))
        .collect();
    let err = locate_power(&observe(&line, &[2.0; 4], tx, &model, None), &model).unwrap_err();
    assert!(matches!(err, LocateError::Degenerate(_)), "{err:?}");
    assert!(err.to_string().contains("line"), "{err}");

    // Nearly collinear (1 km off a 30 km line), with noise: either a clear error or a finite fix
    // whose uncertainty covers the mirror ambiguity.
    let mut rng = SmallRng::seed_from_u64(7);
    let bent: Vec<GeoPoint> = [(-15e3, 0.0), (-4e3, 1e3), (6e3, 0.0), (14e3, 0.0)]
        .iter()
        .map(|&(e, n)| frame.to_geo([e, n]))
        .collect();
    for _ in 0..50 {
        match locate_power(&observe(&bent, &[2.0; 4], tx, &model, Some(&mut rng)), &model) {
            Ok(fix) => assert_all_finite(&fix),
            Err(e) => assert!(matches!(e, LocateError::Degenerate(_)), "{e:?}"),
        }
    }

    let mut bad = observe(
        &ring(&frame, &[0.0, 120.0, 240.0], 10_000.0),
        &[2.0; 3],
        tx,
        &model,
        None,
    );
    bad[1].sigma_db = 0.0;
    assert!(matches!(
        locate_power(&bad, &model),
        Err(LocateError::InvalidInput(_))
    ));
    bad[1].sigma_db = 2.0;
    bad[2].power_db = f64::NAN;
    assert!(matches!(
        locate_power(&bad, &model),
        Err(LocateError::InvalidInput(_))
    ));
    bad[2].power_db = -90.0;
    let flat = PathLossModel {
        exponent: 0.0,
        ref_distance_m: 1.0,
    };
    assert!(matches!(
        locate_power(&bad, &flat),
        Err(LocateError::InvalidInput(_))
    ));
}

#[test]
fn far_away_transmitter_gives_an_error_or_a_finite_fix() {
    // 200 km from a 10 km network: the powers barely differ across the network.
    let frame = LocalFrame::new(ORIGIN);
    let model = PathLossModel {
        exponent: 3.0,
        ref_distance_m: 1.0,
    };
    // Irregular: on a circle the far transmitter's twin sits near the centre and fits as well.
    let receivers = scatter(&frame, &[(0.0, 10e3), (90.0, 4e3), (180.0, 8e3), (270.0, 6e3)]);
    let tx = frame.offset(70.0, 200_000.0);
    let mut rng = SmallRng::seed_from_u64(11);
    for _ in 0..20 {
        match locate_power(
            &observe(&receivers, &[3.0; 4], tx, &model, Some(&mut rng)),
            &model,
        ) {
            // A fix may well land near the centre with a small uncertainty: the far transmitter's
            // circle-ambiguity twin lies there and fits as well (physics, not a solver fault;
            // the truth, beyond 10 network radii, is not searched).
            Ok(fix) => assert_all_finite(&fix),
            Err(e) => assert!(matches!(e, LocateError::Degenerate(_)), "{e:?}"),
        }
    }
}

/// Outcome of a Monte Carlo run.
#[derive(Debug, Default)]
struct Calibration {
    fixes: usize,
    failures: usize,
    inside_circle: usize,
    inside_ellipse: usize,
    /// Fixes where the truth is nearer the reported alternative than the fix: the data
    /// favoured the wrong minimum (the circle ambiguity).
    wrong_minimum: usize,
    /// Of the other fixes, how many hold the truth inside the 68 % circle.
    right_minimum_inside_circle: usize,
    /// Sum over fixes of |error|^2 / tr(CRLB).
    normalised_square_error: f64,
    seconds: f64,
}

impl Calibration {
    fn circle(&self) -> f64 {
        self.inside_circle as f64 / self.fixes as f64
    }
    fn ellipse(&self) -> f64 {
        self.inside_ellipse as f64 / self.fixes as f64
    }
    fn rmse_over_crlb(&self) -> f64 {
        (self.normalised_square_error / self.fixes as f64).sqrt()
    }
    /// Circle coverage over the fixes that picked the truth's minimum: the calibration of the
    /// reported covariance itself.
    fn circle_at_right_minimum(&self) -> f64 {
        self.right_minimum_inside_circle as f64 / (self.fixes - self.wrong_minimum) as f64
    }
    fn report(&self, name: &str) {
        println!(
            "{name}: {} fixes, {} errors, circle {:.3}, ellipse {:.3}, wrong minimum {:.3}, circle at the \
             right minimum {:.3}, RMSE/sqrt(tr CRLB) {:.3}, {:.0} us/fix",
            self.fixes,
            self.failures,
            self.circle(),
            self.ellipse(),
            self.wrong_minimum as f64 / self.fixes as f64,
            self.circle_at_right_minimum(),
            self.rmse_over_crlb(),
            1e6 * self.seconds / (self.fixes + self.failures) as f64
        );
    }
    fn record(&mut self, fix: Result<PowerFix, LocateError>, tx: GeoPoint, crlb: [[f64; 2]; 2]) {
        match fix {
            Ok(fix) => {
                assert_all_finite(&fix);
                let miss = fix.position.distance_m(tx);
                self.fixes += 1;
                self.inside_circle += usize::from(miss <= fix.uncertainty_m);
                self.inside_ellipse += usize::from(inside_ellipse(&fix, tx));
                if fix.alternative.is_some_and(|a| a.position.distance_m(tx) < miss) {
                    self.wrong_minimum += 1;
                } else {
                    self.right_minimum_inside_circle += usize::from(miss <= fix.uncertainty_m);
                }
                self.normalised_square_error += miss * miss / (crlb[0][0] + crlb[1][1]);
            }
            Err(e) => {
                // A sigma far below the real scatter (the trusting case of the shadowing test)
                // can also leave the fit unconverged; never an input error.
                assert!(
                    matches!(e, LocateError::Degenerate(_) | LocateError::NoConvergence),
                    "{e:?}"
                );
                self.failures += 1;
            }
        }
    }
}

/// `trials` random scenes with `receivers` receivers each: receivers around a ring of 5-30 km
/// radius, bearings evenly spread +-15 degrees, each at 0.4-1.0 ring radii from the centre (an
/// irregular layout: receivers on one circle have an equally good twin fix, see the
/// concyclic test), the transmitter uniform within 0.8 ring radii, per-scene sigma 0.5-3 dB
/// (each receiver within +-25 % of it), exponent 2-4.
fn monte_carlo(seed: u64, trials: usize, receivers: std::ops::RangeInclusive<usize>) -> Calibration {
    let mut rng = SmallRng::seed_from_u64(seed);
    let frame = LocalFrame::new(ORIGIN);
    let mut cal = Calibration::default();
    for _ in 0..trials {
        let m = rng.random_range(receivers.clone());
        let ring_m = rng.random_range(5e3..30e3);
        let phase = rng.random_range(0.0..360.0);
        let rx: Vec<GeoPoint> = (0..m)
            .map(|i| {
                let bearing = phase + 360.0 * i as f64 / m as f64 + rng.random_range(-15.0..15.0);
                frame.offset(bearing, ring_m * rng.random_range(0.4..1.0))
            })
            .collect();
        let tx = frame.offset(
            rng.random_range(0.0..360.0),
            0.8 * ring_m * rng.random_range(0.0f64..1.0).sqrt(),
        );
        let base = rng.random_range(0.5..3.0);
        let sigmas: Vec<f64> = (0..m).map(|_| base * rng.random_range(0.8..1.25)).collect();
        let model = PathLossModel {
            exponent: rng.random_range(2.0..4.0),
            ref_distance_m: 1.0,
        };
        let obs = observe(&rx, &sigmas, tx, &model, Some(&mut rng));
        let start = Instant::now();
        let fix = locate_power(&obs, &model);
        cal.seconds += start.elapsed().as_secs_f64();
        cal.record(fix, tx, power_crlb(tx, &rx, &sigmas, &model));
    }
    cal
}

#[test]
fn monte_carlo_68_percent_regions_hold_68_percent() {
    let cal = monte_carlo(2024, 1000, 4..=6);
    cal.report("M 4-6");
    assert!(cal.failures * 100 <= 1000, "{cal:?}");
    // The reported circle is calibrated where the fix picked the truth's minimum (0.66 with this
    // seed; the linearised circle held 0.72). Tolerance 0.05: the binomial standard error of
    // ~800 trials is 0.017, the rest is the 96-draw quantile's own scatter.
    assert!(
        (cal.circle_at_right_minimum() - ONE_SIGMA_PROBABILITY).abs() < 0.05,
        "{cal:?}"
    );
    // KNOWN GAP: overall coverage falls short (0.54 circle, 0.56 ellipse with this seed)
    // because ~20 % of fixes pick the circle-ambiguity twin over the truth, which neither the
    // circle nor the ellipse covers (the twin is named in `alternative`). Guarded, not yet
    // calibrated.
    assert!(cal.circle() > 0.50 && cal.ellipse() > 0.50, "{cal:?}");
}

#[test]
fn monte_carlo_calibration_with_three_receivers() {
    let cal = monte_carlo(3, 1000, 3..=3);
    cal.report("M 3");
    // About a fifth of noisy three-receiver scenes have no exact solution: chi2 then bottoms out
    // on a receiver, where the position is undetermined, and the fix is refused.
    assert!(cal.failures * 100 <= 1000 * 25, "{cal:?}");
    // Calibrated at the right minimum (0.68 with this seed); ~15 % of fixes pick the twin.
    assert!(
        (cal.circle_at_right_minimum() - ONE_SIGMA_PROBABILITY).abs() < 0.05,
        "{cal:?}"
    );
    assert!(cal.circle() > 0.53, "{cal:?}");
    // KNOWN GAP: the ellipse holds only ~0.61 at M = 3 (zero redundancy, strongly nonlinear).
    assert!(cal.ellipse() > 0.55, "{cal:?}");
}

#[test]
fn rmse_approaches_crlb_at_small_sigma() {
    // One geometry, 500 noisy fixes per sigma: the estimator's RMSE over sqrt(tr CRLB).
    let frame = LocalFrame::new(ORIGIN);
    let model = PathLossModel {
        exponent: 3.0,
        ref_distance_m: 1.0,
    };
    let rx = scatter(
        &frame,
        &[
            (5.0, 15e3),
            (80.0, 9e3),
            (150.0, 13e3),
            (215.0, 7e3),
            (290.0, 11e3),
        ],
    );
    let tx = frame.offset(130.0, 5_000.0);
    let mut rng = SmallRng::seed_from_u64(99);
    for (sigma, limit) in [(0.5, 1.15), (1.0, 1.2), (3.0, 5.0)] {
        let sigmas = vec![sigma; rx.len()];
        let crlb = power_crlb(tx, &rx, &sigmas, &model);
        let mut cal = Calibration::default();
        for _ in 0..500 {
            let fix = locate_power(&observe(&rx, &sigmas, tx, &model, Some(&mut rng)), &model);
            cal.record(fix, tx, crlb);
        }
        let ratio = cal.rmse_over_crlb();
        println!("sqrt(tr CRLB) {:.0} m", (crlb[0][0] + crlb[1][1]).sqrt());
        cal.report(&format!("fixed geometry, sigma {sigma} dB"));
        assert!(cal.failures <= 5, "{cal:?}");
        // At 3 dB the ratio is dominated by the few fixes on the twin minimum (known gap).
        assert!(ratio < limit, "sigma {sigma}: ratio {ratio}");
    }
}

#[test]
fn six_receiver_fix_takes_well_under_a_millisecond() {
    let frame = LocalFrame::new(ORIGIN);
    let model = PathLossModel {
        exponent: 3.0,
        ref_distance_m: 1.0,
    };
    let rx = ring(&frame, &[0.0, 60.0, 120.0, 180.0, 240.0, 300.0], 20_000.0);
    let mut rng = SmallRng::seed_from_u64(5);
    let scenes: Vec<Vec<PowerObservation>> = (0..200)
        .map(|k| {
            observe(
                &rx,
                &[2.0; 6],
                frame.offset(37.0 * k as f64, 9_000.0),
                &model,
                Some(&mut rng),
            )
        })
        .collect();
    let mut times: Vec<f64> = scenes
        .iter()
        .map(|obs| {
            let start = Instant::now();
            locate_power(obs, &model).unwrap();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let (fastest, median, slowest) = (times[0], times[times.len() / 2], times[times.len() - 1]);
    println!(
        "6 receivers: {:.0} us fastest, {:.0} us median, {:.0} us slowest per fix",
        fastest * 1e6,
        median * 1e6,
        slowest * 1e6
    );
    // The median is robust to a few preempted fixes; the bound leaves room for a loaded test
    // machine (an idle one measures ~0.2 ms).
    assert!(median < 1e-3, "median {median} s per fix");
}

/// The default scene's geometry (five receivers on a 15 km ring, exponent 2.8, transmitters
/// within 12 km of the centre) under log-normal shadowing of `shadowing_db`, located with each
/// receiver's sigma set to `assumed_db`.
fn shadowed_scene(seed: u64, trials: usize, shadowing_db: f64, assumed_db: f64) -> Calibration {
    let mut rng = SmallRng::seed_from_u64(seed);
    let frame = LocalFrame::new(ORIGIN);
    let mut cal = Calibration::default();
    let rx = ring(&frame, &[0.0, 72.0, 144.0, 216.0, 288.0], 15e3);
    let model = PathLossModel {
        exponent: 2.8,
        ref_distance_m: 100.0,
    };
    let shadowing = vec![shadowing_db; rx.len()];
    for _ in 0..trials {
        let tx = frame.offset(
            rng.random_range(0.0..360.0),
            12e3 * rng.random_range(0.0f64..1.0).sqrt(),
        );
        let mut obs = observe(&rx, &shadowing, tx, &model, Some(&mut rng));
        obs.iter_mut().for_each(|o| o.sigma_db = assumed_db);
        let sigmas = vec![assumed_db; rx.len()];
        cal.record(
            locate_power(&obs, &model),
            tx,
            power_crlb(tx, &rx, &sigmas, &model),
        );
    }
    cal
}

/// Issue 19: with 6 dB of shadowing (a real VHF path), a power fix that trusts the model
/// (sigma = the averaged power's own ~0.1 dB) claims metres and almost never holds the truth;
/// with the model's 6 dB in its sigma (`localization.power_model_sigma_db`) the 68 % circle and
/// ellipse hold 60-78 % of fixes. (Before the circle came from resampling it held 82 %: the
/// linearised covariance overstates the long axis, and on the ring through the receivers it
/// reached thousands of kilometres.) Seeds 1-8 give circles of 0.69-0.73.
#[test]
fn power_fixes_are_honest_under_shadowing_only_with_the_model_error() {
    let trusting = shadowed_scene(7, 1000, 6.0, 0.1);
    trusting.report("6 dB shadowing, sigma 0.1 dB");
    assert!(trusting.circle() < 0.05, "{trusting:?}");
    let honest = shadowed_scene(7, 1000, 6.0, 6.0);
    honest.report("6 dB shadowing, sigma 6 dB");
    assert!(honest.failures * 100 <= 1000 * 12, "{honest:?}");
    assert!((0.60..=0.78).contains(&honest.circle()), "{honest:?}");
    assert!((0.60..=0.78).contains(&honest.ellipse()), "{honest:?}");
}
