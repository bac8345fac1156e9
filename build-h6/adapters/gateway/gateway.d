build-h6/adapters/gateway/gateway.o: adapters/gateway/gateway.c \
 adapters/gateway/../../gateway/adapters.h \
 adapters/gateway/../../gateway/../common/adapter.h \
 adapters/gateway/../../gateway/../common/err.h \
 adapters/gateway/../../gateway/../common/mcp.h \
 adapters/gateway/../../gateway/registry.h \
 adapters/gateway/../../gateway/../common/err.h \
 adapters/gateway/../../gateway/../common/schema.h \
 adapters/gateway/../../common/util.h
adapters/gateway/../../gateway/adapters.h:
adapters/gateway/../../gateway/../common/adapter.h:
adapters/gateway/../../gateway/../common/err.h:
adapters/gateway/../../gateway/../common/mcp.h:
adapters/gateway/../../gateway/registry.h:
adapters/gateway/../../gateway/../common/err.h:
adapters/gateway/../../gateway/../common/schema.h:
adapters/gateway/../../common/util.h:
