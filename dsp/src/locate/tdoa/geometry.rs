//! The network's centre and size, and the collinearity check: receivers on one great circle
//! cannot tell a transmitter from its mirror image.

use super::problem::Problem;
use crate::geo::{GeoPoint, LocalFrame};
use crate::locate::ellipse::principal_axes;
use crate::locate::linalg::weighted_scatter;
use crate::locate::LocateError;

/// Receivers whose spread across their best-fit great circle is below this fraction of their
/// spread along it are treated as collinear: a transmitter and its mirror image across that
/// circle then produce the same delays.
const COLLINEAR_RATIO: f64 = 1e-3;

/// The network's centre and size for a set of receivers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub(super) centre: GeoPoint,
    /// Largest propagation distance from the centre to a receiver, m.
    pub(super) radius: f64,
}

impl Problem {
    /// The centroid of `active` and the network radius, or an error if they are collinear.
    pub(super) fn geometry(&self, active: &[usize]) -> Result<Geometry, LocateError> {
        let points: Vec<GeoPoint> = active.iter().map(|&i| self.positions[i]).collect();
        // Gnomonic projection about the mean direction: great circles map to straight lines, so
        // receivers on one great circle (the mirror-ambiguous layout) project onto a line.
        let units: Vec<[f64; 3]> = points.iter().map(|p| normalised(p.to_ecef())).collect();
        let mut centre = [0.0; 3];
        for u in &units {
            for k in 0..3 {
                centre[k] += u[k];
            }
        }
        let centre = normalised(centre);
        let (east, north) = tangent_basis(centre);
        let projected: Vec<(f64, [f64; 2])> = units
            .iter()
            .map(|u| {
                let along = dot(*u, centre);
                (1.0, [dot(*u, east) / along, dot(*u, north) / along])
            })
            .collect();
        // No receivers, no spread.
        let scatter = weighted_scatter(&projected).unwrap_or([[0.0; 2]; 2]);
        let axes = principal_axes(scatter);
        if axes.major_var.is_nan()
            || axes.major_var <= 0.0
            || axes.minor_var <= COLLINEAR_RATIO * COLLINEAR_RATIO * axes.major_var
        {
            return Err(LocateError::Degenerate(
                "the receivers lie on a line (a great circle), so a transmitter and its mirror \
                 image across it give the same delays; a receiver off that line is needed"
                    .into(),
            ));
        }
        let centre = centroid(&points);
        let radius = points
            .iter()
            .map(|&p| self.propagation.distance_m(centre, p))
            .fold(0.0, f64::max);
        Ok(Geometry { centre, radius })
    }
}

/// The point at the mean of `points` in the tangent plane at the first (exact enough for a
/// continental network: only the choice of centre depends on it).
fn centroid(points: &[GeoPoint]) -> GeoPoint {
    let frame = LocalFrame::new(points[0]);
    let n = points.len() as f64;
    let mut mean = [0.0; 2];
    for &p in points {
        let e = frame.to_enu(p);
        mean[0] += e[0] / n;
        mean[1] += e[1] / n;
    }
    wrap_longitude(frame.to_geo(mean))
}

/// `p` with its longitude brought into [-180, 180] (a step across the antimeridian leaves it
/// outside).
pub(super) fn wrap_longitude(p: GeoPoint) -> GeoPoint {
    if (-180.0..=180.0).contains(&p.lon_deg) {
        p
    } else {
        GeoPoint::new(p.lat_deg, (p.lon_deg + 180.0).rem_euclid(360.0) - 180.0)
    }
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn normalised(v: [f64; 3]) -> [f64; 3] {
    let n = dot(v, v).sqrt();
    [v[0] / n, v[1] / n, v[2] / n]
}

/// Two unit vectors orthogonal to the unit vector `u` and to each other.
fn tangent_basis(u: [f64; 3]) -> ([f64; 3], [f64; 3]) {
    // East = z x u (undefined at the poles, where any horizontal vector will do).
    let east = [-u[1], u[0], 0.0];
    let east = if dot(east, east) > 1e-12 {
        normalised(east)
    } else {
        [1.0, 0.0, 0.0]
    };
    let north = [
        u[1] * east[2] - u[2] * east[1],
        u[2] * east[0] - u[0] * east[2],
        u[0] * east[1] - u[1] * east[0],
    ];
    (east, north)
}
