# agent_execution_exporter (and the platform simulator) on Debian 12.
# The build steps live in packaging/build.sh, which CI runs as well.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN packaging/build.sh build-deps \
 && BUILD_DIR=/tmp/build packaging/build.sh compile /opt/agent-exporter

FROM debian:12-slim
COPY packaging/build.sh /usr/local/share/agent-exporter/build.sh
RUN /usr/local/share/agent-exporter/build.sh runtime-deps \
 && useradd --system --no-create-home --shell /usr/sbin/nologin exporter
COPY --from=build /opt/agent-exporter/bin/ /usr/local/bin/
COPY schema/ /usr/local/share/agent-exporter/schema/
USER exporter
EXPOSE 9477
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9477/healthz >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/agent_execution_exporter"]
CMD ["--web.listen-address=:9477"]
