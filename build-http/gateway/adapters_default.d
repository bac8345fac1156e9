build-http/gateway/adapters_default.o: gateway/adapters_default.c \
 gateway/adapters.h gateway/../common/adapter.h gateway/../common/err.h \
 gateway/../common/mcp.h gateway/registry.h gateway/../common/err.h \
 gateway/../common/schema.h
gateway/adapters.h:
gateway/../common/adapter.h:
gateway/../common/err.h:
gateway/../common/mcp.h:
gateway/registry.h:
gateway/../common/err.h:
gateway/../common/schema.h:
