//! Window functions.
//!
//! (Interface fixed by the spine issue; the implementation is filled in by the DSP work.)

/// The supported windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Rectangular (no window).
    Rectangular,
    /// Hann.
    Hann,
    /// 4-term Blackman-Harris (92 dB sidelobes), the default.
    BlackmanHarris,
    /// Flat-top (amplitude-accurate).
    FlatTop,
}
