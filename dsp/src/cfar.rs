//! CFAR threshold from the statistics of the averaged periodogram.
