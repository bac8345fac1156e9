build-h6/tests/adapters/testkit.o: tests/adapters/testkit.c \
 tests/adapters/testkit.h tests/adapters/../../common/adapter.h \
 tests/adapters/../../common/err.h tests/adapters/../../common/mcp.h \
 tests/adapters/../../common/util.h
tests/adapters/testkit.h:
tests/adapters/../../common/adapter.h:
tests/adapters/../../common/err.h:
tests/adapters/../../common/mcp.h:
tests/adapters/../../common/util.h:
