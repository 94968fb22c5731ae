# agent_execution_exporter (and the platform simulator) on Debian 12.
# The build steps live in packaging/build.sh, which CI runs as well
# (tests/packaging_test.sh); docs/deploy.md.
#   docker build --build-arg REVISION=$(git rev-parse --short=12 HEAD) -t agent-execution-exporter:0.1.0 .
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN packaging/build.sh build-deps \
 && BUILD_DIR=/tmp/build packaging/build.sh compile /opt/agent-exporter

FROM debian:12-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="agent_execution_exporter" \
      org.opencontainers.image.description="Prometheus exporter for an AI-agent execution platform's PostgreSQL tables" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.documentation="README.md, docs/deploy.md in the source tree" \
      org.opencontainers.image.base.name="docker.io/library/debian:12-slim"
COPY packaging/build.sh packaging/healthcheck.sh /usr/local/share/agent-exporter/
# A numeric user, so that Kubernetes' runAsNonRoot can verify it (deploy/kubernetes
# runs it as 65532 too).
RUN /usr/local/share/agent-exporter/build.sh runtime-deps \
 && groupadd --system --gid 65532 exporter \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin exporter
COPY --from=build /opt/agent-exporter/bin/ /usr/local/bin/
COPY schema/ /usr/local/share/agent-exporter/schema/
USER 65532:65532
EXPOSE 9477
# Follows the exporter's own --web.listen-address and --web.config.file (TLS), read from
# its command line; packaging/healthcheck.sh.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/share/agent-exporter/healthcheck.sh"]
ENTRYPOINT ["/usr/local/bin/agent_execution_exporter"]
CMD ["--web.listen-address=:9477"]
