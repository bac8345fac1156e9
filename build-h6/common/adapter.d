build-h6/common/adapter.o: common/adapter.c common/adapter.h common/err.h \
 common/mcp.h common/util.h
common/adapter.h:
common/err.h:
common/mcp.h:
common/util.h:
