//! Noise-floor estimation robust to occupied spectrum.
