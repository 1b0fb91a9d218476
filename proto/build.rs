//! Generates the Rust types from the `.proto` files: they are the one source
//! of truth for the control-plane ↔ filter contract and the admin API.

/// The audit record is also the access log's JSON line (with the `serde`
/// feature): one definition of its fields.
const AUDIT_RECORD_SERDE: &str = "#[cfg_attr(feature = \"serde\", derive(serde::Serialize, serde::Deserialize), serde(default))]";

fn main() -> std::io::Result<()> {
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(std::io::Error::other)?;
    // Messages only (no tonic code), for the wasm filter.
    let messages_dir =
        std::path::PathBuf::from(std::env::var("OUT_DIR").map_err(std::io::Error::other)?)
            .join("messages");
    std::fs::create_dir_all(&messages_dir)?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(&protoc);
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .type_attribute(".kubeplex.audit.v1.AuditRecord", AUDIT_RECORD_SERDE)
        .out_dir(&messages_dir)
        .compile_with_config(config, &["kubeplex/admin/v1/admin.proto"], &["."])?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .type_attribute(".kubeplex.audit.v1.AuditRecord", AUDIT_RECORD_SERDE)
        .compile_with_config(
            config,
            &[
                "kubeplex/filter/v1/filter_config.proto",
                "kubeplex/audit/v1/audit.proto",
                "kubeplex/admin/v1/admin.proto",
            ],
            &["."],
        )
}
