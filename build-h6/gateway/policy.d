build-h6/gateway/policy.o: gateway/policy.c gateway/policy.h \
 gateway/registry.h gateway/../common/adapter.h gateway/../common/err.h \
 gateway/../common/mcp.h gateway/../common/err.h \
 gateway/../common/schema.h gateway/server.h gateway/config.h \
 gateway/../common/secret.h gateway/session.h gateway/../common/util.h
gateway/policy.h:
gateway/registry.h:
gateway/../common/adapter.h:
gateway/../common/err.h:
gateway/../common/mcp.h:
gateway/../common/err.h:
gateway/../common/schema.h:
gateway/server.h:
gateway/config.h:
gateway/../common/secret.h:
gateway/session.h:
gateway/../common/util.h:
