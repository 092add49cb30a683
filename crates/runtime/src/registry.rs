//! The connector registry with plugins: built-in factories plus the plugins
//! of `plugins_dir`, and loading a configuration into built connectors.

use std::sync::Arc;

use relance_config::{ConfigError, ConfigErrors, Settings};
use relance_connector::{BuiltConnector, ConnectorFactory, Registry, build_all};

/// This registry plus the plugins of `settings.plugins_dir`; a plugin
/// that cannot be loaded is a configuration error naming its file.
pub fn with_plugins(registry: &Registry, settings: &Settings) -> (Registry, Vec<ConfigError>) {
    let mut factories = registry.factories().to_vec();
    let mut errors = Vec::new();
    if let Some(dir) = &settings.plugins_dir {
        let (plugins, failed) = relance_plugin_host::load_dir(dir);
        for p in plugins {
            let factory = relance_plugin_host::PluginFactory::new(p.clone());
            if factories.iter().any(|f| f.kind() == factory.kind()) {
                errors.push(ConfigError::new(
                    &p.file,
                    None,
                    format!("a connector kind `{}` is already loaded", factory.kind()),
                ));
                continue;
            }
            tracing::info!(plugin = %p.name, version = %p.version, file = %p.file.display(), "plugin loaded");
            factories.push(Arc::new(factory));
        }
        errors.extend(failed.into_iter().map(|e| ConfigError::new(&e.file, None, e.message)));
    }
    (Registry::new(factories), errors)
}

/// Loads the configuration and builds every connector, reporting every
/// problem of either step together.
pub fn load_and_build(
    path: &std::path::Path,
    env: &[(String, String)],
    registry: &Registry,
) -> Result<(Settings, Vec<BuiltConnector>), ConfigErrors> {
    let (settings, mut errors) = Settings::load_partial(path, env)?;
    crate::reminders::handoff::set_data_dir(settings.data_dir.clone());
    let (registry, mut plugin_errors) = with_plugins(registry, &settings);
    errors.append(&mut plugin_errors);
    match build_all(&settings.tenants, &registry) {
        Ok(built) if errors.is_empty() => Ok((settings, built)),
        Ok(_) => Err(ConfigErrors(errors)),
        Err(mut more) => {
            errors.append(&mut more);
            Err(ConfigErrors(errors))
        }
    }
}
