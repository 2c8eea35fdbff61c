# syntax=docker/dockerfile:1
#
# The secrets-sync image: one static binary on an empty (scratch) base.
#
#   docker build -t secrets-sync \
#     --build-arg VERSION=1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#
# Layout of the final image:
#   /app/secrets-sync                   the binary (ENTRYPOINT)
#   /etc/ssl/certs/ca-certificates.crt  the CA bundle of the build image, for https:// servers
#   /tmp                                mode 1777, for the default status file
# It runs as 65534:65534 (nobody:nogroup). There is no shell, so the
# healthcheck calls the binary itself.

# GO_VERSION must match the go line of go.mod (packaging_test.go checks it).
ARG GO_VERSION=1.26

# BINARY_SOURCE chooses where /app/secrets-sync comes from:
#   build     compile it here from the source in the build context (the default);
#   prebuilt  copy $TARGETPLATFORM/secrets-sync from the build context, the
#             layout that GoReleaser's dockers_v2 gives it (.goreleaser.yaml).
# BuildKit builds only the stages the final image needs, so a prebuilt build
# never compiles.
ARG BINARY_SOURCE=build

# The compiler runs on the build machine's own platform and cross-compiles,
# so a multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
# -s -w drop the symbol table and DWARF data, which a scratch image has no
# debugger for. The -X names are the variables in cmd/version.go.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w \
        -X github.com/secrets-sync/secrets-sync/cmd.version=${VERSION} \
        -X github.com/secrets-sync/secrets-sync/cmd.commit=${COMMIT} \
        -X github.com/secrets-sync/secrets-sync/cmd.date=${DATE}" \
      -o /rootfs/app/secrets-sync . \
 && mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && chmod 1777 /rootfs/tmp

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS prebuilt
ARG TARGETPLATFORM
COPY ${TARGETPLATFORM}/secrets-sync /rootfs/app/secrets-sync
RUN chmod 0755 /rootfs/app/secrets-sync \
 && mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && chmod 1777 /rootfs/tmp

FROM ${BINARY_SOURCE} AS rootfs

FROM scratch
# NOTE: /tmp keeps mode 1777 only if COPY --from keeps the mode of
# /rootfs/tmp. packaging_test.go tests this layout in a chroot, but no test
# builds the image itself.
COPY --from=rootfs /rootfs/ /
USER 65534:65534
# watch keeps the files fresh and is what the healthcheck below judges. An
# init container or a pre-start step passes "sync --once" instead.
ENTRYPOINT ["/app/secrets-sync"]
CMD ["watch"]
# isready reads the status file that watch writes ($TMPDIR/secrets-sync.status.json,
# so /tmp here, or --status-file / STATUS_FILE), and exits 0 once every secret
# has been synced.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/app/secrets-sync", "isready"]
