//! Confidence regions of a 2-D Gaussian position error: the error ellipse and the circle that
//! holds a given probability.
//!
//! Covariances are East-North, m^2: `cov[0][0]` is var(East), `cov[1][1]` var(North) and
//! `cov[0][1]` = `cov[1][0]` their covariance.

/// The probability of the 1-sigma interval of a 1-D Gaussian, erf(1 / sqrt 2): the "68 %" that
/// [`super::PowerFix`] reports its ellipse and radius at.
pub const ONE_SIGMA_PROBABILITY: f64 = 0.682_689_492_137_086;

/// Midpoints per quarter period of the angular integral in [`radius_containing`]. The integrand
/// is smooth and periodic, so the midpoint rule converges geometrically: 128 points give ~1e-12
/// for axis ratios down to 1e-3, where the integrand's only sharp feature sits where it is
/// exponentially small anyway.
const QUADRATURE_POINTS: usize = 128;
/// Bisection stops when the bracket is this fraction of the radius: far below any physical
/// meaning, and reached in about 35 halvings.
const RADIUS_RELATIVE_TOLERANCE: f64 = 1e-10;

/// An error ellipse around a position estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipse {
    /// Semi-major axis, m.
    pub semi_major_m: f64,
    /// Semi-minor axis, m.
    pub semi_minor_m: f64,
    /// Direction of the major axis, degrees clockwise from North, in [0, 180): 0 = North-South,
    /// 45 = North-East/South-West, 90 = East-West. For a circle any value is right; 90 is
    /// returned.
    pub orientation_deg: f64,
}

/// The ellipse that holds `probability` of a zero-mean 2-D Gaussian with covariance `cov`
/// (East-North, m^2).
///
/// Its semi-axes are sqrt(k lambda) for the eigenvalues lambda of `cov`, with
/// k = -2 ln(1 - probability), the chi-square quantile with 2 degrees of freedom (2.296 at
/// 68.27 %, 5.991 at 95 %). An asymmetric `cov` is symmetrised; negative eigenvalues (rounding
/// in a nearly singular matrix) are taken as zero.
///
/// # Panics
/// If `probability` is not strictly between 0 and 1.
pub fn error_ellipse(cov: [[f64; 2]; 2], probability: f64) -> Ellipse {
    assert!(
        probability > 0.0 && probability < 1.0,
        "probability {probability} is not in (0, 1)"
    );
    let axes = principal_axes(cov);
    let k = -2.0 * (1.0 - probability).ln();
    Ellipse {
        semi_major_m: (k * axes.major_var).sqrt(),
        semi_minor_m: (k * axes.minor_var).sqrt(),
        orientation_deg: axes.orientation_deg,
    }
}

/// The radius of the circle, centred on the mean, that holds `probability` of a zero-mean 2-D
/// Gaussian with covariance `cov` (East-North, m^2).
///
/// Exact for any axis ratio, including a degenerate (1-D) Gaussian: the probability inside a
/// radius is integrated numerically and the radius found by bisection. (The classic
/// CEP ~ 0.615 sigma_min + 0.562 sigma_max shortcut is only good for axis ratios above 0.3.)
/// For a circular Gaussian of per-axis sigma this gives sigma sqrt(-2 ln(1 - probability)):
/// 1.1774 sigma at 50 %, 1.5152 sigma at 68.27 %, 2.4477 sigma at 95 %.
///
/// # Panics
/// If `probability` is not strictly between 0 and 1.
pub fn radius_containing(cov: [[f64; 2]; 2], probability: f64) -> f64 {
    assert!(
        probability > 0.0 && probability < 1.0,
        "probability {probability} is not in (0, 1)"
    );
    let axes = principal_axes(cov);
    if axes.major_var <= 0.0 || !axes.major_var.is_finite() {
        // A point mass sits inside every circle; an infinite spread inside none.
        return axes.major_var.max(0.0).sqrt();
    }
    // In principal axes, with the error written x = sigma_1 rho cos t, y = sigma_2 rho sin t,
    // rho is Rayleigh and t uniform, and |(x, y)| <= R iff rho^2 <= R^2 / g(t) with
    // g(t) = var_1 cos^2 t + var_2 sin^2 t. Hence
    //   P(R) = 1 - mean over t of exp(-R^2 / (2 g(t))),
    // a bounded, smooth, periodic integrand, averaged over a quarter period by symmetry.
    let inside = |radius: f64| {
        let step = std::f64::consts::FRAC_PI_2 / QUADRATURE_POINTS as f64;
        let outside: f64 = (0..QUADRATURE_POINTS)
            .map(|j| {
                let t = (j as f64 + 0.5) * step;
                let g = axes.major_var * t.cos().powi(2) + axes.minor_var * t.sin().powi(2);
                (-radius * radius / (2.0 * g)).exp()
            })
            .sum();
        1.0 - outside / QUADRATURE_POINTS as f64
    };
    // The circle through the ends of the major axis of the `probability` ellipse contains that
    // ellipse, so it holds at least `probability`: a safe upper end of the bracket.
    let k = -2.0 * (1.0 - probability).ln();
    let (mut lo, mut hi) = (0.0, (k * axes.major_var).sqrt());
    while hi - lo > RADIUS_RELATIVE_TOLERANCE * hi {
        let mid = 0.5 * (lo + hi);
        if inside(mid) < probability {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Eigen-decomposition of a 2x2 covariance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PrincipalAxes {
    /// The larger eigenvalue, m^2, >= 0.
    pub major_var: f64,
    /// The smaller eigenvalue, m^2, >= 0.
    pub minor_var: f64,
    /// Bearing of the major axis, degrees clockwise from North, in [0, 180).
    pub orientation_deg: f64,
}

/// Eigenvalues and major-axis bearing of `cov` (symmetrised).
pub(crate) fn principal_axes(cov: [[f64; 2]; 2]) -> PrincipalAxes {
    let (a, b, c) = (cov[0][0], 0.5 * (cov[0][1] + cov[1][0]), cov[1][1]);
    let mean = 0.5 * (a + c);
    let half_spread = (0.5 * (a - c)).hypot(b);
    // atan2(2b, a - c) / 2 is the major axis's angle from East towards North; a bearing counts
    // from North towards East, hence 90 degrees minus it.
    let east_ccw_deg = (0.5 * (2.0 * b).atan2(a - c)).to_degrees();
    let mut orientation_deg = (90.0 - east_ccw_deg).rem_euclid(180.0);
    if orientation_deg >= 180.0 {
        // rem_euclid of a tiny negative number rounds up to exactly 180.
        orientation_deg = 0.0;
    }
    PrincipalAxes {
        major_var: (mean + half_spread).max(0.0),
        minor_var: (mean - half_spread).max(0.0),
        orientation_deg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rotates diag(var_major, var_minor) so that the major axis points along `bearing_deg`.
    fn covariance(var_major: f64, var_minor: f64, bearing_deg: f64) -> [[f64; 2]; 2] {
        let (s, c) = bearing_deg.to_radians().sin_cos();
        // Major axis direction in (East, North) is (sin b, cos b); minor is (cos b, -sin b).
        let (u, v) = ([s, c], [c, -s]);
        let mut cov = [[0.0; 2]; 2];
        for i in 0..2 {
            for j in 0..2 {
                cov[i][j] = var_major * u[i] * u[j] + var_minor * v[i] * v[j];
            }
        }
        cov
    }

    /// The probability inside radius `radius` by brute-force 2-D integration of the density in
    /// polar coordinates about the mean (midpoint rule in both radius and angle), independent of
    /// the quarter-period Rayleigh form used by `radius_containing`.
    fn brute_force_inside(cov: [[f64; 2]; 2], radius: f64) -> f64 {
        let det = cov[0][0] * cov[1][1] - cov[0][1] * cov[1][0];
        let inv = [
            [cov[1][1] / det, -cov[0][1] / det],
            [-cov[1][0] / det, cov[0][0] / det],
        ];
        let norm = 1.0 / (2.0 * std::f64::consts::PI * det.sqrt());
        let (n_r, n_t) = (2000, 2000);
        let (dr, dt) = (radius / n_r as f64, 2.0 * std::f64::consts::PI / n_t as f64);
        let mut sum = 0.0;
        for it in 0..n_t {
            let (s, c) = ((it as f64 + 0.5) * dt).sin_cos();
            let q = c * c * inv[0][0] + 2.0 * s * c * inv[0][1] + s * s * inv[1][1];
            for ir in 0..n_r {
                let r = (ir as f64 + 0.5) * dr;
                sum += (-0.5 * r * r * q).exp() * r;
            }
        }
        sum * dr * dt * norm
    }

    #[test]
    fn circular_gaussian_radii_match_closed_form() {
        // Tolerance 1e-4 sigma: the tabulated constants have 5 significant digits.
        let sigma = 250.0;
        let cov = [[sigma * sigma, 0.0], [0.0, sigma * sigma]];
        for (p, want) in [(0.5, 1.1774), (ONE_SIGMA_PROBABILITY, 1.5152), (0.95, 2.4477)] {
            let r = radius_containing(cov, p) / sigma;
            assert!((r - want).abs() < 1e-4, "R({p}) = {r} sigma, want {want}");
        }
        let e = error_ellipse(cov, ONE_SIGMA_PROBABILITY);
        assert!(
            (e.semi_major_m / sigma - 1.5152).abs() < 1e-4 && (e.semi_minor_m / sigma - 1.5152).abs() < 1e-4
        );
    }

    #[test]
    fn elongated_gaussian_radius_matches_brute_force_integration() {
        // Axis ratio 0.05, well outside the CEP shortcut's range; tilted to exercise the
        // off-diagonal term. Tolerance: 1e-5 in probability (brute force has ~1e-6 error).
        let cov = covariance(2000.0f64.powi(2), 100.0f64.powi(2), 30.0);
        for p in [0.5, ONE_SIGMA_PROBABILITY, 0.95] {
            let r = radius_containing(cov, p);
            let got = brute_force_inside(cov, r);
            assert!(
                (got - p).abs() < 1e-5,
                "p = {p}: brute force holds {got} inside {r} m"
            );
        }
        // The 1-D limit: a circle of radius sigma_major holds the 1-sigma probability.
        let line = covariance(2000.0f64.powi(2), 1e-6, 75.0);
        let r = radius_containing(line, ONE_SIGMA_PROBABILITY);
        assert!((r / 2000.0 - 1.0).abs() < 1e-6, "degenerate R68 = {r}");
        assert_eq!(radius_containing([[0.0, 0.0], [0.0, 0.0]], 0.5), 0.0);
    }

    #[test]
    fn ellipse_orientation_is_a_bearing_from_north() {
        let k68 = -2.0 * (1.0 - ONE_SIGMA_PROBABILITY).ln();
        assert!((k68 - 2.296).abs() < 1e-3);
        // Elongated along North-East: var(E) = var(N), positive covariance.
        let ne = [[5.0, 4.0], [4.0, 5.0]];
        let e = error_ellipse(ne, ONE_SIGMA_PROBABILITY);
        assert!((e.orientation_deg - 45.0).abs() < 1e-9, "{e:?}");
        assert!((e.semi_major_m - (9.0 * k68).sqrt()).abs() < 1e-9);
        assert!((e.semi_minor_m - k68.sqrt()).abs() < 1e-9);
        // North-West: negative covariance gives bearing 135 (= 315 folded into [0, 180)).
        let nw = error_ellipse([[5.0, -4.0], [-4.0, 5.0]], 0.5);
        assert!((nw.orientation_deg - 135.0).abs() < 1e-9, "{nw:?}");
        // Pure North-South and East-West.
        assert!(error_ellipse([[1.0, 0.0], [0.0, 9.0]], 0.5).orientation_deg.abs() < 1e-9);
        assert!((error_ellipse([[9.0, 0.0], [0.0, 1.0]], 0.5).orientation_deg - 90.0).abs() < 1e-9);
        // Round trip through an arbitrary bearing.
        for bearing in [0.0, 10.0, 89.0, 91.0, 170.0] {
            let got = error_ellipse(covariance(16.0, 1.0, bearing), 0.5).orientation_deg;
            assert!((got - bearing).abs() < 1e-9, "{bearing} -> {got}");
        }
    }
}
