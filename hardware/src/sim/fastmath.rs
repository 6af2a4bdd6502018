//! Fast phase arithmetic for signal generation: phases are carried in cycles (not radians) so
//! that reducing them modulo one is exact in f64, and only the reduced fraction goes to f32.

use num_complex::Complex32;

/// 1.5 * 2^52: adding and subtracting it rounds an f64 of magnitude below 2^51 to the nearest
/// integer with plain SSE2 arithmetic, where `f64::round` would be a libm call.
const ROUND_F64: f64 = 6_755_399_441_055_744.0;
/// 1.5 * 2^23: the same trick for f32 values below 2^22.
const ROUND_F32: f32 = 12_582_912.0;

/// `x` minus the nearest integer, in [-0.5, 0.5], for |x| < 2^51.
#[inline(always)]
pub(crate) fn wrap_cycles(x: f64) -> f64 {
    x - ((x + ROUND_F64) - ROUND_F64)
}

/// Quarter-turn rotations: exp(j k pi / 2) for k = 0..4.
const QUARTER_TURNS: [(f32, f32); 4] = [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)];

/// exp(j 2 pi x), with `x` in cycles (|x| < 2^51). Absolute error below 3e-7: the argument is
/// reduced exactly in f64, then to an eighth of a turn, where degree-9/8 Taylor polynomials are
/// accurate to f32 precision.
#[inline(always)]
pub(crate) fn cis_cycles(x: f64) -> Complex32 {
    let r = wrap_cycles(x) as f32;
    let q = (r * 4.0 + ROUND_F32) - ROUND_F32;
    let y = (r - q * 0.25) * std::f32::consts::TAU;
    let y2 = y * y;
    let s =
        y * (1.0 + y2 * (-1.0 / 6.0 + y2 * (1.0 / 120.0 + y2 * (-1.0 / 5040.0 + y2 * (1.0 / 362_880.0)))));
    let c = 1.0 + y2 * (-0.5 + y2 * (1.0 / 24.0 + y2 * (-1.0 / 720.0 + y2 * (1.0 / 40_320.0))));
    let (tr, ti) = QUARTER_TURNS[(q as i32 & 3) as usize];
    Complex32::new(c * tr - s * ti, c * ti + s * tr)
}

/// The fractional part, in [-0.5, 0.5], of `nu * n`, accurate to about 1e-11 cycles for any `n`
/// with |nu| <= 1: a direct f64 product loses whole cycles once `nu * n` passes 2^53 and a
/// useful fraction long before. `n` is split into 24-bit limbs; `nu * 2^k` is exact, so each
/// limb's product is small before it is reduced.
pub(crate) fn frac_product(nu: f64, n: u64) -> f64 {
    let lo = (n & 0xFF_FFFF) as f64;
    let mid = ((n >> 24) & 0xFF_FFFF) as f64;
    let hi = (n >> 48) as f64;
    let nu24 = wrap_cycles(nu * 16_777_216.0);
    let nu48 = wrap_cycles(nu * 281_474_976_710_656.0);
    wrap_cycles(wrap_cycles(nu * lo) + wrap_cycles(nu24 * mid) + wrap_cycles(nu48 * hi))
}

/// A 64-bit mixing function (the SplitMix64 finalizer): consecutive inputs give independent-
/// looking outputs, so it turns (seed, index...) tuples into random bits without state.
#[inline]
pub(crate) fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a sequence of words into one (order matters).
pub(crate) fn hash_words(words: &[u64]) -> u64 {
    words.iter().fold(0x5DEE_CE66_D1CE_4E5B, |h, &w| mix64(h ^ w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cis_cycles_matches_std_sin_cos_to_3e_7() {
        let mut worst = 0.0f64;
        for i in 0..200_000u32 {
            let x = (i as f64 - 100_000.0) * 0.000_173_1 + 1e6 * (i % 3) as f64;
            let got = cis_cycles(x);
            let (s, c) = (x * std::f64::consts::TAU).sin_cos();
            worst = worst
                .max((got.re as f64 - c).abs())
                .max((got.im as f64 - s).abs());
        }
        assert!(worst < 3e-7, "worst error {worst}");
    }

    #[test]
    fn frac_product_is_exact_where_a_plain_product_is_not() {
        // nu * n with n = 3 * 2^50 + 12345: exact in rationals for nu = 1/1024 + 1/2^30.
        let nu = 1.0 / 1024.0 + 1.0 / (1u64 << 30) as f64;
        let n = 3 * (1u64 << 50) + 12_345;
        // 3*2^40 + 3*2^20 (integers) + 12345/1024 + 12345/2^30.
        let want = wrap_cycles(12_345.0 / 1024.0 + 12_345.0 / (1u64 << 30) as f64);
        assert!((frac_product(nu, n) - want).abs() < 1e-12);
        // Small n agrees with the direct product.
        assert!((frac_product(0.123_456_789, 1000) - wrap_cycles(123.456_789)).abs() < 1e-12);
    }
}
