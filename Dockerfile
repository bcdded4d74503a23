# syntax=docker/dockerfile:1
# Tollgate container image.
#   docker build -t tollgate --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run -p 8080:8080 -v tollgate-data:/data tollgate
#
# Final image: distroless static (nonroot). The binary is built with CGO_ENABLED=0, so it
# needs no libc; the image still has CA certificates (HTTPS to the providers), tzdata,
# /etc/passwd with the nonroot user (uid 65532), and nothing else: no shell, no package
# manager, a small attack surface. That is why the container healthcheck is the binary's own
# `tollgate healthcheck` subcommand (no curl/wget here). The SQLite driver must therefore be a
# pure-Go one; switch to debian:bookworm-slim only if a cgo dependency becomes unavoidable.

FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tollgate ./cmd/tollgate \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tollgate /tollgate
# /data owned by nonroot, so that a fresh named volume mounted there is writable.
COPY --from=build --chown=65532:65532 /out/data /data
ENV TOLLGATE_ADDR=:8080 \
    TOLLGATE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/tollgate"]
CMD ["serve"]
