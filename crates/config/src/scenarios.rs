//! Reminder scenarios, read from `<scenarios_dir>/<name>.toml` into the
//! engine's [`Scenario`].

use relance_engine::dunning::Scenario;

use crate::ConfigError;

/// Reads `<dir>/<name>.toml`, naming the file and key of any error.
pub fn load_scenario(dir: &std::path::Path, name: &str) -> Result<Scenario, ConfigError> {
    let file = dir.join(format!("{name}.toml"));
    let built = config::Config::builder()
        .add_source(config::File::from(file.as_path()).format(config::FileFormat::Toml))
        .build()
        .map_err(|e| ConfigError::new(&file, None, e.to_string()))?;
    serde_path_to_error::deserialize(built).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::new(&file, (key != ".").then_some(key.as_str()), e.inner().to_string())
    })
}
