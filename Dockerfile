# syntax=docker/dockerfile:1
# sdrhub with local SDR hardware support (SoapySDR), in two stages: a Rust toolchain builds
# the binary, and a slim Debian of the same release (same glibc) runs it with only the
# SoapySDR library and device modules. docker-compose.yml builds it; see
# docs/deployment.md. tests/deploy.rs checks the structure of this file.

# Builder and runtime come from the same Debian release: the binary links the builder's glibc
# and libSoapySDR, which the runtime must provide in the same versions.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsoapysdr-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole workspace (.dockerignore keeps target/, .git and node_modules out): Cargo checks
# every declared test and bench target exists even when building only the binary.
COPY . .
# The registry and target/ are cache mounts, so a rebuild after a source change recompiles
# only sdrhub's own crates. The image keeps symbols for readable panics but no debug info.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo build --release --locked --features soapy --bin sdrhub \
 && install -m 0755 target/release/sdrhub /usr/local/bin/sdrhub

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# libSoapySDR, the device modules of the common USB receivers (add others, or
# soapysdr-module-all, here) and SoapySDRUtil to check a device from inside the container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libsoapysdr0.8 \
      soapysdr-tools \
      soapysdr-module-rtlsdr \
      soapysdr-module-airspy \
      soapysdr-module-hackrf \
 && rm -rf /var/lib/apt/lists/*
# A system user; in plugdev (gid 46 on Debian and Ubuntu hosts) so the udev rules that give
# that group the USB receivers apply inside the container too.
RUN useradd --system --uid 10001 --user-group --groups plugdev \
      --home-dir /var/lib/sdrhub --shell /usr/sbin/nologin sdrhub \
 && mkdir -p /etc/sdrhub /var/lib/sdrhub/recordings \
 && chown -R sdrhub:sdrhub /var/lib/sdrhub
COPY --from=build /usr/local/bin/sdrhub /usr/local/bin/sdrhub
COPY --chmod=0755 deploy/healthcheck.sh /usr/local/bin/sdrhub-healthcheck
# The default configuration (the simulated scene, listening on 0.0.0.0:8080); docker-compose.yml
# mounts deploy/sdrhub.toml over it.
COPY deploy/sdrhub.toml /etc/sdrhub/sdrhub.toml
ENV SDRHUB_CONFIG=/etc/sdrhub/sdrhub.toml

USER sdrhub
# `sdrhub record --out recordings/NAME` lands in the recordings volume.
WORKDIR /var/lib/sdrhub
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["sdrhub-healthcheck"]
# SIGTERM (docker stop) drains gracefully: clients get close 1001 and the process exits 0.
ENTRYPOINT ["sdrhub"]
CMD ["serve"]
