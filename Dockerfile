# media-service, CPU image: libx264 and libvpx in-process; VA-API and QSV
# where a render node is passed (--device /dev/dri/renderD128).
#
#   docker build --build-arg GOPROXY="$(go env GOPROXY)" -t media-service .
#   docker run -p 30006:30006/tcp -p 30006:30006/udp \
#       -e NAT_1TO1_IPS=<host address> -e ADB_SERVER=adb-host:5037 \
#       -e API_TOKENS=backend=<secret> media-service
#
# PORT (HTTP and the API, 30006) and ICE_UDP_MUX_PORT (every session's
# media on one UDP port, the same number by default) are the two ports to
# publish. Behind Docker's port mapping the container's own address is not
# the one viewers reach: set NAT_1TO1_IPS, or run with --network=host.
# The health check runs `media-service healthcheck` (GET /health on PORT).
#
# Dockerfile and Dockerfile.cuda share their stages: below the line that
# ends the ARG defaults the two files are the same text, byte for byte
# (TestDockerfilesShareStages in deploy/image, run by make test, fails when
# they drift). They differ only in BUILD_IMAGE and RUNTIME_IMAGE: Debian
# bookworm here, NVIDIA's CUDA Ubuntu images there. One file with the base
# as a build argument would do as well for builds, but would make
# `docker build -f Dockerfile.cuda` need flags to mean CUDA; Docker has no
# include. The runtime stage names no library package: the build stage
# lists those that own the libraries the binary links
# (deploy/image/runtime-packages.sh), so the same text serves both bases.
# GOPROXY must be passed: the build stage installs the pinned Go from the
# module proxy (third_party/install-deps.sh) and the image names none.
#
# With no Docker engine and no registry (this project's machines), as root:
#   make image        the base made with debootstrap --variant=minbase
#                     bookworm from the mirror apt uses, built with
#                     buildah --isolation chroot (deploy/image/build.sh)
#   make image-test   runs it with podman: version, GET /health, and a
#                     devicesim session to a Pion viewer (deploy/image/test.sh)
# Neither is part of make test (CI): they need root, buildah and podman,
# and take long; see deploy/image/build.sh for the measured times.
ARG BUILD_IMAGE=debian:bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
# ---- shared stages: identical in Dockerfile and Dockerfile.cuda below this line ----
FROM ${BUILD_IMAGE} AS build
ARG GOPROXY
ARG FFMPEG_JOBS
ENV DEBIAN_FRONTEND=noninteractive PATH=/usr/local/go/bin:$PATH \
    GOPROXY=${GOPROXY} GOTOOLCHAIN=local GOFLAGS=-trimpath \
    FFMPEG_CACHE=/opt/media-service
WORKDIR /src
# Dependencies first, so that code changes reuse these layers: the C
# toolchain and FFmpeg's libraries, Go from the module proxy (GOPROXY),
# the pinned FFmpeg (Debian trixie's source package from the mirror in the
# base's apt sources, else the upstream tarball; FFMPEG_TARBALL for an
# offline copy), the Go modules. g++ for libstdc++'s development link,
# which libvpl's pkg-config file names (-lstdc++) and a minimal base lacks.
# A secret "ca-certificates" (the builder's trust store: build.sh passes
# --secret id=ca-certificates,src=/etc/ssl/certs/ca-certificates.crt) is
# trusted for the downloads where a proxy inspects TLS; it is mounted for
# this step only and stays out of the layers. Without it, the base's own.
COPY go.mod go.sum ./
COPY third_party/ third_party/
RUN --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then \
      export CURL_CA_BUNDLE=/run/secrets/ca-certificates SSL_CERT_FILE=/run/secrets/ca-certificates; fi && \
    apt-get update -qq && \
    apt-get install -y -qq --no-install-recommends dpkg-dev ca-certificates g++ >/dev/null && \
    third_party/install-deps.sh build && \
    third_party/build-ffmpeg.sh && \
    go mod download
COPY . .
ARG VERSION=image
# The binaries, then the runtime's Debian packages: those that own the
# shared libraries the binary and the FFmpeg prefix link against, found
# with ldd and dpkg -S, so that the runtime stage names no package version
# (Debian's libvpx7 is Ubuntu's libvpx9).
RUN third_party/with-ffmpeg.sh \
      go build -ldflags "-X main.version=${VERSION}" -o /out/bin/ ./cmd/... && \
    /out/bin/media-service version && \
    deploy/image/runtime-packages.sh /out/bin/media-service /opt/media-service/*/lib/*.so* \
      >/out/runtime-packages && \
    echo "runtime packages: $(cat /out/runtime-packages)"

FROM ${RUNTIME_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive \
    NVIDIA_DRIVER_CAPABILITIES=compute,video,utility \
    PORT=30006
COPY --from=build /out/runtime-packages /usr/local/share/media-service/runtime-packages
# adb: the service talks to an adb server (ADB_SERVER, 127.0.0.1:5037 by
# default); the image carries one for `adb -a nodaemon server` in a
# sidecar container, or point ADB_SERVER at the host's.
RUN apt-get update -qq && \
    apt-get install -y -qq --no-install-recommends ca-certificates adb \
      $(cat /usr/local/share/media-service/runtime-packages) >/dev/null && \
    apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log && \
    useradd --system --uid 10001 --home-dir /var/lib/media-service --create-home media
# The FFmpeg prefix keeps its path: the binary's rpath points there.
COPY --from=build /opt/media-service /opt/media-service
COPY --from=build /out/bin/ /usr/local/bin/
USER media
WORKDIR /var/lib/media-service
# PORT (HTTP, WHEP and the API) and ICE_UDP_MUX_PORT (every session's media
# on one UDP port) are the same number by default.
EXPOSE 30006/tcp 30006/udp
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/media-service", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/media-service"]
CMD ["serve"]
