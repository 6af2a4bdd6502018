//! Why a scene cannot be built.

use std::fmt;

/// One invalid configuration value: the key it lives at and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Full key, e.g. `simulation.transmitters[2].frequency_hz`.
    pub key: String,
    /// What is wrong and what is allowed, e.g. `must be > 0 (got -1)`.
    pub message: String,
}

impl ConfigProblem {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.message)
    }
}

/// Why [`crate::sim::Scene::new`] refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SceneError {
    /// Values that parse but cannot work; every problem names its key.
    #[error("invalid simulation config: {}", join(.0))]
    Invalid(Vec<ConfigProblem>),
}

impl SceneError {
    /// The individual problems.
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            SceneError::Invalid(problems) => problems,
        }
    }
}

fn join(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
