# pushd: a static, CGO-free binary (SQLite is pure Go) on a distroless base,
# running as a non-root user. State lives in two volumes: /data (the SQLite
# database, unless PUSHD_DATABASE_URL points at PostgreSQL) and /kubeconfigs.
# Both are prepared here, owned by that user and owner-only: a VOLUME the
# image does not already hold is created by the engine as root, 0755, and the
# process could not write it. A fresh named volume takes this ownership.
#
# It serves HTTPS on 8443 with the certificate mounted at /tls (tls.crt,
# tls.key; a Kubernetes TLS Secret has this shape), re-read when renewed.
# Without one it refuses to start. Behind a TLS-terminating proxy instead,
# set PUSHD_TLS_CERT_FILE= PUSHD_TLS_KEY_FILE= (empty) and
# PUSHD_TRUSTED_PROXIES=<proxy CIDRs>.
#
# deploy/image_test.go builds and runs this file's instructions without a
# Docker engine; keep to the instructions it interprets.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/vworkspace/pushd/cmd/pushd/app.Version=${VERSION}" \
      -o /out/pushd ./cmd/pushd
RUN mkdir -p /out/rootfs/data /out/rootfs/kubeconfigs && \
    chmod 0700 /out/rootfs/data /out/rootfs/kubeconfigs

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pushd /usr/local/bin/pushd
COPY --from=build --chown=65532:65532 /out/rootfs/ /
ENV PUSHD_LISTEN=0.0.0.0:8443 \
    PUSHD_TLS_CERT_FILE=/tls/tls.crt \
    PUSHD_TLS_KEY_FILE=/tls/tls.key \
    PUSHD_DATABASE_URL=sqlite:///data/pushd.db \
    PUSHD_KUBECONFIG_DIR=/kubeconfigs
VOLUME ["/data", "/kubeconfigs"]
USER 65532:65532
EXPOSE 8443
# No shell or curl in the image: the binary asks its own /healthz.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/pushd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pushd"]
CMD ["serve"]
