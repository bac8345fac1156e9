build-h6/common/mcp.o: common/mcp.c common/mcp.h
common/mcp.h:
