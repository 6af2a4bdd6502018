//! The simulated scene: receivers and transmitters on a map, with true propagation.
