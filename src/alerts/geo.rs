//! Whether a position lies inside a geofence: great-circle distance to a circle's centre, and
//! a ray-casting test for polygons (in latitude/longitude degrees, which is exact enough for
//! fences of a few hundred kilometres that do not cross the antimeridian or a pole).

use crate::config::alerts::Circle;

/// Mean Earth radius, m (IUGG), the radius of the haversine formula.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance between two points given in degrees, m (haversine formula).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let dphi = (lat2 - lat1).to_radians();
    let dlambda = (lon2 - lon1).to_radians();
    let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// Whether `(lat, lon)` is inside `circle` (on its edge counts).
pub fn in_circle(circle: &Circle, lat: f64, lon: f64) -> bool {
    distance_m(circle.lat, circle.lon, lat, lon) <= circle.radius_m
}

/// Whether `(lat, lon)` is inside the polygon with corners `[lat, lon]` (even-odd rule; a
/// point exactly on an edge may fall either way).
pub fn in_polygon(polygon: &[[f64; 2]], lat: f64, lon: f64) -> bool {
    let mut inside = false;
    let mut previous = match polygon.last() {
        Some(corner) => corner,
        None => return false,
    };
    for corner in polygon {
        let ([lat_a, lon_a], [lat_b, lon_b]) = (*previous, *corner);
        if (lat_a > lat) != (lat_b > lat) {
            let crossing = lon_a + (lat - lat_a) / (lat_b - lat_a) * (lon_b - lon_a);
            if lon < crossing {
                inside = !inside;
            }
        }
        previous = corner;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        // Textbook value: pi * R / 180 = 111.195 km.
        let d = distance_m(48.0, 2.0, 49.0, 2.0);
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
        assert_eq!(distance_m(10.0, 20.0, 10.0, 20.0), 0.0);
    }

    #[test]
    fn circles_and_polygons_hold_what_they_should() {
        let paris = Circle {
            lat: 48.8566,
            lon: 2.3522,
            radius_m: 10_000.0,
        };
        assert!(in_circle(&paris, 48.90, 2.35));
        assert!(!in_circle(&paris, 49.00, 2.35));
        // A concave "L": the notch is outside.
        let l = [
            [0.0, 0.0],
            [2.0, 0.0],
            [2.0, 1.0],
            [1.0, 1.0],
            [1.0, 2.0],
            [0.0, 2.0],
        ];
        assert!(in_polygon(&l, 0.5, 0.5));
        assert!(in_polygon(&l, 1.5, 0.5));
        assert!(in_polygon(&l, 0.5, 1.5));
        assert!(!in_polygon(&l, 1.5, 1.5));
        assert!(!in_polygon(&l, 3.0, 0.5));
        assert!(!in_polygon(&[], 0.0, 0.0));
    }
}
