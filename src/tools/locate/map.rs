//! `--map`: an SVG of the receivers, the hyperbolas, the ellipse, the fix and the truth.

use super::Loaded;
use crate::pipeline::tdoa::TdoaSolution;
use sdrhub_dsp::geo::{GeoPoint, LocalFrame, SPEED_OF_LIGHT_M_S};
use sdrhub_dsp::locate::tdoa::Propagation;
use std::fmt::Write as _;

/// An SVG of the receivers, one hyperbola branch per pair with the reference, the 68 % ellipse
/// and the fix (and the truth when given), in a local East-North plane.
pub(super) fn map_svg(
    best: &TdoaSolution,
    loaded: &[Loaded],
    truth: Option<GeoPoint>,
    propagation: Propagation,
) -> String {
    let fix = &best.fix;
    let frame = LocalFrame::new(fix.position);
    let reference = loaded.iter().find(|l| l.id == best.reference).map(|l| l.position);
    let mut points: Vec<[f64; 2]> = loaded.iter().map(|l| frame.to_enu(l.position)).collect();
    points.push([0.0, 0.0]);
    if let Some(t) = truth {
        points.push(frame.to_enu(t));
    }
    let (mut min_x, mut max_x, mut min_y, mut max_y) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in &points {
        min_x = min_x.min(p[0]);
        max_x = max_x.max(p[0]);
        min_y = min_y.min(p[1]);
        max_y = max_y.max(p[1]);
    }
    let pad = 0.15 * (max_x - min_x).max(max_y - min_y).max(1_000.0);
    let (min_x, max_x, min_y, max_y) = (min_x - pad, max_x + pad, min_y - pad, max_y + pad);
    let size = 800.0;
    let scale = size / (max_x - min_x).max(max_y - min_y);
    let sx = |x: f64| (x - min_x) * scale;
    let sy = |y: f64| size - (y - min_y) * scale;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="#fff"/>"##);
    // Hyperbolas: where the range difference to the reference equals the measured one, traced
    // by evaluating it on a grid and drawing its zero crossings.
    if let Some(reference) = reference {
        let steps = 240;
        let step = (max_x - min_x).max(max_y - min_y) / steps as f64;
        for d in &best.delays {
            let Some(other) = loaded.iter().find(|l| l.id == d.id) else {
                continue;
            };
            let target = d.delay_s * SPEED_OF_LIGHT_M_S;
            let f = |x: f64, y: f64| {
                let p = frame.to_geo([x, y]);
                propagation.distance_m(p, other.position) - propagation.distance_m(p, reference) - target
            };
            let mut path = String::new();
            for i in 0..steps {
                for j in 0..steps {
                    let (x, y) = (min_x + i as f64 * step, min_y + j as f64 * step);
                    let (a, b, c) = (f(x, y), f(x + step, y), f(x, y + step));
                    if a.signum() != b.signum() {
                        let t = a / (a - b);
                        let _ = write!(path, "M{:.1},{:.1}h0.8 ", sx(x + t * step), sy(y));
                    }
                    if a.signum() != c.signum() {
                        let t = a / (a - c);
                        let _ = write!(path, "M{:.1},{:.1}h0.8 ", sx(x), sy(y + t * step));
                    }
                }
            }
            let _ = writeln!(
                svg,
                r##"<path d="{path}" stroke="#3a7bd5" stroke-width="1.6" stroke-linecap="round" fill="none" opacity="0.7"><title>{} - {}: {:.3} us</title></path>"##,
                d.id,
                best.reference,
                d.delay_s * 1e6
            );
        }
    }
    let e = &fix.ellipse;
    let _ = writeln!(
        svg,
        r##"<ellipse cx="{:.1}" cy="{:.1}" rx="{:.1}" ry="{:.1}" transform="rotate({:.2} {:.1} {:.1})" fill="#e4572e" fill-opacity="0.2" stroke="#e4572e"><title>68 % ellipse</title></ellipse>"##,
        sx(0.0),
        sy(0.0),
        (e.semi_major_m * scale).max(1.0),
        (e.semi_minor_m * scale).max(1.0),
        e.orientation_deg - 90.0,
        sx(0.0),
        sy(0.0)
    );
    let _ = writeln!(
        svg,
        r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#e4572e"/><text x="{:.1}" y="{:.1}">fix ({:.0} m)</text>"##,
        sx(0.0),
        sy(0.0),
        sx(0.0) + 6.0,
        sy(0.0) - 6.0,
        fix.uncertainty_m
    );
    if let Some(t) = truth {
        let p = frame.to_enu(t);
        let _ = writeln!(
            svg,
            r##"<path d="M{:.1},{:.1}l6,6m0,-6l-6,6" stroke="#222" stroke-width="2"/><text x="{:.1}" y="{:.1}">truth</text>"##,
            sx(p[0]) - 3.0,
            sy(p[1]) - 3.0,
            sx(p[0]) + 6.0,
            sy(p[1]) + 14.0
        );
    }
    for l in loaded {
        let p = frame.to_enu(l.position);
        let fill = if l.id == best.reference {
            "#2a9d8f"
        } else {
            "#264653"
        };
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="8" height="8" fill="{fill}"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            sx(p[0]) - 4.0,
            sy(p[1]) - 4.0,
            sx(p[0]) + 7.0,
            sy(p[1]) + 4.0,
            l.id
        );
    }
    let _ = writeln!(svg, "</svg>");
    svg
}
