build-h6/gateway/session.o: gateway/session.c gateway/session.h \
 gateway/../common/err.h gateway/../common/json.h gateway/../common/err.h \
 gateway/../common/mcp.h gateway/../common/util.h
gateway/session.h:
gateway/../common/err.h:
gateway/../common/json.h:
gateway/../common/err.h:
gateway/../common/mcp.h:
gateway/../common/util.h:
