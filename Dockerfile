# Builds the two images Switchboard ships, from one build stage:
#   docker build --target operator -t ghcr.io/switchboard-dev/switchboard-operator:0.1.0 .
#   docker build --target webhook  -t ghcr.io/switchboard-dev/switchboard-webhook:0.1.0 .
# (and --target cli for the switchboard command). The runtime images are distroless: no
# shell, no package manager, running as the non-root user 65532, as the Helm chart expects.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        -p switchboard-operator -p switchboard-webhook -p switchboard \
    && mkdir -p /out \
    && cp target/release/switchboard-operator target/release/switchboard-webhook \
          target/release/switchboard /out/

# glibc and CA certificates (Twilio's API over TLS), nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
USER 65532:65532

FROM runtime AS operator
COPY --from=build /out/switchboard-operator /usr/local/bin/switchboard-operator
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/switchboard-operator"]

FROM runtime AS cli
COPY --from=build /out/switchboard /usr/local/bin/switchboard
ENTRYPOINT ["/usr/local/bin/switchboard"]

FROM runtime AS webhook
COPY --from=build /out/switchboard-webhook /usr/local/bin/switchboard-webhook
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/switchboard-webhook"]
