build-h6/gateway/registry.o: gateway/registry.c gateway/registry.h \
 gateway/../common/adapter.h gateway/../common/err.h \
 gateway/../common/mcp.h gateway/../common/err.h \
 gateway/../common/schema.h gateway/../common/json.h \
 gateway/../common/log.h gateway/../common/util.h
gateway/registry.h:
gateway/../common/adapter.h:
gateway/../common/err.h:
gateway/../common/mcp.h:
gateway/../common/err.h:
gateway/../common/schema.h:
gateway/../common/json.h:
gateway/../common/log.h:
gateway/../common/util.h:
