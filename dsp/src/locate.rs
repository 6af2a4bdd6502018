//! Transmitter localization.
//!
//! (Interface fixed by the spine issue; the implementation is filled in by the localization work.)
