# The operator image: `otelhouse run` (the Helm chart's Deployment) on distroless.
#
#   docker build -t otelhouse/otelhouse:dev .
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
    cargo build --release --locked --bin otelhouse \
    && cp target/release/otelhouse /usr/local/bin/otelhouse

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/otelhouse /otelhouse
# The chart runs the pod as uid/gid 65532 (distroless "nonroot"); runAsNonRoot needs a numeric USER.
USER 65532:65532
ENTRYPOINT ["/otelhouse"]
