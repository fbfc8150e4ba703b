"""Board definitions (TOML), read by the build, provisioning and the simulator."""
