# pushd: a static, CGO-free binary (SQLite is pure Go) on a distroless base,
# running as a non-root user. State lives in two volumes: /data (the SQLite
# database, unless PUSHD_DATABASE_URL points at PostgreSQL) and /kubeconfigs.
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
ENV PUSHD_LISTEN=0.0.0.0:8080 \
    PUSHD_DATABASE_URL=sqlite:///data/pushd.db \
    PUSHD_KUBECONFIG_DIR=/kubeconfigs
VOLUME ["/data", "/kubeconfigs"]
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/pushd"]
CMD ["serve"]
