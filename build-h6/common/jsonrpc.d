build-h6/common/jsonrpc.o: common/jsonrpc.c common/jsonrpc.h
common/jsonrpc.h:
