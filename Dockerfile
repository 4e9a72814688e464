# The operator image: `otelhouse run` (the Helm chart's Deployment) on distroless.
#
#   docker build -t otelhouse/otelhouse:dev .
#   docker build --build-arg VERSION=0.2.0 --build-arg REVISION=$(git rev-parse HEAD) ...
#
# The release workflow (.github/workflows/release.yaml) builds it for linux/amd64 and linux/arm64
# on every `v*` tag and pushes ghcr.io/<owner>/otelhouse:<version> and :latest.
#
# The binary is built without debug info and stripped (CARGO_PROFILE_RELEASE_DEBUG=0,
# CARGO_PROFILE_RELEASE_STRIP=symbols): Cargo.toml's release profile keeps `debug = 1` for
# profiling the benches, which makes the binary 189 MB instead of 23 MB (x86_64, measured).
# VERSION, REVISION and SOURCE (build args) only set the org.opencontainers.image.* labels.
#
# The binary links glibc (libc, libm, libgcc_s: all in distroless/cc); mimalloc is compiled in,
# TLS is rustls, so nothing else is needed at run time. Build and run stages are both Debian 12
# (bookworm), so the glibc the binary is linked against is the one it runs with.
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# What `cargo build --bin otelhouse` reads: the manifest, the lock file, the sources, and the
# benches (Cargo.toml declares [[bench]] targets, whose files must exist for the manifest to load).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked --bin otelhouse \
    && cp target/release/otelhouse /usr/local/bin/otelhouse

FROM gcr.io/distroless/cc-debian12:nonroot
# After the build stage, so a new version does not rebuild the binary's layer.
ARG VERSION=dev
ARG REVISION=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="otelhouse" \
      org.opencontainers.image.description="Kubernetes operator for an OpenTelemetry-to-ClickHouse log platform" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
COPY --from=build /usr/local/bin/otelhouse /otelhouse
# The chart runs the pod as uid/gid 65532 (distroless "nonroot"); runAsNonRoot needs a numeric USER.
USER 65532:65532
ENTRYPOINT ["/otelhouse"]
