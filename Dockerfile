# Cortex: cortex-gateway, cortex-orchestrator and cortexctl in one image.
#   docker build -t cortex:0.1.0 .
# The manifests (manifests/) run this image with their own command lines; as is, it starts the
# gateway on /etc/cortex/config/gateway.json. docs/DEPLOY.md.

# Build: Debian 12 with the build packages scripts/deps.sh names; `make install` builds only
# what it installs.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/deps.sh scripts/deps.sh
RUN scripts/deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN make -j"$(nproc)" install DESTDIR=/out PREFIX=/usr/local

# Runtime: Debian 12 slim, the shared libraries the binaries link (tests/integration/deploy.test.mjs
# checks this list against ldd of the built binaries), CA certificates for the backends' TLS,
# and a user of its own.
FROM debian:12-slim
# runtime-packages-begin
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		libmicrohttpd12 libjansson4 libcurl4 libssl3 libyaml-0-2 libssh2-1 libhiredis0.14 \
		ca-certificates \
	&& rm -rf /var/lib/apt/lists/*
# runtime-packages-end
RUN groupadd --system --gid 10001 cortex \
	&& useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
		--shell /usr/sbin/nologin cortex
COPY --from=build /out/usr/local/bin/ /usr/local/bin/
COPY --from=build /out/usr/local/share/doc/cortex/ /usr/local/share/doc/cortex/
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/cortex-gateway"]
CMD ["--config", "/etc/cortex/config/gateway.json"]
