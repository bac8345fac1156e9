build-http/gateway/main.o: gateway/main.c gateway/../common/audit.h \
 gateway/../common/err.h gateway/../common/log.h gateway/../common/mcp.h \
 gateway/../common/util.h gateway/adapters.h gateway/../common/adapter.h \
 gateway/../common/mcp.h gateway/registry.h gateway/../common/err.h \
 gateway/../common/schema.h gateway/config.h gateway/../common/secret.h \
 gateway/server.h gateway/session.h gateway/transport.h
gateway/../common/audit.h:
gateway/../common/err.h:
gateway/../common/log.h:
gateway/../common/mcp.h:
gateway/../common/util.h:
gateway/adapters.h:
gateway/../common/adapter.h:
gateway/../common/mcp.h:
gateway/registry.h:
gateway/../common/err.h:
gateway/../common/schema.h:
gateway/config.h:
gateway/../common/secret.h:
gateway/server.h:
gateway/session.h:
gateway/transport.h:
