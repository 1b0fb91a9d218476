//! Generates the Rust types from the `.proto` files: they are the one source
//! of truth for the control-plane ↔ filter contract and the admin API.

fn main() -> std::io::Result<()> {
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(std::io::Error::other)?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_with_config(
            config,
            &[
                "kubeplex/filter/v1/filter_config.proto",
                "kubeplex/admin/v1/admin.proto",
            ],
            &["."],
        )
}
