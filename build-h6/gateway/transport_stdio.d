build-h6/gateway/transport_stdio.o: gateway/transport_stdio.c \
 gateway/transport.h gateway/../common/err.h gateway/server.h \
 gateway/config.h gateway/../common/secret.h gateway/../common/err.h \
 gateway/registry.h gateway/../common/adapter.h gateway/../common/mcp.h \
 gateway/../common/schema.h gateway/session.h gateway/../common/buf.h \
 gateway/../common/json.h gateway/../common/jsonrpc.h \
 gateway/../common/log.h
gateway/transport.h:
gateway/../common/err.h:
gateway/server.h:
gateway/config.h:
gateway/../common/secret.h:
gateway/../common/err.h:
gateway/registry.h:
gateway/../common/adapter.h:
gateway/../common/mcp.h:
gateway/../common/schema.h:
gateway/session.h:
gateway/../common/buf.h:
gateway/../common/json.h:
gateway/../common/jsonrpc.h:
gateway/../common/log.h:
