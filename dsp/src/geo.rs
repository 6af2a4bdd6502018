//! Geographic positions and a local East-North plane.
//!
//! Positions are converted exactly through Earth-centred Earth-fixed (ECEF) coordinates on the
//! WGS84 ellipsoid (heights are taken as zero). The local plane is the tangent plane at an
//! origin: its East and North axes are exact at the origin, and a point's plane coordinates are
//! the projection of its ECEF offset onto them. Over the tens of km a regional receiver network
//! spans, plane distances differ from true (chord) distances by centimetres.

/// WGS84 semi-major axis, m.
pub(crate) const WGS84_A: f64 = 6_378_137.0;
/// WGS84 first eccentricity squared.
pub(crate) const WGS84_E2: f64 = 6.694_379_990_141_33e-3;

/// Speed of light in vacuum, m/s: the one value every propagation delay in sdrhub is computed
/// with (simulated arrivals, measured delays, the locators). Radio waves near the ground travel
/// about 0.03 % slower; over 100 km that is 30 m, below the timing noise of sampled IQ, and it
/// must in any case match whatever generated the delays.
pub const SPEED_OF_LIGHT_M_S: f64 = 299_792_458.0;

/// A point on the WGS84 ellipsoid (height ignored), degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    /// Latitude, degrees north.
    pub lat_deg: f64,
    /// Longitude, degrees east.
    pub lon_deg: f64,
}

impl GeoPoint {
    /// A point from latitude and longitude in degrees.
    pub fn new(lat_deg: f64, lon_deg: f64) -> Self {
        Self { lat_deg, lon_deg }
    }

    /// Earth-centred Earth-fixed coordinates, m.
    pub fn to_ecef(self) -> [f64; 3] {
        let (lat, lon) = (self.lat_deg.to_radians(), self.lon_deg.to_radians());
        let n = WGS84_A / (1.0 - WGS84_E2 * lat.sin().powi(2)).sqrt();
        [
            n * lat.cos() * lon.cos(),
            n * lat.cos() * lon.sin(),
            n * (1.0 - WGS84_E2) * lat.sin(),
        ]
    }

    /// Straight-line (chord) distance to `other`, m: the distance a radio wave travels between
    /// two antennas at ground level in line of sight.
    pub fn distance_m(self, other: GeoPoint) -> f64 {
        let (a, b) = (self.to_ecef(), other.to_ecef());
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
    }

    /// Whether both coordinates are finite and in range.
    pub fn is_valid(self) -> bool {
        self.lat_deg.is_finite()
            && self.lon_deg.is_finite()
            && (-90.0..=90.0).contains(&self.lat_deg)
            && (-180.0..=180.0).contains(&self.lon_deg)
    }
}

/// A local tangent plane (East, North in metres) around an origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalFrame {
    origin: GeoPoint,
    origin_ecef: [f64; 3],
    east: [f64; 3],
    north: [f64; 3],
}

impl LocalFrame {
    /// The tangent plane at `origin`.
    pub fn new(origin: GeoPoint) -> Self {
        let (lat, lon) = (origin.lat_deg.to_radians(), origin.lon_deg.to_radians());
        Self {
            origin,
            origin_ecef: origin.to_ecef(),
            east: [-lon.sin(), lon.cos(), 0.0],
            north: [-lat.sin() * lon.cos(), -lat.sin() * lon.sin(), lat.cos()],
        }
    }

    /// The plane's origin.
    pub fn origin(&self) -> GeoPoint {
        self.origin
    }

    /// East and North coordinates of `point`, m.
    pub fn to_enu(&self, point: GeoPoint) -> [f64; 2] {
        let p = point.to_ecef();
        let d = [
            p[0] - self.origin_ecef[0],
            p[1] - self.origin_ecef[1],
            p[2] - self.origin_ecef[2],
        ];
        [dot(d, self.east), dot(d, self.north)]
    }

    /// The ground point whose plane coordinates are `enu` (the inverse of [`Self::to_enu`]),
    /// found by Newton iteration to well under a millimetre.
    pub fn to_geo(&self, enu: [f64; 2]) -> GeoPoint {
        // Metres per degree at the origin seed the iteration and scale its steps.
        let lat0 = self.origin.lat_deg.to_radians();
        let m_per_deg_lat = WGS84_A * (1.0 - WGS84_E2) / (1.0 - WGS84_E2 * lat0.sin().powi(2)).powf(1.5)
            * std::f64::consts::PI
            / 180.0;
        let m_per_deg_lon =
            (WGS84_A / (1.0 - WGS84_E2 * lat0.sin().powi(2)).sqrt() * lat0.cos() * std::f64::consts::PI
                / 180.0)
                .max(1e-6);
        let mut guess = GeoPoint::new(
            self.origin.lat_deg + enu[1] / m_per_deg_lat,
            self.origin.lon_deg + enu[0] / m_per_deg_lon,
        );
        for _ in 0..8 {
            let got = self.to_enu(guess);
            let (de, dn) = (enu[0] - got[0], enu[1] - got[1]);
            guess.lat_deg += dn / m_per_deg_lat;
            guess.lon_deg += de / m_per_deg_lon;
            if de.abs() < 1e-4 && dn.abs() < 1e-4 {
                break;
            }
        }
        guess
    }

    /// The point `distance_m` from the origin along `bearing_deg` (clockwise from North),
    /// measured in the plane.
    pub fn offset(&self, bearing_deg: f64, distance_m: f64) -> GeoPoint {
        let b = bearing_deg.to_radians();
        self.to_geo([distance_m * b.sin(), distance_m * b.cos()])
    }
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enu_round_trip_is_exact_to_a_millimetre_over_200_km() {
        let frame = LocalFrame::new(GeoPoint::new(48.85, 2.35));
        for &(e, n) in &[(0.0, 0.0), (1000.0, -2500.0), (150e3, 120e3), (-200e3, 30e3)] {
            let back = frame.to_enu(frame.to_geo([e, n]));
            assert!(
                (back[0] - e).abs() < 1e-3 && (back[1] - n).abs() < 1e-3,
                "{e},{n} -> {back:?}"
            );
        }
    }

    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        let d = GeoPoint::new(45.0, 7.0).distance_m(GeoPoint::new(46.0, 7.0));
        // WGS84 meridian arc for 45..46 deg N is 111.15 km; the chord is 0.3 m shorter.
        assert!((d - 111_151.0).abs() < 20.0, "{d}");
    }

    #[test]
    fn plane_distance_matches_chord_distance_regionally() {
        let frame = LocalFrame::new(GeoPoint::new(-33.9, 18.4));
        let (a, b) = (frame.offset(30.0, 12_000.0), frame.offset(250.0, 9_000.0));
        let (pa, pb) = (frame.to_enu(a), frame.to_enu(b));
        let plane = ((pa[0] - pb[0]).powi(2) + (pa[1] - pb[1]).powi(2)).sqrt();
        assert!(
            (plane - a.distance_m(b)).abs() < 0.5,
            "{plane} vs {}",
            a.distance_m(b)
        );
    }
}
