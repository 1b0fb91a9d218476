# Images for docker-compose.yml: `kubeplex` (control plane, demo clusters)
# and `envoy` (Envoy with the kubeplex filter and bootstrap); `agent` for
# clusters behind NAT.
FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-wasip1
WORKDIR /src
COPY . .
RUN cargo build --release -p kubeplex --bin kubeplex \
 && cargo build -p kubeplex-filter --target wasm32-wasip1 --profile wasm

FROM debian:bookworm-slim AS kubeplex
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/kubeplex /usr/local/bin/kubeplex
COPY --from=build /src/target/wasm32-wasip1/wasm/kubeplex_filter.wasm /etc/kubeplex/kubeplex_filter.wasm
ENTRYPOINT ["kubeplex"]

# `kubeplex agent` (deploy/kubernetes/agent): kubeplex and the Envoy it
# supervises in one image (Envoy's binary needs only libc).
FROM debian:bookworm-slim AS agent
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/kubeplex /usr/local/bin/kubeplex
COPY --from=envoyproxy/envoy:v1.40-latest /usr/local/bin/envoy /usr/local/bin/envoy
ENTRYPOINT ["kubeplex"]

FROM envoyproxy/envoy:v1.40-latest AS envoy
COPY --from=build /src/target/wasm32-wasip1/wasm/kubeplex_filter.wasm /etc/kubeplex/kubeplex_filter.wasm
COPY envoy/bootstrap.yaml /etc/kubeplex/bootstrap.yaml
CMD ["envoy", "-c", "/etc/kubeplex/bootstrap.yaml", "--concurrency", "2", "--drain-time-s", "15", "--file-flush-interval-msec", "1000"]
