//! Fusion of per-frame detections from many receivers into signals with stable ids.
