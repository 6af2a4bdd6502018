//! Names of signals from the configuration: the simulated scene's transmitters
//! (`[[simulation.transmitters]]` `name`), each covering its frequency span.
//!
//! Known signals (`/api/v1/known-signals`) name signals too, and win: they are what an operator
//! chose. That happens where reports are labelled (`crate::history::live`), after fusion.

use sdrhub_hardware::sim::SceneConfig;

/// One named frequency span.
#[derive(Debug, Clone, PartialEq)]
struct NamedSpan {
    name: String,
    center_hz: f64,
    half_width_hz: f64,
}

/// The configured transmitters' names by frequency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransmitterNames {
    spans: Vec<NamedSpan>,
}

impl TransmitterNames {
    /// The names of `scene`'s transmitters (a transmitter without a name goes by its id). Each
    /// covers its occupied bandwidth plus `tolerance_hz` each side (the tracker's frequency
    /// tolerance: receivers' tuning errors move what they see by up to that much).
    pub fn from_scene(scene: &SceneConfig, tolerance_hz: f64) -> Self {
        let spans = scene
            .transmitters
            .iter()
            .map(|t| NamedSpan {
                name: if t.name.is_empty() {
                    t.id.clone()
                } else {
                    t.name.clone()
                },
                center_hz: t.frequency_hz,
                half_width_hz: t.bandwidth_hz.max(0.0) / 2.0 + tolerance_hz.max(0.0),
            })
            .collect();
        Self { spans }
    }

    /// The name of the transmitter whose span holds `frequency_hz` (the nearest centre when
    /// spans overlap); `None` when none does.
    pub fn name_for(&self, frequency_hz: f64) -> Option<&str> {
        self.spans
            .iter()
            .filter(|s| (s.center_hz - frequency_hz).abs() <= s.half_width_hz)
            .min_by(|a, b| {
                (a.center_hz - frequency_hz)
                    .abs()
                    .total_cmp(&(b.center_hz - frequency_hz).abs())
            })
            .map(|s| s.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_scene_names_its_transmitters_and_nothing_else() {
        let names = TransmitterNames::from_scene(&SceneConfig::default(), 1_000.0);
        assert_eq!(
            names.name_for(145.35e6 + 3_000.0),
            Some("FM voice (repeater user)")
        );
        assert_eq!(names.name_for(145.1125e6 - 400.0), Some("Interfering carrier"));
        assert_eq!(names.name_for(144.8e6), Some("Data bursts"));
        assert_eq!(names.name_for(145.2e6), None);
        assert_eq!(
            names.name_for(145.1125e6 + 1_500.0),
            None,
            "beyond a carrier's tolerance"
        );
    }
}
