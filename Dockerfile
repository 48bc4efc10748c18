# pushd: a static, CGO-free binary (SQLite is pure Go) on a distroless base,
# running as a non-root user. State lives in two volumes: /data (the SQLite
# database, unless PUSHD_DATABASE_URL points at PostgreSQL) and /kubeconfigs.
#
# It serves HTTPS on 8443 with the certificate mounted at /tls (tls.crt,
# tls.key; a Kubernetes TLS Secret has this shape), re-read when renewed.
# Without one it refuses to start. Behind a TLS-terminating proxy instead,
# set PUSHD_TLS_CERT_FILE= PUSHD_TLS_KEY_FILE= (empty) and
# PUSHD_TRUSTED_PROXIES=<proxy CIDRs>.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/vworkspace/pushd/cmd/pushd/app.Version=${VERSION}" \
      -o /out/pushd ./cmd/pushd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pushd /usr/local/bin/pushd
ENV PUSHD_LISTEN=0.0.0.0:8443 \
    PUSHD_TLS_CERT_FILE=/tls/tls.crt \
    PUSHD_TLS_KEY_FILE=/tls/tls.key \
    PUSHD_DATABASE_URL=sqlite:///data/pushd.db \
    PUSHD_KUBECONFIG_DIR=/kubeconfigs
VOLUME ["/data", "/kubeconfigs"]
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/pushd"]
CMD ["serve"]
