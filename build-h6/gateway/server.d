build-h6/gateway/server.o: gateway/server.c gateway/server.h \
 gateway/config.h gateway/../common/err.h gateway/../common/secret.h \
 gateway/../common/err.h gateway/registry.h gateway/../common/adapter.h \
 gateway/../common/mcp.h gateway/../common/schema.h gateway/session.h \
 gateway/../common/audit.h gateway/../common/jsonrpc.h \
 gateway/../common/log.h gateway/../common/mcp.h gateway/../common/util.h \
 gateway/policy.h
gateway/server.h:
gateway/config.h:
gateway/../common/err.h:
gateway/../common/secret.h:
gateway/../common/err.h:
gateway/registry.h:
gateway/../common/adapter.h:
gateway/../common/mcp.h:
gateway/../common/schema.h:
gateway/session.h:
gateway/../common/audit.h:
gateway/../common/jsonrpc.h:
gateway/../common/log.h:
gateway/../common/mcp.h:
gateway/../common/util.h:
gateway/policy.h:
