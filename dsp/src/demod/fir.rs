//! A decimating FIR filter over interleaved samples: real (one float per sample) or complex
//! (re, im pairs) data through real taps.
//!
//! Only every `factor`-th output is computed, so a decimate-by-M stage costs N / M multiply-adds
//! per input sample. The taps are stored in window order (oldest sample first), each repeated
//! once per float of a sample, so that one output is a plain dot product of two float slices
//! whatever the width; the even lanes then hold the real part and the odd lanes the imaginary
//! part. The dot product keeps [`LANES`] partial sums, which the compiler turns into SIMD
//! registers (AVX2 with fused multiply-adds when the CPU has them, picked at run time as in
//! [`crate::spectrum`]).
//!
//! Output k is taken with input sample k * factor as the newest of its window, counting from
//! the first sample ever pushed (earlier history is zero), so it represents the input at
//! k * factor - (N - 1) / 2: the group delay is (N - 1) / 2 input samples. Nothing depends on
//! how the input is split into blocks.

/// Partial sums kept by [`dot`]: 32 floats is four AVX2 (eight SSE) registers, enough
/// independent additions to hide the add latency. Taps are zero-padded to a multiple of it.
pub(super) const LANES: usize = 32;

/// A decimating FIR with its history.
#[derive(Debug, Clone)]
pub(super) struct Fir {
    /// Taps in window order, each repeated `width` times, zero-padded at the old end to a
    /// multiple of [`LANES`] floats.
    taps: Vec<f32>,
    /// Floats per sample: 1 (real) or 2 (complex).
    width: usize,
    factor: usize,
    /// The window's history (the last `window - 1` samples) followed by the unprocessed input.
    buf: Vec<f32>,
    /// Sample index in `buf` of the newest sample of the next output's window.
    next: usize,
    /// Samples per window, padding included.
    window: usize,
    /// (N - 1) / 2 for the unpadded length N.
    delay: f64,
}

impl Fir {
    /// A filter with `taps` (in the usual order: `taps[0]` multiplies the newest sample) over
    /// samples of `width` floats, keeping every `factor`-th output, for blocks of up to
    /// `max_input` samples.
    ///
    /// # Panics
    /// If `taps` is empty, `width` is not 1 or 2, or `factor` is 0.
    pub(super) fn new(taps: &[f64], width: usize, factor: usize, max_input: usize) -> Self {
        assert!(!taps.is_empty(), "no taps");
        assert!(width == 1 || width == 2, "width {width} is not 1 or 2");
        assert!(factor > 0, "decimation factor 0");
        let floats = (taps.len() * width).div_ceil(LANES) * LANES;
        let window = floats / width;
        let mut padded = vec![0.0f32; floats];
        // Newest sample last in the window, so taps[0] goes last.
        for (k, &t) in taps.iter().enumerate() {
            let at = (window - 1 - k) * width;
            padded[at..at + width].fill(t as f32);
        }
        let mut buf = Vec::with_capacity((window - 1 + max_input) * width);
        buf.resize((window - 1) * width, 0.0);
        Self {
            taps: padded,
            width,
            factor,
            buf,
            next: window - 1,
            window,
            delay: (taps.len() - 1) as f64 / 2.0,
        }
    }

    /// Group delay, input samples.
    pub(super) fn delay(&self) -> f64 {
        self.delay
    }

    /// The most outputs one call with `input` samples can produce.
    pub(super) fn max_output(&self, input: usize) -> usize {
        input / self.factor + 1
    }

    /// Filters `input` (interleaved, `width` floats per sample) and appends the outputs to
    /// `out`. Allocates nothing if `input` is at most the `max_input` given to [`Fir::new`]
    /// and `out` has room for [`Fir::max_output`] more samples.
    pub(super) fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        debug_assert_eq!(input.len() % self.width, 0);
        self.buf.extend_from_slice(input);
        let samples = self.buf.len() / self.width;
        self.next = run(&self.taps, self.width, self.factor, &self.buf, self.next, out);
        // Keep what the next window needs (or all of it, if the next output lies beyond it).
        let keep_from = (self.next + 1 - self.window).min(samples);
        self.buf.drain(..keep_from * self.width);
        self.next -= keep_from;
    }
}

/// Computes the outputs whose window ends at `next`, `next + factor`, ... within `buf`;
/// returns the first index not reached.
fn run(taps: &[f32], width: usize, factor: usize, buf: &[f32], next: usize, out: &mut Vec<f32>) -> usize {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above; the function is otherwise
        // the same safe code as the fallback.
        return unsafe { run_avx2(taps, width, factor, buf, next, out) };
    }
    run_generic::<false>(taps, width, factor, buf, next, out)
}

/// Whether the CPU has AVX2 and FMA (checked once, then cached by the standard library).
#[cfg(target_arch = "x86_64")]
pub(super) fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// [`run`] compiled for AVX2 and FMA (8 lanes instead of the baseline's 4, and one fused
/// multiply-add instead of a multiply and an add).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(
    taps: &[f32],
    width: usize,
    factor: usize,
    buf: &[f32],
    next: usize,
    out: &mut Vec<f32>,
) -> usize {
    run_generic::<true>(taps, width, factor, buf, next, out)
}

#[inline(always)]
fn run_generic<const AVX2: bool>(
    taps: &[f32],
    width: usize,
    factor: usize,
    buf: &[f32],
    mut next: usize,
    out: &mut Vec<f32>,
) -> usize {
    let floats = taps.len();
    let samples = buf.len() / width;
    while next < samples {
        let end = (next + 1) * width;
        let (even, odd) = dot::<AVX2>(taps, &buf[end - floats..end]);
        if width == 2 {
            out.push(even);
            out.push(odd);
        } else {
            out.push(even + odd);
        }
        next += factor;
    }
    next
}

/// The dot product of two equally long slices (a multiple of [`LANES`] floats), split into
/// the sums over even and over odd positions. `AVX2`: use AVX2 and FMA instructions, only for
/// code compiled with those target features (see [`run`]).
///
/// Written with explicit SIMD intrinsics on x86_64: left to itself the compiler vectorises
/// the even/odd split two floats at a time, four times slower.
#[inline(always)]
pub(super) fn dot<const AVX2: bool>(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert!(
        a.len() == b.len() && a.len() % LANES == 0,
        "dot of {} and {} floats",
        a.len(),
        b.len()
    );
    #[cfg(target_arch = "x86_64")]
    {
        if AVX2 {
            // SAFETY: `AVX2` is only set by callers compiled with the avx2 and fma target
            // features, which run only after checking that the CPU has them.
            unsafe { simd::dot_avx2(a, b) }
        } else {
            simd::dot_sse(a, b)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut acc = [0.0f32; LANES];
        for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
            for i in 0..LANES {
                acc[i] += x[i] * y[i];
            }
        }
        let even = acc.iter().step_by(2).sum();
        let odd = acc.iter().skip(1).step_by(2).sum();
        (even, odd)
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::LANES;
    use std::arch::x86_64::*;

    /// [`super::dot`] with four 8-lane AVX2 accumulators and fused multiply-adds.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA. `a` and `b` must be equally long, a multiple of
    /// [`LANES`] floats.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> (f32, f32) {
        let mut acc = [_mm256_setzero_ps(); 4];
        for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
            for (k, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `x` and `y` hold LANES = 32 floats; this reads floats 8k..8k + 8.
                let (xv, yv) = unsafe {
                    (
                        _mm256_loadu_ps(x.as_ptr().add(8 * k)),
                        _mm256_loadu_ps(y.as_ptr().add(8 * k)),
                    )
                };
                *acc = _mm256_fmadd_ps(xv, yv, *acc);
            }
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds the 8 floats stored.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
        (
            (lanes[0] + lanes[4]) + (lanes[2] + lanes[6]),
            (lanes[1] + lanes[5]) + (lanes[3] + lanes[7]),
        )
    }

    /// [`super::dot`] with eight 4-lane SSE accumulators (SSE is part of every x86_64 CPU).
    #[inline(always)]
    pub(super) fn dot_sse(a: &[f32], b: &[f32]) -> (f32, f32) {
        // SAFETY (every block below): SSE is baseline on x86_64; each load reads 4 of the 32
        // floats of `x` or `y`, the store writes the 4 floats of `lanes`.
        let mut acc = [unsafe { _mm_setzero_ps() }; 8];
        for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
            for (k, acc) in acc.iter_mut().enumerate() {
                unsafe {
                    let product = _mm_mul_ps(
                        _mm_loadu_ps(x.as_ptr().add(4 * k)),
                        _mm_loadu_ps(y.as_ptr().add(4 * k)),
                    );
                    *acc = _mm_add_ps(*acc, product);
                }
            }
        }
        let mut lanes = [0.0f32; 4];
        unsafe {
            let half =
                |i: usize| _mm_add_ps(_mm_add_ps(acc[i], acc[i + 1]), _mm_add_ps(acc[i + 2], acc[i + 3]));
            _mm_storeu_ps(lanes.as_mut_ptr(), _mm_add_ps(half(0), half(4)));
        }
        (lanes[0] + lanes[2], lanes[1] + lanes[3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution in f64, every output, no padding.
    fn naive(taps: &[f64], x: &[f64]) -> Vec<f64> {
        (0..x.len())
            .map(|n| {
                (0..taps.len())
                    .filter(|&k| k <= n)
                    .map(|k| taps[k] * x[n - k])
                    .sum()
            })
            .collect()
    }

    /// Both dot-product kernels (SSE, and AVX2 with FMA where the CPU has them) against the
    /// even and odd sums in f64, to 1e-5 of the sum of |products|.
    #[test]
    fn dot_kernels_match_the_direct_sums() {
        let a: Vec<f32> = (0..3 * LANES)
            .map(|k| ((k * 7919) % 97) as f32 / 97.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..3 * LANES)
            .map(|k| ((k * 104_729) % 89) as f32 / 89.0 - 0.5)
            .collect();
        let sum = |parity: usize| -> f64 {
            a.iter()
                .zip(&b)
                .skip(parity)
                .step_by(2)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum()
        };
        let scale: f64 = a.iter().zip(&b).map(|(x, y)| f64::from((x * y).abs())).sum();
        let mut kernels = vec![dot::<false>(&a, &b)];
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            kernels.push(dot::<true>(&a, &b));
        }
        for (even, odd) in kernels {
            assert!(
                (f64::from(even) - sum(0)).abs() < 1e-5 * scale,
                "{even} vs {}",
                sum(0)
            );
            assert!(
                (f64::from(odd) - sum(1)).abs() < 1e-5 * scale,
                "{odd} vs {}",
                sum(1)
            );
        }
    }

    /// Complex and real data through an odd-length filter decimating by 3, fed in uneven
    /// blocks, equal the direct convolution (every third output) to float precision.
    #[test]
    fn matches_direct_convolution_in_any_blocks() {
        let taps: Vec<f64> = (0..37).map(|k| ((k * 7919) % 23) as f64 / 23.0 - 0.4).collect();
        let re: Vec<f64> = (0..500).map(|n| ((n * 31) % 17) as f64 / 17.0 - 0.5).collect();
        let im: Vec<f64> = (0..500).map(|n| ((n * 13) % 11) as f64 / 11.0 - 0.5).collect();
        let (want_re, want_im) = (naive(&taps, &re), naive(&taps, &im));

        let interleaved: Vec<f32> = re
            .iter()
            .zip(&im)
            .flat_map(|(&a, &b)| [a as f32, b as f32])
            .collect();
        let mut complex = Fir::new(&taps, 2, 3, 200);
        let mut real = Fir::new(&taps, 1, 3, 200);
        let (mut out_c, mut out_r) = (Vec::new(), Vec::new());
        let mut start = 0;
        for len in [1usize, 7, 200, 0, 64, 3, 200, 25].iter().cycle() {
            if start >= re.len() {
                break;
            }
            let end = (start + len).min(re.len());
            complex.process(&interleaved[2 * start..2 * end], &mut out_c);
            let block: Vec<f32> = re[start..end].iter().map(|&v| v as f32).collect();
            real.process(&block, &mut out_r);
            start = end;
        }
        assert_eq!(out_r.len(), 500usize.div_ceil(3));
        for (k, n) in (0..500).step_by(3).enumerate() {
            assert!((out_c[2 * k] as f64 - want_re[n]).abs() < 1e-5, "re {n}");
            assert!((out_c[2 * k + 1] as f64 - want_im[n]).abs() < 1e-5, "im {n}");
            assert!((out_r[k] as f64 - want_re[n]).abs() < 1e-5, "real {n}");
        }
    }
}
